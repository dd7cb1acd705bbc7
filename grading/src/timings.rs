//! Each test's expected seconds, which shards are balanced by: from
//! `--timings FILE` (the `results.json` of an earlier grading: each test's
//! mean seconds), else from the points table's `[seconds.<part>]`, else
//! [`DEFAULT_SECONDS`].

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Error;
use crate::parts::Part;
use crate::points::PointsTable;
use crate::report::json;

/// The expected seconds of a test that neither the timing file nor the
/// points table times: about the mean of the official tests.
pub const DEFAULT_SECONDS: f64 = 10.0;

/// Measured seconds per test.
#[derive(Debug, Clone, Default)]
pub struct Timings(BTreeMap<(Part, String), f64>);

impl Timings {
    /// The mean seconds of each test that ran in the grading whose
    /// `results.json` is `file`.
    pub fn load(file: &Path) -> Result<Timings, Error> {
        let grades = json::read(file)?;
        Ok(Timings(
            grades
                .tests
                .iter()
                .filter_map(|t| {
                    let mean = t.mean_time()?.as_secs_f64();
                    (mean > 0.0).then(|| ((t.part, t.name.clone()), mean))
                })
                .collect(),
        ))
    }

    /// The expected seconds of one run of `test` of `part`.
    pub fn expected(&self, table: &PointsTable, part: Part, test: &str) -> f64 {
        self.0
            .get(&(part, test.to_string()))
            .copied()
            .or_else(|| table.expected_seconds(part, test))
            .unwrap_or(DEFAULT_SECONDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grades::tests::sample;

    #[test]
    fn a_timing_file_comes_first_then_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("results.json");
        std::fs::write(&file, json::render(&sample())).unwrap();
        let timings = Timings::load(&file).unwrap();
        let table = PointsTable::parse(
            Path::new("points.toml"),
            "[2A]\ninitial_election = 5\nre_election = 10\nother = 1\nmore = 1\n\
             [seconds.2A]\ninitial_election = 9\nother = 4\n",
        )
        .unwrap();
        assert_eq!(timings.expected(&table, Part::P2A, "initial_election"), 3.0);
        assert_eq!(timings.expected(&table, Part::P2A, "other"), 4.0);
        assert_eq!(timings.expected(&table, Part::P2A, "more"), DEFAULT_SECONDS);
        let missing = Timings::load(&dir.path().join("none.json")).unwrap_err();
        assert!(missing.to_string().contains("none.json"), "{missing}");
    }
}
