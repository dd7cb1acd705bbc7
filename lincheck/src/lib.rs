//! A linearizability checker, written for the raft-labs KV tests (the
//! harness under `tests/` checks every KV test's history with it) but
//! general: it knows nothing of Raft or of the KV service.
//!
//! Clerk threads record each call they make in a [`KvRecorder`]: its
//! input, its output, and when it was called and returned. At the end of a
//! test, [`assert_kv_linearizable`] asks whether some order of all those
//! operations, each taking effect at one instant between its call and its
//! return, explains every output as a single sequential map would.
//!
//! ```no_run
//! use std::time::Duration;
//! use lincheck::{assert_kv_linearizable, KvRecorder};
//!
//! let log = KvRecorder::new();
//! let client_id = 0;
//! // In each clerk thread, with `log.clone()`:
//! log.put(client_id, "k", "v", || { /* clerk.put("k", "v") */ });
//! let value = log.get(client_id, "k", || "v".to_string() /* clerk.get("k") */);
//! assert_eq!(value, "v");
//! // After the clerks have stopped:
//! assert_kv_linearizable(&log.history(), Duration::from_secs(5));
//! ```
//!
//! A check has three outcomes ([`CheckOutcome`]): linearizable; not
//! linearizable, with a [`Counterexample`] that [`write_visualization`]
//! turns into an HTML page; or inconclusive, when the time budget ran out
//! first. Unlike porcupine in MIT's tests, the assertion treats an
//! inconclusive check as a failure, with its own message. Every check
//! also measures itself ([`check_with_stats`], [`CheckStats`]): how long
//! each partition's search took.
//!
//! The search is the backtracking one of Wing and Gong as refined by Lowe
//! (it remembers the (placed operations, state) pairs it has explored),
//! run per key, plus pruning that the model's [`Effect`]s allow: a read
//! that fits is placed at once, and look-ahead abandons a partial order as
//! soon as a read due soon can no longer be explained. Histories of
//! thousands of operations check in tens of milliseconds.
//!
//! Other sequential objects can be checked by implementing [`Model`] and
//! calling [`check`].

mod history;
mod key_value;
mod kv;
mod model;
mod op_set;
mod outcome;
mod search;
mod stats;
mod text;
mod visualize;

#[cfg(test)]
mod brute_force;
#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

pub use history::{Operation, Recorder};
pub use key_value::KeyValue;
pub use kv::{KvInput, KvModel, KvOperation, KvRecorder};
pub use model::{Effect, Model, Partition};
pub use outcome::{CheckOutcome, Counterexample, PartitionReport, PartitionVerdict};
pub use stats::{CheckStats, PartitionTiming};
pub use visualize::{write_visualization, VISUALIZATION_FILE_VARIABLE};

/// Checks whether `history` is linearizable with respect to `model`,
/// spending at most about `budget` on the search across all partitions.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Duration,
) -> CheckOutcome {
    check_with_stats(model, history, budget).0
}

/// [`check`], and how long it took, partition by partition.
pub fn check_with_stats<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Duration,
) -> (CheckOutcome, CheckStats) {
    let started = Instant::now();
    // A budget too large to add to the clock means no deadline at all.
    let deadline = started.checked_add(budget);
    let mut timings = Vec::new();
    let reports = model
        .partition(history)
        .into_iter()
        .map(|partition| {
            let searched = Instant::now();
            let report = PartitionReport {
                verdict: search::linearize(model, history, &partition.operations, deadline),
                name: partition.name,
                operations: partition.operations,
            };
            timings.push(PartitionTiming::of(&report, searched.elapsed()));
            report
        })
        .collect();
    let stats = CheckStats {
        elapsed: started.elapsed(),
        operations: history.len(),
        longest_operation: history
            .iter()
            .map(|o| o.returned_at.saturating_sub(o.called_at))
            .max()
            .unwrap_or_default(),
        partitions: timings,
    };
    (CheckOutcome::from_reports(reports, budget), stats)
}

/// Checks a history of KV calls against [`KvModel`]; see [`check`].
pub fn check_kv(history: &[KvOperation], budget: Duration) -> CheckOutcome {
    check(&KvModel, history, budget)
}

/// Why [`verdict`] did not pass a history: the message to fail with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// "history is not linearizable; see PATH" and a summary of each
    /// failing partition.
    NotLinearizable(String),
    /// "linearizability check inconclusive: ..." and what that means (see
    /// [`inconclusive_message`]).
    Inconclusive(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotLinearizable(message) | Failure::Inconclusive(message) => {
                f.write_str(message)
            }
        }
    }
}

/// Checks `history` against `model` as a test would: how long the check
/// took if it is linearizable, else the [`Failure`] to report. A history
/// that is not linearizable also gets the page of [`write_visualization`],
/// whose path the message names.
pub fn verdict<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Duration,
) -> Result<CheckStats, Failure> {
    let (outcome, stats) = check_with_stats(model, history, budget);
    match outcome {
        CheckOutcome::Linearizable => Ok(stats),
        CheckOutcome::NotLinearizable(counterexample) => {
            let summary = counterexample.summary(model, history);
            Err(Failure::NotLinearizable(
                match write_visualization(model, history, &counterexample) {
                    Ok(path) => {
                        eprintln!("info: wrote history visualization to {}", path.display());
                        format!(
                            "history is not linearizable; see {}\n{summary}",
                            path.display()
                        )
                    }
                    Err(error) => format!(
                        "history is not linearizable (writing its visualization failed: \
                         {error})\n{summary}"
                    ),
                },
            ))
        }
        CheckOutcome::Inconclusive { budget } => {
            Err(Failure::Inconclusive(inconclusive_message(budget, &stats)))
        }
    }
}

/// Panics unless `history` is linearizable with respect to `model`, with
/// the message of [`verdict`]'s [`Failure`]; returns how long the check
/// took.
#[track_caller]
pub fn assert_linearizable<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Duration,
) -> CheckStats {
    verdict(model, history, budget).unwrap_or_else(|failure| panic!("{failure}"))
}

/// What an inconclusive check means, for the author of the service whose
/// history it was: not proven wrong, not proven right; what to do next.
pub fn inconclusive_message(budget: Duration, stats: &CheckStats) -> String {
    let undecided: Vec<String> = stats.undecided().map(ToString::to_string).collect();
    format!(
        "linearizability check inconclusive: the search ran out of its {} s budget before \
         deciding on {}.\n\
         This does not say your service is wrong: the search could neither find an order that \
         explains every result nor prove that none exists. But your service was not proven \
         correct either, so the test cannot pass. Rerun the test: the search is much faster \
         on most histories, and on a loaded machine it gets less done in its budget.\n\
         If it keeps happening, look at the history: {} operations, the longest of which took \
         {:.1} s from call to return. The search grows with how many operations overlap in \
         time, so operations that take seconds (a server that holds a request long after it \
         lost leadership instead of answering ErrWrongLeader, a clerk that waits long on a dead \
         server before trying the next) make it explode; answer and fail over promptly.",
        budget.as_secs_f64(),
        undecided.join(", "),
        stats.operations,
        stats.longest_operation.as_secs_f64(),
    )
}

/// [`assert_linearizable`] for KV histories.
#[track_caller]
pub fn assert_kv_linearizable(history: &[KvOperation], budget: Duration) -> CheckStats {
    assert_linearizable(&KvModel, history, budget)
}
