// @solution-file 3A
//! What travels between a clerk and a server, and through the Raft log.

use serde::{Deserialize, Serialize};

/// The labrpc method a clerk calls: `"KV.Execute"`.
pub(crate) const EXECUTE: &str = "KV.Execute";
/// The name of the service that hosts [`EXECUTE`].
pub(crate) const SERVICE: &str = "KV";
/// The method part of [`EXECUTE`].
pub(crate) const METHOD: &str = "Execute";

/// One key/value operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Op {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    Append {
        key: String,
        value: String,
    },
    /// Changes nothing: a leader's first entry of its term, written so
    /// that reads can be confirmed (see `read.rs`).
    Noop,
}

/// A clerk's request: the RPC argument, and also the command a leader puts
/// in the Raft log, so every replica sees who asked and which attempt it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Request {
    /// The clerk's random id.
    pub client: u64,
    /// The clerk's sequence number for this operation, from 1, one per
    /// operation (retries of one operation reuse it).
    pub seq: u64,
    pub op: Op,
}

/// Why a server did not execute a request; the clerk tries another server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum KvError {
    /// This server is not the leader, or stopped being it before the
    /// request committed.
    WrongLeader,
    /// This server still believes it leads, but the request did not commit
    /// in time (it may be cut off from the majority).
    Timeout,
}

/// The RPC reply: the value read by a Get (`""` for a missing key and for
/// Put and Append), or why the request was not executed.
pub(crate) type Reply = Result<String, KvError>;

impl Request {
    /// The bytes given to `Raft::start`.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a KV request always serializes")
    }

    /// Decodes a command taken from the Raft log.
    pub fn decode(bytes: &[u8]) -> Result<Request, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_log() {
        let request = Request {
            client: 7,
            seq: 3,
            op: Op::Append {
                key: "k".into(),
                value: "x 0 1 y".into(),
            },
        };
        assert_eq!(Request::decode(&request.encode()).unwrap(), request);
    }

    #[test]
    fn garbage_is_not_a_request() {
        assert!(Request::decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
