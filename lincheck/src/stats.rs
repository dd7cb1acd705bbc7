//! How long a check took, partition by partition: what the KV harness
//! prints after each test, and what an inconclusive check's message quotes.

use std::fmt;
use std::time::Duration;

use super::outcome::{PartitionReport, PartitionVerdict};

/// The cost of one check ([`check_with_stats`](crate::check_with_stats)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckStats {
    /// The whole check: partitioning and every partition's search.
    pub elapsed: Duration,
    /// How many operations the history holds.
    pub operations: usize,
    /// The longest time one operation of the history took from call to
    /// return: how far one operation can overlap the others.
    pub longest_operation: Duration,
    /// Each partition's search, in the model's order.
    pub partitions: Vec<PartitionTiming>,
}

/// The cost of one partition's search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionTiming {
    /// The partition's name, e.g. `key "x"`.
    pub name: String,
    /// How many operations it holds.
    pub operations: usize,
    /// How long its search ran.
    pub elapsed: Duration,
    /// Whether the search decided before the deadline.
    pub decided: bool,
}

impl PartitionTiming {
    pub(crate) fn of(report: &PartitionReport, elapsed: Duration) -> PartitionTiming {
        PartitionTiming {
            name: report.name.clone(),
            operations: report.operations.len(),
            elapsed,
            decided: report.verdict != PartitionVerdict::Undecided,
        }
    }
}

impl CheckStats {
    /// The partition whose search took longest, if any.
    pub fn slowest(&self) -> Option<&PartitionTiming> {
        self.partitions.iter().max_by_key(|p| p.elapsed)
    }

    /// The partitions the search could not decide before the deadline.
    pub fn undecided(&self) -> impl Iterator<Item = &PartitionTiming> {
        self.partitions.iter().filter(|p| !p.decided)
    }
}

impl fmt::Display for PartitionTiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} operations, {:.1} ms)",
            self.name,
            self.operations,
            self.elapsed.as_secs_f64() * 1e3
        )
    }
}

/// `1234 operations in 8 partitions checked in 12.3 ms; slowest: key "3"
/// (500 operations, 9.1 ms)`.
impl fmt::Display for CheckStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} operations in {} partitions checked in {:.1} ms",
            self.operations,
            self.partitions.len(),
            self.elapsed.as_secs_f64() * 1e3
        )?;
        if let Some(slowest) = self.slowest() {
            write!(f, "; slowest: {slowest}")?;
        }
        Ok(())
    }
}
