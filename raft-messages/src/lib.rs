//! The messages Raft peers send each other, as Figures 2 and 13 of the
//! extended Raft paper state them: RequestVote, AppendEntries (with the
//! fields of fast log backtracking) and InstallSnapshot (in chunks), the
//! log entry they carry, and the cluster configuration of lab 2E.
//!
//! These types are given, not written by students: the judge (the test
//! harness) reads every message on the `"Raft"` service to check it against
//! the rules of Raft as it passes, so a peer may put only these messages
//! there, under the method names below, encoded by labrpc (postcard).
//! How a peer decides what to send is yours to write; what it sends is
//! fixed here.

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod bytes;

/// The labrpc method of RequestVote on the `"Raft"` service.
pub const REQUEST_VOTE: &str = "Raft.RequestVote";
/// The labrpc method of AppendEntries on the `"Raft"` service.
pub const APPEND_ENTRIES: &str = "Raft.AppendEntries";
/// The labrpc method of InstallSnapshot on the `"Raft"` service.
pub const INSTALL_SNAPSHOT: &str = "Raft.InstallSnapshot";

/// A cluster configuration: the peers (indices of `peers` in
/// `Raft::with_members`) whose votes elect a leader and whose logs commit
/// an entry.
///
/// A configuration is a log entry: a peer uses the latest one in its log,
/// committed or not, and the one its snapshot carries if its log holds none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Membership {
    /// `C`: one set of voting members; a majority of it decides.
    Stable(Vec<usize>),
    /// `C_old,new`, while a change is under way: a decision needs a
    /// majority of `old` and, counted separately, a majority of `new`.
    Joint {
        /// The configuration being left.
        old: Vec<usize>,
        /// The configuration being entered.
        new: Vec<usize>,
    },
}

impl Membership {
    /// Every peer that votes in this configuration (of either set when
    /// joint), in increasing order, each once.
    pub fn voters(&self) -> Vec<usize> {
        let mut voters = match self {
            Membership::Stable(members) => members.clone(),
            Membership::Joint { old, new } => old.iter().chain(new).copied().collect(),
        };
        voters.sort_unstable();
        voters.dedup();
        voters
    }

    /// Whether `peer` votes in this configuration.
    pub fn contains(&self, peer: usize) -> bool {
        match self {
            Membership::Stable(members) => members.contains(&peer),
            Membership::Joint { old, new } => old.contains(&peer) || new.contains(&peer),
        }
    }

    /// Whether the peers for which `yes` holds decide in this
    /// configuration: more than half of its members, or, when joint, more
    /// than half of `old` and, counted separately, of `new`.
    pub fn is_quorum(&self, yes: impl Fn(usize) -> bool) -> bool {
        let majority =
            |members: &[usize]| 2 * members.iter().filter(|&&m| yes(m)).count() > members.len();
        match self {
            Membership::Stable(members) => majority(members),
            Membership::Joint { old, new } => majority(old) && majority(new),
        }
    }

    /// Whether this is `C_old,new`, a change under way.
    pub fn is_joint(&self) -> bool {
        matches!(self, Membership::Joint { .. })
    }
}

impl fmt::Display for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Membership::Stable(members) => write!(f, "{members:?}"),
            Membership::Joint { old, new } => write!(f, "{old:?}+{new:?}"),
        }
    }
}

/// One log entry: a command, or a configuration (lab 2E), and the term in
/// which a leader received it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that received the entry.
    pub term: u64,
    /// The service's command; empty in a configuration entry.
    #[serde(with = "crate::bytes")]
    pub command: Vec<u8>,
    /// The configuration this entry puts in force, if it is one.
    pub membership: Option<Membership>,
}

impl Entry {
    /// An entry carrying the service's `command`.
    pub fn command(term: u64, command: Vec<u8>) -> Entry {
        Entry {
            term,
            command,
            membership: None,
        }
    }

    /// An entry that puts `membership` in force.
    pub fn membership(term: u64, membership: Membership) -> Entry {
        Entry {
            term,
            command: Vec::new(),
            membership: Some(membership),
        }
    }
}

