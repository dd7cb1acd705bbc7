//! The raft-labs test harness.

pub mod linearizability;
