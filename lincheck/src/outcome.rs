//! What a check found.

use std::fmt::Write as _;
use std::time::Duration;

use super::history::Operation;
use super::model::Model;
use super::text::abbreviate;

/// How much of an operation's description a summary line shows.
const SUMMARY_DESCRIPTION_CHARS: usize = 200;

/// The answer to "is this history linearizable?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Some order of the operations, consistent with real time, explains
    /// every output.
    Linearizable,
    /// No such order exists for at least one partition.
    NotLinearizable(Counterexample),
    /// The budget ran out before the search could decide. This says
    /// nothing about the history and must not be taken as a pass.
    Inconclusive {
        /// The budget that was spent.
        budget: Duration,
    },
}

/// Why a history is not linearizable: what the search found in each
/// partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// Every partition of the history, in the model's order.
    pub partitions: Vec<PartitionReport>,
}

/// What the search found in one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionReport {
    /// The partition's name, e.g. `key "x"`.
    pub name: String,
    /// Its operations, as indices into the history.
    pub operations: Vec<usize>,
    /// The search's verdict.
    pub verdict: PartitionVerdict,
}

/// The search's verdict on one partition. Operations are indices into the
/// history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionVerdict {
    /// Linearizable; `order` is a linearization.
    Linearizable {
        /// Every operation of the partition, in linearization order.
        order: Vec<usize>,
    },
    /// Not linearizable.
    NotLinearizable {
        /// The longest linearizable prefix the search found, in order.
        longest_prefix: Vec<usize>,
        /// The operation that could not be placed after that prefix: it
        /// returned before any state reachable from the prefix could
        /// explain its output.
        unplaceable: usize,
    },
    /// The budget ran out before the search could decide.
    Undecided,
}

impl CheckOutcome {
    /// Combines the verdicts on a history's partitions: one failure makes
    /// the history not linearizable whatever the others say.
    pub(crate) fn from_reports(partitions: Vec<PartitionReport>, budget: Duration) -> CheckOutcome {
        let verdicts = || partitions.iter().map(|partition| &partition.verdict);
        if verdicts().any(|verdict| matches!(verdict, PartitionVerdict::NotLinearizable { .. })) {
            CheckOutcome::NotLinearizable(Counterexample { partitions })
        } else if verdicts().any(|verdict| *verdict == PartitionVerdict::Undecided) {
            CheckOutcome::Inconclusive { budget }
        } else {
            CheckOutcome::Linearizable
        }
    }
}

impl Counterexample {
    /// The partitions found not linearizable.
    pub fn failures(&self) -> impl Iterator<Item = &PartitionReport> {
        self.partitions.iter().filter(|partition| {
            matches!(partition.verdict, PartitionVerdict::NotLinearizable { .. })
        })
    }

    /// One line per failing partition: how far the search got and which
    /// operation it could not place.
    pub fn summary<M: Model>(
        &self,
        model: &M,
        history: &[Operation<M::Input, M::Output>],
    ) -> String {
        let mut summary = String::new();
        for partition in self.failures() {
            if let PartitionVerdict::NotLinearizable {
                longest_prefix,
                unplaceable,
            } = &partition.verdict
            {
                let operation = &history[*unplaceable];
                let _ = writeln!(
                    summary,
                    "{}: after a linearizable prefix of {} of its {} operations, could not place \
                     client {}'s {} (called at {:.6} s, returned at {:.6} s)",
                    partition.name,
                    longest_prefix.len(),
                    partition.operations.len(),
                    operation.client_id,
                    abbreviate(
                        &model.describe_operation(&operation.input, &operation.output),
                        SUMMARY_DESCRIPTION_CHARS
                    ),
                    operation.called_at.as_secs_f64(),
                    operation.returned_at.as_secs_f64(),
                );
            }
        }
        summary
    }
}
