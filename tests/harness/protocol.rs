//! What the judge (a test, in its own process) and a judged process (one
//! Raft peer, KV server or clerk, running student code) say to each other
//! over the socket that is the judged process's stdin.
//!
//! Every message is a frame: a 4-byte little-endian length, then the
//! message in postcard. The judge trusts nothing it reads here: a message
//! that does not decode, or a frame over [`MAX_FRAME`], ends that process
//! as a failure of the test.

use std::io::{self, Read, Write};

use labrpc::RpcError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The largest frame either side accepts: far above any snapshot the tests
/// make, far below what would hurt the judge to allocate.
pub const MAX_FRAME: usize = 64 << 20;

/// What a judged process hosts, sent as its first message.
#[derive(Debug, Serialize, Deserialize)]
pub enum Role {
    /// `Raft::new(ends, me, persister, apply_ch)`: a Raft peer of `n`,
    /// restored from the judge's copy of its persisted bytes.
    Raft {
        /// The number of peers (and of ends).
        n: usize,
        /// This peer's index.
        me: usize,
        /// The saved Raft state.
        raft_state: Vec<u8>,
        /// The saved snapshot.
        snapshot: Vec<u8>,
        /// `Some(members)`: `Raft::with_members(.., members)` instead (2E).
        members: Option<Vec<usize>>,
    },
    /// `KvServer::new(ends, me, persister, max_raft_state)`.
    KvServer {
        /// The number of servers (and of ends).
        n: usize,
        /// This server's index.
        me: usize,
        /// The saved Raft state.
        raft_state: Vec<u8>,
        /// The saved snapshot.
        snapshot: Vec<u8>,
        /// When the server snapshots.
        max_raft_state: Option<usize>,
        /// `Some(members)`: `KvServer::with_members(.., members)` instead (2E).
        members: Option<Vec<usize>>,
    },
    /// `Clerk::new(ends)`, with `n` ends.
    Clerk {
        /// The number of ends.
        n: usize,
    },
    /// A server with one method, `Echo.Null`, that returns its request, and
    /// a client that times calls on end 0 when asked ([`ToPeer::TimeCalls`]):
    /// the bench of a call between two judged processes.
    Echo,
}

/// A configuration, as `raft::Membership` says it (the judge does not link
/// the `raft` crate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Members {
    /// `Membership::Stable(members)`.
    Stable(Vec<usize>),
    /// `Membership::Joint { old, new }`.
    Joint {
        /// The configuration being left.
        old: Vec<usize>,
        /// The configuration being entered.
        new: Vec<usize>,
    },
}

impl Members {
    /// Whether this is `C_old,new`, a change under way.
    pub fn is_joint(&self) -> bool {
        matches!(self, Members::Joint { .. })
    }
}

/// Why `Raft::change_membership` refused, as `raft::MembershipError` says it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// `MembershipError::NotLeader`.
    NotLeader,
    /// `MembershipError::ChangeInProgress`.
    ChangeInProgress,
    /// `MembershipError::Invalid(why)`.
    Invalid(String),
}

/// A clerk operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ClerkOp {
    /// `Clerk::get(key)`.
    Get(String),
    /// `Clerk::put(key, value)`.
    Put(String, String),
    /// `Clerk::append(key, value)`.
    Append(String, String),
}

