//! Ends whose calls leave this process: a peer that runs in a process of
//! its own reaches the network through a [`Transport`] to the process that
//! holds the network.

use crate::RpcError;

/// What a call's outcome is handed to: the reply's bytes, or the failure.
pub type OnReply = Box<dyn FnOnce(Result<Vec<u8>, RpcError>) + Send>;

/// Carries the calls of [`ClientEnd::remote`](crate::ClientEnd::remote)
/// ends to a network in another process and brings their outcomes back.
///
/// Requests and replies are bytes already (postcard), so the transport only
/// moves them; the network at the far end applies its faults as it does to
/// any call.
pub trait Transport: Send + Sync {
    /// Sends a call of `method` (`"Service.Method"`) on the end named
    /// `end`, and returns at once; `on_reply` runs exactly once, with the
    /// outcome, on whatever thread the transport delivers it.
    fn send(&self, end: &str, method: &str, request: Vec<u8>, on_reply: OnReply);
}
