//! The raft-labs grader: builds a submission with the official tests laid
//! over it, runs each test in its own process several times and in
//! parallel, trusts only the harness's completion record, and scores the
//! runs from the points table. See `grading/README.md`.

pub mod build;
pub mod cgroup;
pub mod cli;
pub mod completion;
pub mod confine;
pub mod course;
pub mod digest;
pub mod error;
pub mod exit;
pub mod grader;
pub mod grades;
pub mod listing;
pub mod merge;
pub mod parts;
pub mod plan;
pub mod points;
pub mod progress;
pub mod remove;
pub mod report;
pub mod runfile;
pub mod runner;
pub mod sandbox;
pub mod schedule;
pub mod shard;
pub mod timings;
pub mod tree;

pub use testrun::{capture, groups, output, reaper, supervise};

/// Held by the unit tests that sweep orphans (which kills every orphan of
/// the test process) and by those that count what a run left behind.
#[cfg(test)]
static SWEEPS: std::sync::Mutex<()> = std::sync::Mutex::new(());
