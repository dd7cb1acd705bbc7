//! The raft-labs test harness: what the staged tests (`tests/lab2a.rs` ...)
//! run Raft and the KV service under.
//!
//! A Raft test makes a [`Config`] (which starts its [`Session`]: one test
//! at a time, 120 s at most, a failure report with the network seed and
//! the peers' last log lines), then crashes, restarts, partitions and
//! checks the peers:
//!
//! ```no_run
//! use harness::{Applier, Config, Net};
//!
//! let cfg = Config::new(3, Net::Reliable, Applier::Checking);
//! cfg.begin("basic agreement");
//! let leader = cfg.check_one_leader();
//! cfg.disconnect((leader + 1) % 3);
//! cfg.one(101, 2, false);
//! cfg.end();
//! ```
//!
//! Commands are [`Cmd`]s (integers or strings) encoded with postcard; the
//! appliers check every applied message against the other peers and fail
//! the running test, not the process, when Raft misbehaves.

mod applier;
mod call_timing;
mod checks;
mod cmd;
mod completion;
mod config;
mod cpu;
mod cpu_time;
mod ends;
mod join;
mod judged;
pub mod kv;
mod logcapture;
mod membership;
mod proof;
pub mod protocol;
mod referee;
mod remote_raft;
pub mod rules;
mod runrecord;
mod session;

pub use applier::SNAPSHOT_INTERVAL;
pub use call_timing::time_null_calls;
pub use cmd::{random_int, Cmd};
pub use config::{Applier, Config, Net, ELECTION_TIMEOUT};
pub use join::{join_or_fail, Detached, TestThread};
pub use judged::JUDGED_ENV;
pub use session::{Session, TIME_LIMIT};
