// @solution-file 2A
//! The RPCs peers send each other (Figure 2, and Figure 13 for snapshots),
//! with the fast-backtracking fields of a rejected AppendEntries.

use serde::{Deserialize, Serialize};

use crate::log::Entry;
use crate::membership::Membership;

/// The labrpc method names of the `"Raft"` service.
pub(crate) const REQUEST_VOTE: &str = "Raft.RequestVote";
pub(crate) const APPEND_ENTRIES: &str = "Raft.AppendEntries";
pub(crate) const INSTALL_SNAPSHOT: &str = "Raft.InstallSnapshot";

/// A candidate asks for a vote.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RequestVoteArgs {
    pub term: u64,
    pub candidate: usize,
    pub last_log_index: u64,
    pub last_log_term: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RequestVoteReply {
    pub term: u64,
    pub vote_granted: bool,
}

/// A leader replicates entries after `prev_log_index` (none for a heartbeat).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AppendEntriesArgs {
    pub term: u64,
    pub leader: usize,
    pub prev_log_index: u64,
    pub prev_log_term: u64,
    pub entries: Vec<Entry>,
    pub leader_commit: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AppendEntriesReply {
    pub term: u64,
    pub success: bool,
    /// On a rejection, what lets the leader skip a whole term per round trip.
    pub conflict: Option<Conflict>,
}

/// Why a follower's log does not match at `prev_log_index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Conflict {
    /// The term of the follower's entry at `prev_log_index`; `None` when
    /// its log is too short to have one.
    pub term: Option<u64>,
    /// The first index the follower holds with that term.
    pub first_index_of_term: u64,
    /// The follower's log length (its last index).
    pub log_len: u64,
}

/// A leader sends a follower that lags behind its snapshot one chunk of
/// it: `data` goes at byte `offset`, and `done` marks the last chunk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct InstallSnapshotArgs {
    pub term: u64,
    pub leader: usize,
    pub last_included_index: u64,
    pub last_included_term: u64,
    /// The configuration in force at `last_included_index` (Figure 13,
    /// step 8: the receiver loads it with the snapshot).
    pub membership: Membership,
    pub offset: u64,
    #[serde(with = "crate::bytes")]
    pub data: Vec<u8>,
    pub done: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct InstallSnapshotReply {
    pub term: u64,
    /// How many bytes of the sent snapshot the follower holds, from its
    /// start: where the leader's next chunk must begin.
    pub received: u64,
    /// The follower now holds every entry the snapshot covers (it installed
    /// the snapshot, or had already committed past it).
    pub installed: bool,
}

/// A request one peer is about to send another.
#[derive(Debug)]
pub(crate) enum Request {
    Vote(RequestVoteArgs),
    Append(AppendEntriesArgs),
    Snapshot(InstallSnapshotArgs),
}

/// A request addressed to peer `to`, with the number that tells whether
/// its reply answers the leader's latest send to that peer (0 for votes).
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub to: usize,
    pub seq: u64,
    pub request: Request,
}

/// What a leader needs to remember of an AppendEntries to act on its reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SentAppend {
    pub term: u64,
    pub seq: u64,
    pub prev_log_index: u64,
    pub entry_count: u64,
}

/// What a leader needs to remember of an InstallSnapshot to act on its reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SentSnapshot {
    pub term: u64,
    pub seq: u64,
    pub last_included_index: u64,
}
