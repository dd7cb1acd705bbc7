//! The plan of a grading: every unit of work, a run of a test of a
//! submission, in a fixed order with its expected seconds; the plan's
//! identity, which every shard's report records; and the share of it one
//! shard runs.

use std::collections::BTreeMap;

use crate::cli::Cli;
use crate::digest::Digest;
use crate::error::Error;
use crate::parts::Part;
use crate::points::PointsTable;
use crate::shard::{self, Shard};
use crate::timings::Timings;

/// The seconds a shard is expected to spend building a submission before
/// it runs any of its tests (a rebuild of the workspace crates): the cost
/// that keeps a course's submissions whole on one shard.
pub const BUILD_SECONDS: f64 = 30.0;

/// One unit of work: run `run` of `test` of `part` of a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The submission, an index into [`Plan::submissions`].
    pub submission: usize,
    /// The test's part.
    pub part: Part,
    /// The test.
    pub test: String,
    /// The run number, from 1.
    pub run: u32,
    /// Its expected seconds.
    pub seconds: f64,
}

/// Every unit of work of a grading.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The submissions' names (a course's directories, or the one graded).
    pub submissions: Vec<String>,
    /// The work, by submission, part, test (in the points table's order)
    /// and run.
    pub items: Vec<Item>,
    /// The plan's identity: a hash of the work, the points and the settings
    /// that change a verdict.
    pub id: String,
}

/// The runs one shard grades: per submission, part and test, the run
/// numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Share(BTreeMap<(usize, Part, String), Vec<u32>>);

impl Share {
    /// The runs of `test` of `part` of submission `submission` in the share.
    pub fn runs(&self, submission: usize, part: Part, test: &str) -> Vec<u32> {
        self.0
            .get(&(submission, part, test.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the share holds any run of submission `submission`.
    pub fn has(&self, submission: usize) -> bool {
        self.0.keys().any(|(s, _, _)| *s == submission)
    }
}

impl Plan {
    /// The plan for grading `submissions` as `cli` asks, with the points of
    /// `table` and each run's expected seconds from `timings`.
    pub fn new(
        cli: &Cli,
        table: &PointsTable,
        timings: &Timings,
        submissions: Vec<String>,
    ) -> Result<Plan, Error> {
        let mut tests = Vec::new();
        for part in cli.parts() {
            for (name, &points) in table.tests(part)? {
                tests.push((part, name.clone(), points));
            }
        }
        if let Some(unknown) = cli
            .tests
            .iter()
            .find(|n| !tests.iter().any(|(_, name, _)| name == *n))
        {
            return Err(Error::Other(format!(
                "--test {unknown}: no test of that name in the chosen parts"
            )));
        }
        tests.retain(|(_, name, _)| cli.tests.is_empty() || cli.tests.contains(name));
        let mut digest = Digest::default();
        digest.feed(b"raft-labs plan 1").feed(
            format!(
                "policy {:?} runs {} timeout {} memory {} seed {:?}",
                table.policy, cli.runs, cli.timeout, cli.memory_limit, cli.seed
            )
            .as_bytes(),
        );
        let mut items = Vec::new();
        for (submission, name) in submissions.iter().enumerate() {
            digest.feed(name.as_bytes());
            for (part, test, points) in &tests {
                let seconds = timings.expected(table, *part, test);
                digest.feed(format!("{part} {test} {points} {seconds:.3}").as_bytes());
                items.extend((1..=cli.runs).map(|run| Item {
                    submission,
                    part: *part,
                    test: test.clone(),
                    run,
                    seconds,
                }));
            }
        }
        Ok(Plan {
            submissions,
            items,
            id: digest.hex(),
        })
    }

    /// The work `shard` runs (all of it without a shard).
    pub fn share(&self, shard: Option<Shard>) -> Share {
        let pieces: Vec<(usize, f64)> = self
            .items
            .iter()
            .map(|item| (item.submission, item.seconds))
            .collect();
        let shards = match shard {
            Some(shard) => shard::assign(&pieces, shard.count as usize, BUILD_SECONDS),
            None => vec![0; pieces.len()],
        };
        let mine = shard.map_or(0, |s| s.index as usize - 1);
        let mut share = Share::default();
        for (item, _) in self.items.iter().zip(shards).filter(|(_, s)| *s == mine) {
            share
                .0
                .entry((item.submission, item.part, item.test.clone()))
                .or_insert_with(Vec::new)
                .push(item.run);
        }
        share
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    fn table() -> PointsTable {
        PointsTable::parse(
            Path::new("points.toml"),
            "[2A]\na = 1\nb = 2\nc = 3\n[2B]\nd = 4\n[seconds.2A]\na = 2\nb = 20\n",
        )
        .unwrap()
    }

    fn plan(args: &[&str], students: &[&str]) -> Result<Plan, Error> {
        let mut all = vec!["grade", "--parts", "2A,2B"];
        all.extend_from_slice(args);
        let cli = Cli::try_parse_from(all).unwrap();
        let names = students.iter().map(|s| s.to_string()).collect();
        Plan::new(&cli, &table(), &Timings::default(), names)
    }

    #[test]
    fn the_plan_holds_every_run_of_every_test_of_every_submission() {
        let plan = plan(&["--runs", "3"], &["alice", "bob"]).unwrap();
        assert_eq!(plan.items.len(), 2 * 4 * 3);
        let first = &plan.items[0];
        assert_eq!(
            (first.part, first.test.as_str(), first.run),
            (Part::P2A, "a", 1)
        );
        assert_eq!(first.seconds, 2.0);
        let untimed = plan.items.iter().find(|i| i.test == "c").unwrap();
        assert_eq!(untimed.seconds, crate::timings::DEFAULT_SECONDS);
        assert_eq!(plan.items.last().unwrap().submission, 1);
    }

    #[test]
    fn the_id_changes_with_what_changes_a_verdict() {
        let id = |args: &[&str], students: &[&str]| plan(args, students).unwrap().id;
        let base = id(&[], &["alice"]);
        assert_eq!(id(&[], &["alice"]), base);
        assert_eq!(id(&["--jobs", "7"], &["alice"]), base);
        for other in [
            id(&["--runs", "2"], &["alice"]),
            id(&["--timeout", "60"], &["alice"]),
            id(&["--test", "a"], &["alice"]),
            id(&[], &["bob"]),
        ] {
            assert_ne!(other, base);
        }
    }

    #[test]
    fn an_unknown_test_is_named() {
        let error = plan(&["--test", "zz"], &["alice"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--test zz: no test of that name in the chosen parts"
        );
    }

    #[test]
    fn the_shares_split_the_plan() {
        let plan = plan(&["--runs", "3"], &["alice"]).unwrap();
        let all = plan.share(None);
        let count = 3;
        for (part, test) in [(Part::P2A, "a"), (Part::P2A, "b"), (Part::P2B, "d")] {
            assert_eq!(all.runs(0, part, test), [1, 2, 3]);
            let mut runs: Vec<u32> = (1..=count)
                .flat_map(|index| {
                    let shard = Shard::new(index, count).unwrap();
                    plan.share(Some(shard)).runs(0, part, test)
                })
                .collect();
            runs.sort();
            assert_eq!(runs, [1, 2, 3], "{part} {test}");
        }
        assert!(all.has(0) && !all.has(1));
    }
}
