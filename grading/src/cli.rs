//! The command line of `grade`.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::exit;
use crate::parts::Part;

/// Grades a raft-labs submission (or the reference tree): builds it with the
/// official tests, runs every test of the chosen parts in its own process,
/// several times and in parallel, and scores it from the points table.
#[derive(Parser, Debug, Clone)]
#[command(name = "grade", version, after_help = exit::HELP)]
pub struct Cli {
    /// The student tree to grade (it must hold raft/ and kvraft/; its tests/,
    /// labrpc/ and root Cargo manifests are replaced by the official ones).
    /// Without it, the reference tree is graded.
    #[arg(long, value_name = "DIR")]
    pub submission: Option<PathBuf>,

    /// The parts to grade, comma separated.
    #[arg(
        long,
        value_name = "PARTS",
        value_delimiter = ',',
        default_value = "2A,2B,2C,2D,3A,3B,3C"
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
    fn parts_are_sorted_and_deduplicated() {
        let cli = Cli::try_parse_from(["grade", "--parts", "2b,2A,2B"]).unwrap();
        assert_eq!(cli.parts(), vec![Part::P2A, Part::P2B]);
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["grade", "--parts", "2A,2E"][..],
            &["grade", "--runs", "0"],
            &["grade", "--jobs", "0"],
            &["grade", "--timeout", "0"],
            &["grade", "--build-timeout", "0"],
            &["grade", "--format", "xml"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} was accepted");
        }
    }
}
