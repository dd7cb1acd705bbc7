//! The ways a call can fail.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a [`ClientEnd::call`](crate::ClientEnd::call) did not return a reply.
///
/// The first group are the network faults a Raft peer must tolerate: they say
/// nothing about whether the handler ran. The second group are programming
/// mistakes by the caller or the service, named so they can be fixed.
///
/// It is serializable, so a call made in another process (see
/// [`ClientEnd::remote`](crate::ClientEnd::remote)) fails the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RpcError {
    /// The request or the reply was lost, the end is disabled, or no server
    /// is connected behind it. The handler may or may not have run.
    Unreachable,
    /// The server was deleted or replaced (crashed) while the call was in
    /// flight; a crashed server never gives a positive reply.
    ServerGone,
    /// The network was cleaned up before the call completed.
    Shutdown,
    /// The method name is not of the form `"Service.Method"`.
    BadMethodName(String),
    /// The server hosts no service of this name.
    UnknownService {
        /// The service that was asked for.
        service: String,
        /// The services the server does host.
        available: Vec<String>,
    },
    /// The service has no handler of this name.
    UnknownMethod {
        /// The service that was reached.
        service: String,
        /// The method that was asked for.
        method: String,
        /// The methods the service does have.
        available: Vec<String>,
    },
    /// The arguments could not be serialized by the caller.
    EncodeArgs(String),
    /// The server could not decode the request as the handler's argument type.
    DecodeArgs {
        /// `"Service.Method"`.
        method: String,
        /// What postcard reported.
        reason: String,
    },
    /// The reply could not be serialized by the server.
    EncodeReply {
        /// `"Service.Method"`.
        method: String,
        /// What postcard reported.
        reason: String,
    },
    /// The caller could not decode the reply as the requested reply type.
    DecodeReply {
        /// `"Service.Method"`.
        method: String,
        /// What postcard reported.
        reason: String,
    },
    /// The handler panicked; the server keeps serving other calls.
    HandlerPanicked {
        /// `"Service.Method"`.
        method: String,
        /// The panic message.
        message: String,
    },
}

impl RpcError {
    /// True for the faults of a lossy network (lost messages, disabled ends,
    /// crashed servers, shutdown), which a caller is expected to retry;
    /// false for mistakes in how the call or the service was written.
    pub fn is_network_fault(&self) -> bool {
        matches!(
            self,
            RpcError::Unreachable | RpcError::ServerGone | RpcError::Shutdown
        )
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Unreachable => write!(f, "the request or its reply was lost"),
            RpcError::ServerGone => write!(f, "the server crashed while the call was in flight"),
            RpcError::Shutdown => write!(f, "the network was shut down"),
            RpcError::BadMethodName(name) => write!(
                f,
                "bad method name {name:?}: expected \"Service.Method\", e.g. \"Raft.RequestVote\""
            ),
            RpcError::UnknownService { service, available } => write!(
                f,
                "unknown service {service:?}; this server hosts: {}",
                list(available)
            ),
            RpcError::UnknownMethod {
                service,
                method,
                available,
            } => write!(
                f,
                "unknown method {method:?} of service {service:?}; valid methods: {}",
                list(available)
            ),
            RpcError::EncodeArgs(reason) => write!(f, "cannot encode the arguments: {reason}"),
            RpcError::DecodeArgs { method, reason } => write!(
                f,
                "{method}: the request does not decode as the handler's argument type: {reason}"
            ),
            RpcError::EncodeReply { method, reason } => {
                write!(f, "{method}: cannot encode the reply: {reason}")
            }
            RpcError::DecodeReply { method, reason } => write!(
                f,
                "{method}: the reply does not decode as the requested reply type: {reason}"
            ),
            RpcError::HandlerPanicked { method, message } => {
                write!(f, "{method}: the handler panicked: {message}")
            }
        }
    }
}

impl std::error::Error for RpcError {}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}
