//! What a grading found so far: the build, every test with its runs, and
//! the scores that follow from the points table. The reports are views of
//! it.

use std::path::PathBuf;
use std::time::Duration;

use crate::parts::Part;
use crate::points::Policy;
use crate::shard::Shard;

pub use testrun::cpu::{CpuUse, BUSY_SHARE};

/// A grading, finished or in progress.
#[derive(Debug, Clone)]
pub struct Grades {
    /// The submission directory, or `None` for the reference tree.
    pub submission: Option<PathBuf>,
    /// The tree that was built: the reference tree, or the scratch copy of
    /// the submission.
    pub tree: PathBuf,
    /// The graded parts.
    pub parts: Vec<Part>,
    /// Runs of each test.
    pub runs_per_test: u32,
    /// Runs at once.
    pub jobs: usize,
    /// Per-run timeout.
    pub timeout: Duration,
    /// How runs turn into points.
    pub policy: Policy,
    /// The seed every run used, if one was imposed.
    pub seed: Option<u64>,
    /// How the build went.
    pub build: BuildStatus,
    /// What the grader did that the student should know of, one line each:
    /// files of the submission it did not use, a test binary that listed
    /// other tests than the official ones.
    pub notes: Vec<String>,
    /// Every test of the graded parts, in part and binary order.
    pub tests: Vec<TestGrade>,
    /// Time since grading started.
    pub elapsed: Duration,
    /// Every planned run has finished (or the build failed): the scores
    /// are final, or, for a shard, ready to merge.
    pub finished: bool,
    /// The shard of the plan this grading ran, if it ran only one.
    pub shard: Option<Shard>,
    /// The identity of the whole plan (every submission, test and run) this
    /// grading is part of.
    pub plan: String,
    /// The version of the official tests it ran.
    pub tests_version: String,
}

/// How the build went.
#[derive(Debug, Clone)]
pub enum BuildStatus {
    /// Built, in this long.
    Built(Duration),
    /// The tree does not compile.
    Failed {
        /// How long cargo tried.
        duration: Duration,
        /// The compiler's errors.
        errors: String,
    },
}

/// One test and its runs.
#[derive(Debug, Clone)]
pub struct TestGrade {
    /// The test's part.
    pub part: Part,
    /// The test function's name.
    pub name: String,
    /// Its worth in the points table.
    pub points: u32,
    /// The run numbers this grading runs: every one, or a shard's share.
    pub planned: Vec<u32>,
    /// Its finished runs, by run number.
    pub runs: Vec<RunRecord>,
}

/// One finished run of a test.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// 1-based run number.
    pub run: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// From start to exit.
    pub duration: Duration,
    /// What went wrong, unless it passed.
    pub failure: Option<Failure>,
    /// The CPU the code under test used, as the run's harness reported it
    /// (`None` for a run killed before it could).
    pub cpu: Option<CpuUse>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Passed, with the harness's completion record.
    Passed,
    /// Failed.
    Failed,
    /// Killed at the timeout.
    TimedOut,
}

/// Why a run did not pass, and how to replay it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// How the process ended, in one line.
    pub reason: String,
    /// The test's panic message, if it panicked.
    pub message: Option<String>,
    /// The network seed the run printed.
    pub seed: Option<u64>,
    /// The run's full output, relative to the report directory (only with
    /// `--report`).
    pub log: Option<PathBuf>,
    /// The last lines of the run's output.
    pub tail: String,
    /// The shell command that runs this test again with the same seed.
    pub replay: String,
}

/// Where a test stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every run passed.
    Passed,
    /// A run failed or timed out, or the submission does not build.
    Failed,
    /// Some runs have not finished yet.
    Pending,
}

impl TestGrade {
    /// Runs that passed.
    pub fn passed(&self) -> u32 {
        self.count(Outcome::Passed)
    }

    /// Runs killed at the timeout.
    pub fn timeouts(&self) -> u32 {
        self.count(Outcome::TimedOut)
    }

