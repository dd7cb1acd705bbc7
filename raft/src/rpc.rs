// @solution-file 2A
//! What a peer keeps of the RPCs it sends; the messages themselves are
//! given, in `raft_messages`.

pub(crate) use raft_messages::{
    AppendEntriesArgs, AppendEntriesReply, Conflict, InstallSnapshotArgs, InstallSnapshotReply,
    RequestVoteArgs, RequestVoteReply, APPEND_ENTRIES, INSTALL_SNAPSHOT, REQUEST_VOTE,
};

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