/// A message from the judge to a judged process.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToPeer {
    /// The first message: what to host.
    Init(Role),
    /// A call that reached this process's server through the judge's
    /// network; answer with [`FromPeer::Handled`].
    Handle {
        /// The judge's id for the call.
        call: u64,
        /// `"Service.Method"`.
        method: String,
        /// The request's bytes.
        request: Vec<u8>,
    },
    /// The outcome of this process's call [`FromPeer::Call`] `call`.
    Reply {
        /// The id the process gave the call.
        call: u64,
        /// The reply's bytes, or why there is none.
        outcome: Result<Vec<u8>, RpcError>,
    },
    /// Call `Raft::start(command)`; answer with [`FromPeer::Started`].
    Start {
        /// The judge's id for the request.
        req: u64,
        /// The command's bytes.
        command: Vec<u8>,
    },
    /// Call `get_state()`; answer with [`FromPeer::State`].
    GetState {
        /// The judge's id for the request.
        req: u64,
    },
    /// Call `Raft::read_index()`; answer with [`FromPeer::ReadIndexed`].
    ReadIndex {
        /// The judge's id for the request.
        req: u64,
    },
    /// Call `Raft::change_membership(members)`; answer with
    /// [`FromPeer::MembershipChanged`].
    ChangeMembership {
        /// The judge's id for the request.
        req: u64,
        /// The requested voting members.
        members: Vec<usize>,
    },
    /// Call `Raft::membership()`; answer with [`FromPeer::Membership`].
    GetMembership {
        /// The judge's id for the request.
        req: u64,
    },
    /// The judge has checked the last [`FromPeer::Applied`] message: take
    /// the next one from `apply_ch`, after calling `Raft::snapshot(index,
    /// data)` if `snapshot` is set (then say [`FromPeer::SnapshotTaken`]).
    ApplyDone {
        /// The snapshot to hand to Raft, as a service would.
        snapshot: Option<(u64, Vec<u8>)>,
    },
    /// Run a clerk operation; answer with [`FromPeer::ClerkDone`].
    Clerk {
        /// The judge's id for the request.
        req: u64,
        /// The operation.
        op: ClerkOp,
    },
    /// Make `calls` calls of `Echo.Null` on end 0, one after another, and
    /// answer with [`FromPeer::CallTimes`].
    TimeCalls {
        /// The judge's id for the request.
        req: u64,
        /// How many calls.
        calls: usize,
    },
}

/// What a peer applied, as `raft::ApplyMsg` says it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// `ApplyMsg::Command`.
    Command {
        /// The command's log index.
        index: u64,
        /// The term of its entry.
        term: u64,
        /// The command's bytes.
        command: Vec<u8>,
    },
    /// `ApplyMsg::Snapshot`.
    Snapshot {
        /// The last index the snapshot covers.
        index: u64,
        /// The term of the entry at `index`.
        term: u64,
        /// The snapshot's bytes.
        data: Vec<u8>,
    },
    /// `ApplyMsg::Membership`.
    Membership {
        /// The configuration entry's log index.
        index: u64,
        /// The term of its entry.
        term: u64,
        /// The configuration it put in force.
        members: Members,
    },
}

/// A message from a judged process to the judge.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromPeer {
    /// A call on this process's end `end` (the index in the ends it was
    /// given); the judge routes it through its network and answers with
    /// [`ToPeer::Reply`].
    Call {
        /// The process's id for the call.
        call: u64,
        /// Which end.
        end: usize,
        /// `"Service.Method"`.
        method: String,
        /// The request's bytes.
        request: Vec<u8>,
    },
    /// The answer to [`ToPeer::Handle`] `call`.
    Handled {
        /// The judge's id for the call.
        call: u64,
        /// The reply's bytes, or the error the server gave.
        outcome: Result<Vec<u8>, RpcError>,
    },
    /// `Persister::save(raft_state, snapshot)` was called.
    Saved {
        /// The new Raft state.
        raft_state: Vec<u8>,
        /// The new snapshot, if the save replaced it.
        snapshot: Option<Vec<u8>>,
    },
    /// The next message the peer sent on `apply_ch`; the judge answers with
    /// [`ToPeer::ApplyDone`].
    Applied(Applied),
    /// The `Raft::snapshot` call asked for by [`ToPeer::ApplyDone`] returned.
    SnapshotTaken,
    /// `Raft::start` returned this.
    Started {
        /// The request's id.
        req: u64,
        /// `Some((index, term))` if the peer took the command as leader.
        result: Option<(u64, u64)>,
    },
    /// `get_state()` returned this.
    State {
        /// The request's id.
        req: u64,
        /// The current term.
        term: u64,
        /// Whether the peer believes it leads.
        leader: bool,
    },
    /// `read_index()` returned this.
    ReadIndexed {
        /// The request's id.
        req: u64,
        /// What it returned.
        index: Option<u64>,
    },
    /// `change_membership()` returned this.
    MembershipChanged {
        /// The request's id.
        req: u64,
        /// What it returned.
        result: Result<(), Refusal>,
    },
    /// `membership()` returned this.
    Membership {
        /// The request's id.
        req: u64,
        /// The configuration the peer uses.
        members: Members,
    },
    /// A clerk operation returned (`value` is a Get's, else empty).
    ClerkDone {
        /// The request's id.
        req: u64,
        /// What the operation returned.
        value: String,
    },
    /// The answer to [`ToPeer::TimeCalls`]: each call's round trip.
    CallTimes {
        /// The request's id.
        req: u64,
        /// Nanoseconds per call; `None` for a call that failed.
        nanos: Vec<Option<u64>>,
    },
    /// A log line (`log` crate) of the process.
    Log {
        /// `log::Level` as a number: 1 = error ... 5 = trace.
        level: u8,
        /// The record's target (e.g. `raft::replication`).
        target: String,
        /// The formatted message.
        message: String,
    },
    /// A thread of the process panicked; the process aborts next.
    Panicked {
        /// The panic's message and location.
        message: String,
    },
}

