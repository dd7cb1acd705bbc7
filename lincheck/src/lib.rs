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
//! inconclusive check as a failure, with its own message.
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
pub use visualize::{write_visualization, VISUALIZATION_FILE_VARIABLE};

/// Checks whether `history` is linearizable with respect to `model`,
/// spending at most about `budget` on the search across all partitions.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Duration,
) -> CheckOutcome {
    // A budget too large to add to the clock means no deadline at all.
    let deadline = Instant::now().checked_add(budget);
    let reports = model
        .partition(history)
        .into_iter()
        .map(|partition| PartitionReport {
            verdict: search::linearize(model, history, &partition.operations, deadline),
            name: partition.name,
            operations: partition.operations,
        })
        .collect();
    CheckOutcome::from_reports(reports, budget)
}

/// Checks a history of KV calls against [`KvModel`]; see [`check`].
pub fn check_kv(history: &[KvOperation], budget: Duration) -> CheckOutcome {
    check(&KvModel, history, budget)
}

/// Panics unless `history` is linearizable with respect to `model`.
///
/// When it is not, writes the page of [`write_visualization`] and panics
/// with "history is not linearizable; see PATH" followed by a summary of
/// each failing partition. When the budget runs out first, panics with
/// "linearizability check inconclusive: ran out of its N s budget".
pub fn assert_linearizable<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Duration,
) {
    match check(model, history, budget) {
        CheckOutcome::Linearizable => {}
        CheckOutcome::NotLinearizable(counterexample) => {
            let summary = counterexample.summary(model, history);
            match write_visualization(model, history, &counterexample) {
                Ok(path) => {
                    eprintln!("info: wrote history visualization to {}", path.display());
                    panic!(
                        "history is not linearizable; see {}\n{summary}",
                        path.display()
                    );
                }
                Err(error) => panic!(
                    "history is not linearizable (writing its visualization failed: {error})\n\
                     {summary}"
                ),
            }
        }
        CheckOutcome::Inconclusive { budget } => panic!(
            "linearizability check inconclusive: ran out of its {} s budget",
            budget.as_secs_f64()
        ),
    }
}

/// [`assert_linearizable`] for KV histories, as the KV tests use it.
pub fn assert_kv_linearizable(history: &[KvOperation], budget: Duration) {
    assert_linearizable(&KvModel, history, budget)
}
