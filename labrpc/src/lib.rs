//! A simulated RPC network for the raft-labs labs.
//!
//! Peers talk only through this network: every request and reply is
//! serialized with postcard, so peers never share memory, and the network
//! can count RPCs and bytes. Like the network a real cluster runs on, it
//! can be made unreliable (delays, lost requests and replies, reordered
//! replies), ends can be disabled (a partition) and servers deleted (a
//! crash). For scripted scenarios, an end's requests can be held at the
//! network and delivered later, in order or newest first
//! ([`Network::hold`], [`Network::deliver_held`]). Every random choice
//! comes from one seeded RNG per network; set `LABRPC_SEED` to replay a
//! failing run's fault schedule.
//!
//! ```
//! use labrpc::{Network, Server, Service};
//!
//! let net = Network::new();
//! let mut server = Server::new();
//! server.add_service(
//!     Service::new("Echo").handle("Upper", |text: String| text.to_uppercase()),
//! );
//! net.add_server("server-0", server);
//!
//! let end = net.make_end("client-0");
//! net.connect("client-0", "server-0");
//! net.enable("client-0", true);
//!
//! let reply: String = end.call("Echo.Upper", &"hello".to_string()).unwrap();
//! assert_eq!(reply, "HELLO");
//! assert_eq!(net.rpc_count("server-0"), 1);
//!
//! // A partition: the call fails after a short delay, it never hangs.
//! net.enable("client-0", false);
//! assert!(end.call::<String, String>("Echo.Upper", &"again".into()).is_err());
//! net.cleanup();
//! ```

mod error;
mod faults;
mod network;
mod pending_call;
mod pool;
mod remote;
mod reply_slot;
mod service;
mod timer;

pub use error::RpcError;
pub use network::{ClientEnd, HeldOrder, Network, TakenRequests, SEED_ENV};
pub use pool::Pool;
pub use remote::{OnReply, Transport};
pub use service::{Responder, Server, Service};
