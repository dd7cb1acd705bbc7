//! The student's repeat runner: builds the lab tests, runs each chosen test
//! many times as separate processes, in parallel, each killed at the
//! tests' time limit, shows the runs live, and ends with a table of every
//! test's failures, times and CPU, naming each failing run's output file
//! and the command that replays it. `labs log FILE` shows a failed run's
//! saved events as per-peer columns.
//!
//! The run-and-kill code is the grader's ([`testrun`]).

pub mod build;
pub mod cli;
pub mod live;
pub mod pool;
pub mod select;
pub mod summary;
pub mod view;

/// Held by the unit tests that start processes: a finished run sweeps
/// every child of the test process that [`testrun::reaper`] did not start,
/// which would kill another test's children.
#[cfg(test)]
static SWEEPS: std::sync::Mutex<()> = std::sync::Mutex::new(());
