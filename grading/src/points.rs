//! The points table (`grading/points.toml`): how many points each test of
//! each part is worth, and the scoring policy.
//!
//! ```toml
//! policy = "all-runs"      # or "proportional"
//!
//! [2A]
//! initial_election = 5
//! re_election = 5
//!
//! [seconds.2A]             # optional: each test's expected seconds, to
//! initial_election = 3.1   # balance shards (see `timings`)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{io_error, Error};
use crate::parts::Part;

/// The points table inside the reference tree.
pub const DEFAULT_TABLE: &str = "grading/points.toml";

/// How a test's runs turn into points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// A test earns its points only if every one of its runs passed.
    #[default]
    AllRuns,
    /// A test earns its points times the fraction of its runs that passed.
    Proportional,
}

impl Policy {
    /// The points earned by `passed` passing runs out of `runs`.
    pub fn score(self, points: u32, passed: u32, runs: u32) -> f64 {
        match self {
            _ if runs == 0 => 0.0,
            Policy::AllRuns if passed == runs => f64::from(points),
            Policy::AllRuns => 0.0,
            Policy::Proportional => f64::from(points) * f64::from(passed) / f64::from(runs),
        }
    }
}

/// A parsed, well-formed points table.
#[derive(Debug)]
pub struct PointsTable {
    file: PathBuf,
    /// How runs turn into points.
    pub policy: Policy,
    parts: BTreeMap<Part, BTreeMap<String, u32>>,
    seconds: BTreeMap<Part, BTreeMap<String, f64>>,
}

/// The section of expected seconds per test: `[seconds.2A]`.
const SECONDS: &str = "seconds";

impl PointsTable {
    /// Reads and checks the table in `file`.
    pub fn load(file: &Path) -> Result<PointsTable, Error> {
        let text = std::fs::read_to_string(file).map_err(io_error(file))?;
        PointsTable::parse(file, &text)
    }

    /// Parses the table `text`, read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<PointsTable, Error> {
        let error = |message: String| Error::Points {
            file: file.to_path_buf(),
            message,
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|span| text[..span.start].lines().count().max(1));
            let message = e.message().trim().replace('\n', "; ");
            error(match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            })
        })?;
        let mut policy = Policy::default();
        let mut parts = BTreeMap::new();
        let mut seconds = BTreeMap::new();
        for (key, value) in table {
            if key == SECONDS {
                seconds = parse_seconds(&value).map_err(error)?;
                continue;
            }
            if key == "policy" {
                policy = match value.as_str() {
                    Some("all-runs") => Policy::AllRuns,
                    Some("proportional") => Policy::Proportional,
                    _ => {
                        return Err(error(format!(
                            "policy = {value} is not a policy (\"all-runs\" or \"proportional\")"
                        )))
                    }
                };
                continue;
            }
            let part: Part = key.parse().map_err(|e| error(format!("[{key}]: {e}")))?;
            let tests = value.as_table().ok_or_else(|| {
                error(format!(
                    "{key} must be a table: [{key}] with `test = points` lines"
                ))
            })?;
            let mut points = BTreeMap::new();
            for (test, value) in tests {
                let worth = value
                    .as_integer()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        error(format!(
                            "[{key}] {test} = {value}: points must be a whole number, 0 or more"
                        ))
                    })?;
                points.insert(test.clone(), worth);
            }
            parts.insert(part, points);
        }
        for (part, tests) in &seconds {
            if let Some(test) = tests
                .keys()
                .find(|t| parts.get(part).is_none_or(|p| !p.contains_key(*t)))
            {
                return Err(error(format!(
                    "[{SECONDS}.{part}] names `{test}`, to which [{part}] gives no points"
                )));
            }
        }
        Ok(PointsTable {
            file: file.to_path_buf(),
            policy,
            parts,
            seconds,
        })
    }

    /// The expected seconds of one run of `test` of `part`, if the table
    /// gives them.
    pub fn expected_seconds(&self, part: Part, test: &str) -> Option<f64> {
        self.seconds.get(&part)?.get(test).copied()
    }

    /// The tests of `part` with their points, as the table names them.
    pub fn tests(&self, part: Part) -> Result<&BTreeMap<String, u32>, Error> {
        self.parts.get(&part).ok_or_else(|| Error::Points {
            file: self.file.clone(),
            message: format!("has no [{part}] section, so part {part} cannot be scored"),
        })
    }

    /// The tests of `part` in the order of `listed` (the tests the part's
    /// binary holds), with their points; an error unless the table names
    /// exactly those tests.
    pub fn match_tests(&self, part: Part, listed: &[String]) -> Result<Vec<(String, u32)>, Error> {
        let table = self.tests(part)?;
        let error = |message: String| Error::Points {
            file: self.file.clone(),
            message,
        };
        if let Some(unknown) = table.keys().find(|t| !listed.contains(t)) {
            return Err(error(format!(
                "[{part}] names test `{unknown}`, which {} does not have (its tests: {})",
                part.target(),
                listed.join(", ")
            )));
        }
        if let Some(missing) = listed.iter().find(|t| !table.contains_key(*t)) {
            return Err(error(format!(
                "[{part}] gives no points to `{missing}`, a test of {}",
                part.target()
            )));
        }
        Ok(listed.iter().map(|t| (t.clone(), table[t])).collect())
    }
}

