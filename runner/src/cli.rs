//! The command line.

use std::num::NonZeroUsize;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::view::LogArgs;

/// Runs lab tests many times, as parallel processes, and reports which
/// runs failed, with each failure's output and the command that replays it.
#[derive(Parser, Debug)]
#[command(
    name = "labs",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  \
      cargo run --release -p labs -- 2C --runs 20\n  \
      cargo run --release -p labs -- initial_election re_election --runs 50 --jobs 8\n  \
      cargo run --release -p labs -- all --runs 1\n  \
      cargo run --release -p labs -- log target/runs/lab2c-figure8_unreliable-42.jsonl --peers 0,1\n\n\
      Exit codes: 0 every run passed, 1 some run failed or timed out, 2 nothing ran\n\
      (bad argument, the build failed), 130 interrupted."
)]
pub struct Cli {
    /// Instead of running tests, look at a failed run.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Parts (2A, 2B, ... 3C), `all` (every part) and test names
    /// (initial_election), in any mix.
    #[arg(value_name = "PART|TEST", required = true)]
    pub what: Vec<String>,

    /// How many times to run each test.
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// How many test processes to run at once. The tests mostly wait on
    /// timers: 3 per core suits every part (6 on a 2-core laptop); 2A, 2B
    /// and 2D take twice that.
    #[arg(long, default_value_t = default_jobs())]
    pub jobs: NonZeroUsize,

    /// Seconds after which a run is killed and counted as timed out (the
    /// tests' own limit is 120 s).
    #[arg(long, default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Start no new run once one has failed (the runs in progress finish).
    #[arg(long)]
    pub stop_on_failure: bool,
}

/// What else `labs` does.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Shows a failed run's events (the `.jsonl` file its failure report
    /// names) as per-peer columns, coloured by topic.
    Log(LogArgs),
}

impl Cli {
    /// The time limit of one run.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// Three test processes per core.
fn default_jobs() -> NonZeroUsize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    NonZeroUsize::new(3 * cores).expect("a core or more")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let cli = Cli::try_parse_from(["labs", "2A"]).unwrap();
        assert_eq!(
            (cli.runs, cli.timeout, cli.stop_on_failure),
            (10, 120, false)
        );
        assert_eq!(cli.jobs.get() % 3, 0);
        for bad in [
            &["labs"][..],
            &["labs", "2A", "--runs", "0"],
            &["labs", "2A", "--jobs", "0"],
            &["labs", "2A", "--timeout", "0"],
            &["labs", "log"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn log_takes_a_file_and_filters() {
        let cli = Cli::try_parse_from([
            "labs",
            "log",
            "run.jsonl",
            "--peers",
            "0,2",
            "--from",
            "1.5",
        ])
        .unwrap();
        let Some(Command::Log(args)) = cli.command else {
            panic!("not the log command: {cli:?}");
        };
        assert_eq!(args.file, std::path::PathBuf::from("run.jsonl"));
        assert_eq!(
            (args.peers, args.from, args.to),
            (Some(vec![0, 2]), Some(1.5), None)
        );
    }
}
