//! The grader's exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | graded: full marks (every test passed every run) |
//! | 1 | graded: some test failed or timed out at least once |
//! | 2 | bad command line (unknown part, bad number, unknown flag) |
//! | 3 | the submission does not build (or not in time): score 0, compiler errors in the report |
//! | 4 | the grader could not grade: missing submission directory, bad points table, I/O error; or, as root, the runs' user cannot reach the scratch directory (one line naming the directory it may not search, before the build) |
//! | 130 | interrupted (Ctrl-C or SIGTERM): the runs in progress were killed; the reports hold the runs that finished |

/// Graded, full marks.
pub const FULL_MARKS: u8 = 0;
/// Graded, not full marks.
pub const NOT_FULL_MARKS: u8 = 1;
/// Bad command line.
pub const USAGE: u8 = 2;
/// The submission does not build.
pub const BUILD_FAILED: u8 = 3;
/// The grader could not grade (also: as root, the runs' user cannot reach
/// the scratch directory).
pub const ERROR: u8 = 4;

/// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// The exit-code table, for `--help`.
pub const HELP: &str = "\
Exit codes:
  0  graded: full marks (every test passed every run)
  1  graded: some test failed or timed out at least once
  2  bad command line (unknown part, bad number, unknown flag)
  3  the submission does not build, or not in time (score 0, errors in the report)
  4  could not grade (missing submission directory, bad points table, I/O error;
     as root: a scratch directory the runs' user cannot reach, named before the build)
  130  interrupted (Ctrl-C or SIGTERM): runs in progress killed, reports hold the finished runs";