/// A candidate asks for a vote (Figure 2, RequestVote arguments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteArgs {
    /// The candidate's term.
    pub term: u64,
    /// The candidate asking (its index in `peers`).
    pub candidate: usize,
    /// The index of the candidate's last log entry (0 for an empty log).
    pub last_log_index: u64,
    /// The term of the candidate's last log entry (0 for an empty log).
    pub last_log_term: u64,
}

/// The answer to a [`RequestVoteArgs`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteReply {
    /// The voter's current term, for the candidate to update itself.
    pub term: u64,
    /// Whether the voter granted its vote for `term` to the candidate.
    pub vote_granted: bool,
}

/// A leader replicates entries after `prev_log_index` (none for a
/// heartbeat) (Figure 2, AppendEntries arguments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesArgs {
    /// The leader's term.
    pub term: u64,
    /// The leader (its index in `peers`).
    pub leader: usize,
    /// The index of the entry just before `entries`.
    pub prev_log_index: u64,
    /// The term of the entry at `prev_log_index` (0 when it is 0).
    pub prev_log_term: u64,
    /// The entries from `prev_log_index + 1` on; empty for a heartbeat.
    pub entries: Vec<Entry>,
    /// The leader's commit index.
    pub leader_commit: u64,
}

/// The answer to an [`AppendEntriesArgs`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesReply {
    /// The follower's current term, for the leader to update itself.
    pub term: u64,
    /// Whether the follower held the entry at `prev_log_index` with
    /// `prev_log_term`, and so took the entries.
    pub success: bool,
    /// On a rejection, what lets the leader skip a whole term per round trip.
    pub conflict: Option<Conflict>,
}

/// Why a follower's log does not match at `prev_log_index` (fast log
/// backtracking, end of §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The term of the follower's entry at `prev_log_index`; `None` when
    /// its log is too short to have one.
    pub term: Option<u64>,
    /// The first index the follower holds with that term.
    pub first_index_of_term: u64,
    /// The follower's log length (its last index).
    pub log_len: u64,
}

/// A leader sends a follower that lags behind its snapshot one chunk of
/// it: `data` goes at byte `offset`, and `done` marks the last chunk
/// (Figure 13, InstallSnapshot arguments).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotArgs {
    /// The leader's term.
    pub term: u64,
    /// The leader (its index in `peers`).
    pub leader: usize,
    /// The snapshot replaces every entry up to and including this index.
    pub last_included_index: u64,
    /// The term of the entry at `last_included_index`.
    pub last_included_term: u64,
    /// The configuration in force at `last_included_index` (Figure 13,
    /// step 8: the receiver loads it with the snapshot).
    pub membership: Membership,
    /// Where this chunk goes in the snapshot, in bytes.
    pub offset: u64,
    /// The chunk.
    #[serde(with = "crate::bytes")]
    pub data: Vec<u8>,
    /// Whether this is the last chunk.
    pub done: bool,
}

/// The answer to an [`InstallSnapshotArgs`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotReply {
    /// The follower's current term, for the leader to update itself.
    pub term: u64,
    /// How many bytes of the sent snapshot the follower holds, from its
    /// start: where the leader's next chunk must begin.
    pub received: u64,
    /// The follower now holds every entry the snapshot covers (it installed
    /// the snapshot, or had already committed past it).
    pub installed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joint_voters_are_both_sets_once() {
        let joint = Membership::Joint {
            old: vec![0, 1, 2],
            new: vec![2, 3, 4],
        };
        assert_eq!(joint.voters(), vec![0, 1, 2, 3, 4]);
        assert!(joint.contains(0) && joint.contains(4) && !joint.contains(5));
        assert_eq!(joint.to_string(), "[0, 1, 2]+[2, 3, 4]");
    }

    #[test]
    fn a_joint_quorum_needs_a_majority_of_each_set() {
        let joint = Membership::Joint {
            old: vec![0, 1, 2],
            new: vec![2, 3, 4],
        };
        assert!(!joint.is_quorum(|p| [0, 1, 3].contains(&p)));
        assert!(joint.is_quorum(|p| [1, 2, 3].contains(&p)));
        let stable = Membership::Stable(vec![0, 1, 2, 3]);
        assert!(!stable.is_quorum(|p| p < 2), "half is no majority");
        assert!(stable.is_quorum(|p| p < 3));
    }
}