/// The `[seconds.<part>]` tables: `test = seconds`, a number over 0.
fn parse_seconds(value: &toml::Value) -> Result<BTreeMap<Part, BTreeMap<String, f64>>, String> {
    let shape =
        || format!("{SECONDS} must hold tables: [{SECONDS}.2A] with `test = seconds` lines");
    let mut seconds = BTreeMap::new();
    for (key, tests) in value.as_table().ok_or_else(shape)? {
        let part: Part = key.parse().map_err(|e| format!("[{SECONDS}.{key}]: {e}"))?;
        let mut expected = BTreeMap::new();
        for (test, value) in tests.as_table().ok_or_else(shape)? {
            let number = value
                .as_float()
                .or_else(|| value.as_integer().map(|n| n as f64))
                .filter(|s| s.is_finite() && *s > 0.0)
                .ok_or_else(|| {
                    format!("[{SECONDS}.{key}] {test} = {value}: seconds must be a number over 0")
                })?;
            expected.insert(test.clone(), number);
        }
        seconds.insert(part, expected);
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PointsTable, String> {
        PointsTable::parse(Path::new("points.toml"), text).map_err(|e| e.to_string())
    }

    fn listed(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_parts_tests_and_policy() {
        let table = parse("policy = \"proportional\"\n[2A]\nb = 2\na = 3\n").unwrap();
        assert_eq!(table.policy, Policy::Proportional);
        assert_eq!(
            table.match_tests(Part::P2A, &listed(&["b", "a"])).unwrap(),
            [("b".to_string(), 2), ("a".to_string(), 3)]
        );
        assert_eq!(parse("[2B]\nx = 1\n").unwrap().policy, Policy::AllRuns);
        let timed = parse("[2A]\na = 1\nb = 1\n[seconds.2A]\na = 2.5\nb = 4\n").unwrap();
        assert_eq!(timed.expected_seconds(Part::P2A, "a"), Some(2.5));
        assert_eq!(timed.expected_seconds(Part::P2A, "b"), Some(4.0));
        assert_eq!(timed.expected_seconds(Part::P2B, "a"), None);
    }

    #[test]
    fn bad_tables_are_one_line_errors() {
        for (text, expected) in [
            (
                "[2F]\nx = 1\n",
                "points.toml: [2F]: unknown part `2F` (the parts are 2A, 2B, 2C, 2D, 2E, 3A, 3B, 3C)",
            ),
            (
                "[2A]\nx = -1\n",
                "points.toml: [2A] x = -1: points must be a whole number, 0 or more",
            ),
            (
                "[2A]\nx = \"five\"\n",
                "points.toml: [2A] x = \"five\": points must be a whole number, 0 or more",
            ),
            (
                "2A = 5\n",
                "points.toml: 2A must be a table: [2A] with `test = points` lines",
            ),
            (
                "[2A]\nx = 1\n[seconds.2A]\nx = 0\n",
                "points.toml: [seconds.2A] x = 0: seconds must be a number over 0",
            ),
            (
                "[2A]\nx = 1\n[seconds.2A]\ny = 3\n",
                "points.toml: [seconds.2A] names `y`, to which [2A] gives no points",
            ),
            (
                "seconds = 3\n",
                "points.toml: seconds must hold tables: [seconds.2A] with `test = seconds` lines",
            ),
            (
                "policy = \"best\"\n",
                "points.toml: policy = \"best\" is not a policy (\"all-runs\" or \"proportional\")",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), expected);
        }
        let syntax = parse("[2A]\nx = 1\n[2B\n").unwrap_err();
        assert!(syntax.starts_with("points.toml: line 3: "), "{syntax}");
        assert!(!syntax.contains('\n'), "{syntax}");
    }

    #[test]
    fn the_table_must_match_the_binary() {
        let table = parse("[2A]\na = 1\nghost = 1\n").unwrap();
        assert_eq!(
            table
                .match_tests(Part::P2A, &listed(&["a", "b"]))
                .unwrap_err()
                .to_string(),
            "points.toml: [2A] names test `ghost`, which lab2a does not have (its tests: a, b)"
        );
        let table = parse("[2A]\na = 1\n").unwrap();
        assert_eq!(
            table
                .match_tests(Part::P2A, &listed(&["a", "b"]))
                .unwrap_err()
                .to_string(),
            "points.toml: [2A] gives no points to `b`, a test of lab2a"
        );
        assert_eq!(
            table
                .match_tests(Part::P2B, &listed(&["a"]))
                .unwrap_err()
                .to_string(),
            "points.toml: has no [2B] section, so part 2B cannot be scored"
        );
    }

    #[test]
    fn policies_score_runs() {
        assert_eq!(Policy::AllRuns.score(5, 3, 3), 5.0);
        assert_eq!(Policy::AllRuns.score(5, 2, 3), 0.0);
        assert_eq!(Policy::Proportional.score(6, 2, 3), 4.0);
        assert_eq!(Policy::Proportional.score(6, 0, 0), 0.0);
    }
}