    fn count(&self, outcome: Outcome) -> u32 {
        self.runs.iter().filter(|r| r.outcome == outcome).count() as u32
    }

    /// Mean duration of the finished runs.
    pub fn mean_time(&self) -> Option<Duration> {
        let total: Duration = self.runs.iter().map(|r| r.duration).sum();
        (!self.runs.is_empty()).then(|| total / self.runs.len() as u32)
    }

    /// Longest finished run.
    pub fn max_time(&self) -> Option<Duration> {
        self.runs.iter().map(|r| r.duration).max()
    }

    /// Mean CPU seconds of the code under test, over the runs that
    /// reported it.
    pub fn mean_cpu(&self) -> Option<f64> {
        let reported: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|r| r.cpu)
            .map(|c| c.seconds)
            .collect();
        (!reported.is_empty()).then(|| reported.iter().sum::<f64>() / reported.len() as f64)
    }

    /// The runs whose code under test kept more than a core busy.
    pub fn busy_runs(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.cpu.is_some_and(|c| c.busy()))
            .count()
    }

    /// The runs that did not pass.
    pub fn failures(&self) -> impl Iterator<Item = (&RunRecord, &Failure)> {
        self.runs
            .iter()
            .filter_map(|r| r.failure.as_ref().map(|f| (r, f)))
    }
}

impl Grades {
    /// Where `test` stands.
    pub fn status(&self, test: &TestGrade) -> Status {
        if matches!(self.build, BuildStatus::Failed { .. })
            || test.passed() < test.runs.len() as u32
        {
            Status::Failed
        } else if (test.runs.len() as u32) < self.runs_per_test {
            Status::Pending
        } else {
            Status::Passed
        }
    }

    /// The points `test` earned; 0 until all its runs have finished.
    pub fn earned(&self, test: &TestGrade) -> f64 {
        let runs = test.runs.len() as u32;
        if runs < self.runs_per_test {
            return 0.0;
        }
        self.policy.score(test.points, test.passed(), runs)
    }

    /// Points earned by the tests of `part` (every part when `None`).
    pub fn score(&self, part: Option<Part>) -> f64 {
        // Folded from +0.0: an empty f64 `sum` is -0.0, which prints as "-0".
        self.in_part(part)
            .fold(0.0, |score, t| score + self.earned(t))
    }

    /// Points the tests of `part` are worth (every part when `None`).
    pub fn max_score(&self, part: Option<Part>) -> u32 {
        self.in_part(part).map(|t| t.points).sum()
    }

    fn in_part(&self, part: Option<Part>) -> impl Iterator<Item = &TestGrade> {
        self.tests
            .iter()
            .filter(move |t| part.is_none_or(|p| t.part == p))
    }

