//! The KV test harness: what `tests/lab3a.rs` and `tests/lab3b.rs` run the
//! KV service under.
//!
//! A KV test makes a [`Config`] (n KV servers on one labrpc network, with
//! the test's [`Session`](crate::Session)), makes clerks with
//! [`Config::make_client`], and partitions, crashes and restarts the
//! servers. Every clerk operation is recorded, and [`Config::end`] checks
//! the whole history for linearizability before the test can pass.
//!
//! ```no_run
//! use harness::kv::Config;
//! use harness::Net;
//!
//! let cfg = Config::new(5, Net::Reliable, None);
//! cfg.begin("progress in majority");
//! let (majority, minority) = cfg.make_partition();
//! cfg.partition(&majority, &minority);
//! let mut ck = cfg.make_client(&majority);
//! ck.put("1", "14");
//! ck.check("1", "14");
//! cfg.end();
//! ```
//!
//! Most scenarios are instances of [`generic_test`]: clients appending and
//! reading for a while under faults, then checks of every client's
//! appends, of the log size, and of the history. The scripted ones
//! ([`reply_only_to_committed_op`], [`dedup_survives_snapshot_and_restart`])
//! drive the service into the situation where one rule matters. Failures
//! end with their likely causes, from [`rules`].

mod appends;
mod clerk;
mod config;
mod generic;
pub mod rules;
mod scenarios;
mod speed;

pub use appends::{append_value, check_client_appends, check_concurrent_appends, check_own_read};
pub use clerk::{ClerkEnds, TestClerk};
pub use config::{Config, LINEARIZABILITY_BUDGET};
pub use generic::{generic_test, GenericTest};
pub use scenarios::{dedup_survives_snapshot_and_restart, reply_only_to_committed_op};
pub use speed::speed_test;