/// Writes `message` as one frame.
pub fn write_frame<W: Write, T: Serialize>(out: &mut W, message: &T) -> io::Result<()> {
    let mut frame = vec![0; 4];
    postcard::to_io(message, &mut frame).map_err(|e| io::Error::other(e.to_string()))?;
    let len = u32::try_from(frame.len() - 4)
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::other(format!("a frame of {} bytes", frame.len() - 4)))?;
    frame[..4].copy_from_slice(&len.to_le_bytes());
    out.write_all(&frame)
}

/// Reads one frame: `Ok(None)` at the end of the stream between frames;
/// an error for a frame cut short, over [`MAX_FRAME`], or that does not
/// decode as a `T`.
pub fn read_frame<R: Read, T: DeserializeOwned>(input: &mut R) -> io::Result<Option<T>> {
    let mut len = [0; 4];
    match input.read(&mut len[..1])? {
        0 => return Ok(None),
        _ => input.read_exact(&mut len[1..])?,
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::other(format!(
            "a frame of {len} bytes, over the limit of {MAX_FRAME}"
        )));
    }
    let mut body = vec![0; len];
    input.read_exact(&mut body)?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|e| io::Error::other(format!("a message that does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut stream = Vec::new();
        write_frame(&mut stream, &ToPeer::GetState { req: 7 }).unwrap();
        write_frame(
            &mut stream,
            &ToPeer::Start {
                req: 8,
                command: vec![1, 2],
            },
        )
        .unwrap();
        let mut input = stream.as_slice();
        let first: Option<ToPeer> = read_frame(&mut input).unwrap();
        assert!(matches!(first, Some(ToPeer::GetState { req: 7 })));
        let second: Option<ToPeer> = read_frame(&mut input).unwrap();
        assert!(
            matches!(second, Some(ToPeer::Start { req: 8, ref command }) if command == &[1, 2])
        );
        assert!(read_frame::<_, ToPeer>(&mut input).unwrap().is_none());
    }

    #[test]
    fn a_cut_oversized_or_garbled_frame_is_an_error() {
        let mut stream = Vec::new();
        write_frame(&mut stream, &ToPeer::GetState { req: 7 }).unwrap();
        let cut = &stream[..stream.len() - 1];
        assert!(read_frame::<_, ToPeer>(&mut &cut[..]).is_err());
        let huge = (MAX_FRAME as u32 + 1).to_le_bytes();
        let err = read_frame::<_, ToPeer>(&mut &huge[..]).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        let garbled = [1, 0, 0, 0, 0xff];
        let err = read_frame::<_, ToPeer>(&mut &garbled[..]).unwrap_err();
        assert!(err.to_string().contains("does not decode"), "{err}");
    }
}
