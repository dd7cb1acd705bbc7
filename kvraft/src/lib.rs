//! A replicated, linearizable key/value service built on Raft.
//!
//! A service is a few [`KvServer`]s, each a Raft peer with a key/value
//! state machine on top, and any number of [`Clerk`]s that call it:
//!
//! - A clerk sends each `get`, `put` or `append` to the server it believes
//!   leads. The leader starts the request in Raft and answers once the
//!   request has committed and been applied; other servers answer "wrong
//!   leader", and the clerk tries the next one.
//! - Every server applies the committed log, in order, to its own copy of
//!   the map, so all copies agree.
//! - A request can reach the log more than once (a reply is lost and the
//!   clerk retries, or a leader fails after committing). Each request
//!   carries its clerk's id and a sequence number, and the state machine
//!   skips the ones it has already applied: every operation takes effect
//!   exactly once.
//! - With a `max_raft_state`, a server snapshots its state (map and
//!   duplicate table) so Raft can trim its log; a restarted server gets its
//!   state back from the snapshot Raft delivers.
//!
//! Wiring a service onto a [`labrpc::Network`] (the test harness does this,
//! and also crashes, restarts and partitions the servers):
//!
// @solution 3A
//! ```
// @stub
//> //! In the handout this example is compiled but not run (`no_run`): it
//> //! needs a working `KvServer` and `Clerk` (3A). Once your 3A passes,
//> //! make it a plain block again and `cargo test --doc` runs it.
//> //!
//> //! ```no_run
// @end
//! use std::sync::Arc;
//! use kvraft::{Clerk, KvServer};
//! use labrpc::{Network, Server};
//! use raft::Persister;
//!
//! let net = Network::new();
//! let n = 3;
//! let mut servers = Vec::new();
//! for i in 0..n {
//!     let ends = (0..n)
//!         .map(|j| {
//!             let name = format!("kv{i}-to-kv{j}");
//!             let end = net.make_end(&name);
//!             net.connect(&name, &format!("server-{j}"));
//!             net.enable(&name, true);
//!             end
//!         })
//!         .collect();
//!     let kv = KvServer::new(ends, i, Arc::new(Persister::new()), Some(1000));
//!     let mut server = Server::new();
//!     for service in kv.services() {
//!         server.add_service(service);
//!     }
//!     net.add_server(&format!("server-{i}"), server);
//!     servers.push(kv);
//! }
//! let ends = (0..n)
//!     .map(|j| {
//!         let name = format!("clerk-to-kv{j}");
//!         let end = net.make_end(&name);
//!         net.connect(&name, &format!("server-{j}"));
//!         net.enable(&name, true);
//!         end
//!     })
//!     .collect();
//! let mut clerk = Clerk::new(ends);
//! clerk.put("x", "1");
//! assert_eq!(clerk.get("x"), "1");
//! for kv in &servers {
//!     kv.kill();
//! }
//! net.cleanup();
//! ```

mod clerk;
// @solution 3A
mod pending;
mod rpc;
// @stub
//> // Your code here (3A): add your own modules (e.g. `mod rpc;` for what a
//> // clerk sends a server).
// @end
// @solution 3C
mod read;
// @stub
// @end
mod server;
// @solution 3B
mod snapshot;
// @stub
// @end
// @solution 3A
mod state_machine;
// @stub
// @end

pub use clerk::Clerk;
pub use server::KvServer;

/// Set this environment variable to `1` and the reference server sends
/// Gets through the Raft log, as 3A does, instead of answering them by
/// ReadIndex (3C). It is read once per process; `cargo bench -p kvraft`
/// uses it to measure both ways in one run. Your server may ignore it.
pub const GETS_THROUGH_LOG_VAR: &str = "KV_GETS_THROUGH_LOG";
