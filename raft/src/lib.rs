//! Raft, the replicated log of "In Search of an Understandable Consensus
//! Algorithm" (Ongaro and Ousterhout, extended version): leader election,
//! log replication, persistence, log compaction and membership changes by
//! joint consensus, as the raft-labs labs 2A-2E ask for.
//!
//! A [`Raft`] peer talks to the others only through the simulated
//! `labrpc` network, saves what must survive a crash in a [`Persister`],
//! and hands committed commands to its service as [`ApplyMsg`]s.
//!
// @solution 2B
//! ```
// @stub
//> //! In the handout this example is compiled but not run (`no_run`): it
//> //! needs `Raft::start` (2B). Once your 2B passes, make it a plain block
//> //! again and `cargo test --doc` runs it.
//> //!
//> //! ```no_run
// @end
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use labrpc::{Network, Server};
//! use raft::{ApplyMsg, Persister, Raft};
//!
//! // Three peers on a reliable network, every end enabled.
//! let net = Network::new();
//! let n = 3;
//! let (tx, rx) = crossbeam_channel::unbounded();
//! let peers: Vec<Raft> = (0..n)
//!     .map(|i| {
//!         let ends = (0..n)
//!             .map(|j| {
//!                 let name = format!("{i}->{j}");
//!                 let end = net.make_end(&name);
//!                 net.connect(&name, &format!("server-{j}"));
//!                 net.enable(&name, true);
//!                 end
//!             })
//!             .collect();
//!         Raft::new(ends, i, Arc::new(Persister::new()), tx.clone())
//!     })
//!     .collect();
//! for (i, peer) in peers.iter().enumerate() {
//!     let mut server = Server::new();
//!     server.add_service(peer.service());
//!     net.add_server(&format!("server-{i}"), server);
//! }
//!
//! // Wait for a leader, then replicate one command to all three peers.
//! let deadline = Instant::now() + Duration::from_secs(5);
//! let (index, _term) = loop {
//!     if let Some(started) = peers.iter().find_map(|p| p.start(b"x".to_vec())) {
//!         break started;
//!     }
//!     assert!(Instant::now() < deadline, "no leader within 5 s");
//!     std::thread::sleep(Duration::from_millis(50));
//! };
//! for _ in 0..n {
//!     let msg = rx.recv_timeout(Duration::from_secs(5)).expect("applied");
//!     assert_eq!(msg, ApplyMsg::Command { index, term: _term, command: b"x".to_vec() });
//! }
//! peers.iter().for_each(Raft::kill);
//! net.cleanup();
//! ```

// @solution 2A
#[macro_use]
mod logging;

// @stub
// @end
mod apply;
mod chunk_size;
mod membership;
// @solution 2A
mod driver;
mod election;
mod follower;
mod log;
mod persist;
// @stub
//> // Your code here (2A): add your own modules. The RPC arguments and
//> // replies are given in the `raft_messages` crate (use them as they are:
//> // the tests read every message your peers send).
// @end
mod persister;
mod raft;
// @solution 3C
mod read_index;
// @stub
// @end
// @solution 2E
mod reconfigure;
// @stub
// @end
// @solution 2A
mod replication;
mod rpc;
mod rules;
mod shared;
mod snapshot;
mod state;
mod timing;
// @stub
// @end

pub use crate::apply::ApplyMsg;
pub use crate::chunk_size::{snapshot_chunk_size, DEFAULT_SNAPSHOT_CHUNK, SNAPSHOT_CHUNK_VAR};
pub use crate::membership::{validate_members, Membership, MembershipError};
pub use crate::persister::Persister;
pub use crate::raft::Raft;

/// Set this environment variable to `1` and the reference Raft saves each
/// command `start` appends on its own, before it sends it, instead of
/// saving the commands started since its last save with one write when a
/// commit needs its copy of them (group commit). It is read
/// once per process; `cargo bench -p kvraft` uses it to measure both ways
/// in one run. Your Raft may ignore it.
pub const UNBATCHED_VAR: &str = "RAFT_UNBATCHED";
