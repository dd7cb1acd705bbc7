//! The command line of `grade`.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::exit;
use crate::parts::Part;
use crate::shard::ShardArg;

/// Grades a raft-labs submission (or the reference tree): builds it with the
/// official tests, runs every test of the chosen parts in its own process,
/// several times and in parallel, and scores it from the points table.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "grade",
    version,
    after_help = exit::HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Another task than grading.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The student tree to grade (it must hold raft/ and kvraft/; its tests/,
    /// labrpc/ and root Cargo manifests are replaced by the official ones).
    /// Without it, the reference tree is graded.
    #[arg(long, value_name = "DIR", conflicts_with = "submissions")]
    pub submission: Option<PathBuf>,

    /// Grade every subdirectory of DIR as a student's submission (the
    /// student's name is the subdirectory's), one after the other with one
    /// build cache, each into its own directory under --report, with a
    /// course table (course.csv) of them all.
    #[arg(long, value_name = "DIR", requires = "report")]
    pub submissions: Option<PathBuf>,

    /// Run only shard I of N (1-based: 1/4 ... 4/4) of the work, balanced
    /// by the tests' expected times; `grade merge` the N shards' reports.
    /// `auto`: from Slurm's SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT,
    /// or Kubernetes' JOB_COMPLETION_INDEX with GRADE_SHARD_COUNT.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<ShardArg>,

    /// The results.json of an earlier grading, whose mean times per test
    /// balance the shards [default: the points table's [seconds.<part>]].
    #[arg(long, value_name = "FILE")]
    pub timings: Option<PathBuf>,

    /// The parts to grade, comma separated.
    #[arg(
        long,
        value_name = "PARTS",
        value_delimiter = ',',
        default_value = "2A,2B,2C,2D,2E,3A,3B,3C"
    )]
    pub parts: Vec<Part>,

    /// How many times to run each test.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// How many test processes to run at once [default: number of cores].
    #[arg(long, value_name = "J")]
    pub jobs: Option<NonZeroUsize>,

    /// Seconds after which a run is killed and counted as a timeout.
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Seconds after which the build is killed, with every process it
    /// started, and the submission scored 0.
    #[arg(long, value_name = "SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub build_timeout: u64,

    /// The memory, in MiB, that the processes of one test run may use
    /// together; a run that needs more is killed ("out of memory").
    #[arg(long, value_name = "MIB", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(16..=(1 << 30)))]
    pub memory_limit: u64,

    /// How many processes and threads the processes of one test run may
    /// number together (a pids cgroup per run, where the machine has one);
    /// a fork or thread over it is refused, and the run fails.
    #[arg(long, value_name = "N", default_value_t = crate::confine::DEFAULT_PIDS_LIMIT,
          value_parser = clap::value_parser!(u64).range(16..=(1 << 22)))]
    pub pids_limit: u64,

    /// The user test processes run as when the grader runs as root (a name
    /// or a numeric uid).
    #[arg(long, value_name = "USER", default_value = "nobody")]
    pub run_as: String,

    /// Write results.json, junit.xml, gradescope/results.json and the output
    /// of every failed run (runs/) into this directory, after every run.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// What to print on standard output when grading is over.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Run only this test (repeat the flag for several); e.g. to replay a
    /// failure.
    #[arg(long = "test", value_name = "NAME")]
    pub tests: Vec<String>,

    /// Run every test with this network seed (LABRPC_SEED), to replay a
    /// failure's fault schedule [default: a fresh seed per run].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// The points table [default: grading/points.toml of the reference tree].
    #[arg(long, value_name = "FILE")]
    pub points: Option<PathBuf>,
}

/// The tasks other than grading.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Combines the reports of a sharded grading's N shards (each shard's
    /// --report directory) into the reports one unsharded grading writes.
    Merge(MergeArgs),
}

/// The command line of `grade merge`.
#[derive(clap::Args, Debug, Clone)]
pub struct MergeArgs {
    /// The shards' report directories, every one of them.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,

    /// Write the merged reports (as `grade --report` would) into DIR.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// What to print on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The report printed on standard output.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The summary table.
    Text,
    /// The grader's own JSON (as results.json).
    Json,
    /// JUnit XML.
    Junit,
    /// Gradescope's results.json.
    Gradescope,
}

impl Cli {
    /// The parts to grade, in course order, each once.
    pub fn parts(&self) -> Vec<Part> {
        let mut parts = self.parts.clone();
        parts.sort();
        parts.dedup();
        parts
    }

    /// The number of parallel runs: `--jobs`, or the number of cores.
    pub fn jobs(&self) -> usize {
        self.jobs
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["grade"]).unwrap();
        assert_eq!(cli.parts(), Part::ALL.to_vec());
        assert_eq!((cli.runs, cli.timeout, cli.build_timeout), (1, 120, 600));
        assert!(cli.jobs() >= 1);
        assert_eq!(cli.format, Format::Text);
    }

    #[test]
    fn merge_is_a_subcommand_beside_the_grading_flags() {
        let cli = Cli::try_parse_from(["grade", "merge", "a", "b", "--report", "out"]).unwrap();
        match cli.command {
            Some(Command::Merge(merge)) => {
                assert_eq!(merge.dirs, [PathBuf::from("a"), PathBuf::from("b")]);
                assert_eq!(merge.report, Some(PathBuf::from("out")));
            }
            None => panic!("merge was not parsed"),
        }
        let cli = Cli::try_parse_from(["grade", "--parts", "2A", "--shard", "2/4"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(
            cli.shard,
            Some(ShardArg::Fixed(crate::shard::Shard::new(2, 4).unwrap()))
        );
    }

    #[test]
    fn parts_are_sorted_and_deduplicated() {
        let cli = Cli::try_parse_from(["grade", "--parts", "2b,2A,2B"]).unwrap();
        assert_eq!(cli.parts(), vec![Part::P2A, Part::P2B]);
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["grade", "--parts", "2A,2F"][..],
            &["grade", "--runs", "0"],
            &["grade", "--jobs", "0"],
            &["grade", "--timeout", "0"],
            &["grade", "--build-timeout", "0"],
            &["grade", "--format", "xml"],
            &["grade", "--shard", "0/4"],
            &["grade", "--shard", "4"],
            &["grade", "--submissions", "subs"],
            &[
                "grade",
                "--submissions",
                "s",
                "--submission",
                "a",
                "--report",
                "r",
            ],
            &["grade", "merge"],
            &["grade", "--parts", "2A", "merge", "a"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} was accepted");
        }
    }
}
