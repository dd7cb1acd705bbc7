//! Bad input to `grade`: each a one-line error and its exit code, before
//! anything is built.

mod support;

use grading::exit;
use support::grade;

/// Asserts that `grade <args>` printed exactly one line on standard error,
/// containing `expected`, and exited with `code`.
fn rejected(args: &[&str], code: u8, expected: &str) {
    let graded = grade(args, &[]);
    assert_eq!(graded.code, i32::from(code), "{}", graded.describe());
    assert_eq!(graded.stderr.lines().count(), 1, "{}", graded.describe());
    assert!(graded.stderr.contains(expected), "{}", graded.describe());
    assert!(!graded.stderr.contains("panicked"), "{}", graded.describe());
    assert!(graded.stdout.is_empty(), "{}", graded.describe());
}

#[test]
fn an_unknown_part_is_a_usage_error() {
    rejected(
        &["--parts", "2A,4C"],
        exit::USAGE,
        "unknown part `4C` (the parts are 2A, 2B, 2C, 2D, 2E, 3A, 3B, 3C)",
    );
}

#[test]
fn zero_runs_is_a_usage_error() {
    rejected(&["--runs", "0"], exit::USAGE, "--runs");
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    rejected(
        &["--shard", "0/4"],
        exit::USAGE,
        "shard 0/4 does not exist: shards count from 1, as in 1/4 ... 4/4",
    );
    rejected(
        &["--shard", "2of4"],
        exit::USAGE,
        "`2of4` is not I/N (as in 2/4) or auto",
    );
    rejected(
        &["--shard", "auto"],
        exit::USAGE,
        "--shard auto: neither Slurm's SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT nor",
    );
}

#[test]
fn a_missing_submission_is_named() {
    rejected(
        &["--submission", "/no/such/submission"],
        exit::ERROR,
        "/no/such/submission: no such submission directory",
    );
}

#[test]
fn a_malformed_points_table_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("points.toml");
    std::fs::write(&table, "[2A]\ninitial_election = \"lots\"\n").unwrap();
    rejected(
        &["--points", table.to_str().unwrap(), "--parts", "2A"],
        exit::ERROR,
        "points.toml: [2A] initial_election = \"lots\": points must be a whole number, 0 or more",
    );
}

#[test]
fn a_points_table_without_the_part_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("points.toml");
    std::fs::write(&table, "[2A]\ninitial_election = 5\n").unwrap();
    rejected(
        &["--points", table.to_str().unwrap(), "--parts", "2A,2B"],
        exit::ERROR,
        "has no [2B] section, so part 2B cannot be scored",
    );
}

#[test]
fn help_lists_the_exit_codes() {
    let graded = grade(&["--help"], &[]);
    assert_eq!(graded.code, 0);
    assert!(
        graded.stdout.contains("Exit codes:"),
        "{}",
        graded.describe()
    );
}