    /// What was graded, for messages: "the submission" or "the reference tree".
    pub fn subject(&self) -> &'static str {
        if self.submission.is_some() {
            "the submission"
        } else {
            "the reference tree"
        }
    }

    /// The compiler's errors, if the submission does not build.
    pub fn build_errors(&self) -> Option<&str> {
        match &self.build {
            BuildStatus::Failed { errors, .. } => Some(errors),
            BuildStatus::Built(_) => None,
        }
    }

    /// Full marks: built, finished, and every test passed every run (for a
    /// shard, every run of its share).
    pub fn full_marks(&self) -> bool {
        self.finished
            && self.build_errors().is_none()
            && self
                .tests
                .iter()
                .all(|t| t.runs.len() == t.planned.len() && t.passed() == t.planned.len() as u32)
    }

    /// The runs planned, and those finished.
    pub fn run_counts(&self) -> (usize, usize) {
        let planned = self.tests.iter().map(|t| t.planned.len()).sum();
        let finished = self.tests.iter().map(|t| t.runs.len()).sum();
        (planned, finished)
    }

    /// Whether every planned run has finished.
    pub fn all_ran(&self) -> bool {
        self.tests.iter().all(|t| t.runs.len() == t.planned.len())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A run that ended as `outcome` after `seconds`.
    pub fn run(run: u32, outcome: Outcome, seconds: u64) -> RunRecord {
        let failure = (outcome != Outcome::Passed).then(|| Failure {
            reason: "exited with status 101".into(),
            message: Some("expected one leader, got none (at tests/lab2a.rs:40:9)".into()),
            seed: Some(8741),
            log: Some(PathBuf::from(format!("runs/2A-re_election-run{run}.log"))),
            tail: "test re_election ... FAILED".into(),
            replay: "grade --parts 2A --test re_election --runs 1 --seed 8741".into(),
        });
        RunRecord {
            run,
            outcome,
            duration: Duration::from_secs(seconds),
            failure,
            cpu: Some(CpuUse {
                seconds: 0.5,
                wall: seconds as f64,
            }),
        }
    }

    /// Two tests of 2A, three runs each: one passed all, one failed one run
    /// and timed out another.
    pub fn sample() -> Grades {
        Grades {
            submission: Some(PathBuf::from("/submissions/alice")),
            tree: PathBuf::from("/tmp/grade-x/tree"),
            parts: vec![Part::P2A],
            runs_per_test: 3,
            jobs: 2,
            timeout: Duration::from_secs(120),
            policy: Policy::AllRuns,
            seed: None,
            build: BuildStatus::Built(Duration::from_secs(30)),
            notes: vec!["raft/build.rs was not compiled or run".into()],
            tests: vec![
                TestGrade {
                    part: Part::P2A,
                    name: "initial_election".into(),
                    points: 5,
                    planned: vec![1, 2, 3],
                    runs: (1..=3).map(|i| run(i, Outcome::Passed, 3)).collect(),
                },
                TestGrade {
                    part: Part::P2A,
                    name: "re_election".into(),
                    points: 10,
                    planned: vec![1, 2, 3],
                    runs: vec![
                        run(1, Outcome::Passed, 5),
                        run(2, Outcome::Failed, 6),
                        run(3, Outcome::TimedOut, 120),
                    ],
                },
            ],
            elapsed: Duration::from_secs(200),
            finished: true,
            shard: None,
            plan: "0123456789abcdef".into(),
            tests_version: "fedcba9876543210".into(),
        }
    }

    #[test]
    fn scores_follow_the_policy() {
        let mut grades = sample();
        assert_eq!((grades.score(None), grades.max_score(None)), (5.0, 15));
        assert_eq!(grades.status(&grades.tests[0]), Status::Passed);
        assert_eq!(grades.status(&grades.tests[1]), Status::Failed);
        assert!(!grades.full_marks());
        grades.policy = Policy::Proportional;
        assert!((grades.score(Some(Part::P2A)) - (5.0 + 10.0 / 3.0)).abs() < 1e-9);
        assert_eq!(grades.score(Some(Part::P2B)), 0.0);
        assert!(grades.score(Some(Part::P2B)).is_sign_positive());
    }

    #[test]
    fn unfinished_tests_earn_nothing_yet() {
        let mut grades = sample();
        grades.tests[0].runs.pop();
        assert_eq!(grades.status(&grades.tests[0]), Status::Pending);
        assert_eq!(grades.earned(&grades.tests[0]), 0.0);
    }

    #[test]
    fn counts_and_times() {
        let grades = sample();
        let test = &grades.tests[1];
        assert_eq!((test.passed(), test.timeouts()), (1, 1));
        assert_eq!(test.mean_time(), Some(Duration::from_secs(131) / 3));
        assert_eq!(test.max_time(), Some(Duration::from_secs(120)));
        assert_eq!(test.failures().count(), 2);
    }

    #[test]
    fn a_build_failure_fails_every_test() {
        let mut grades = sample();
        grades.build = BuildStatus::Failed {
            duration: Duration::from_secs(3),
            errors: "error[E0308]".into(),
        };
        for test in &mut grades.tests {
            test.runs.clear();
        }
        assert_eq!(grades.score(None), 0.0);
        assert!(grades
            .tests
            .iter()
            .all(|t| grades.status(t) == Status::Failed));
    }
}
