// @solution-file 2A
//! A peer's state (Figure 2), its role, and the transitions every part of
//! the protocol shares: adopting a newer term, timers, persisting.
//!
//! The protocol itself is spread over `election.rs`, `replication.rs`,
//! `follower.rs` and `snapshot.rs`, each adding methods to [`Core`].

use std::sync::Arc;
use std::time::Instant;

use crate::log::Log;
use crate::membership::Membership;
use crate::persist::{self, Durable};
use crate::persister::Persister;
use crate::read_index::ReadRounds;
use crate::rpc::Outgoing;
use crate::timing::{self, HEARTBEAT_INTERVAL};

/// Everything a peer knows, guarded by one lock in [`Shared`](crate::shared::Shared).
pub(crate) struct Core {
    pub me: usize,
    pub peer_count: usize,
    /// The configuration before any in the log or the snapshot: the
    /// members given to `Raft::with_members`.
    pub initial_membership: Membership,
    pub term: u64,
    pub voted_for: Option<usize>,
    pub log: Log,
    pub role: Role,
    pub commit_index: u64,
    /// The last index handed to the applier thread.
    pub last_applied: u64,
    /// A snapshot the applier must deliver before any further entry.
    pub pending_snapshot: Option<PendingSnapshot>,
    /// The chunks of a leader's snapshot received so far (Figure 13);
    /// not saved, so a crash mid-transfer starts the transfer again.
    pub partial_snapshot: Option<PartialSnapshot>,
    /// The most snapshot bytes one InstallSnapshot carries.
    pub chunk_size: usize,
    /// A follower or candidate starts an election when this passes.
    pub election_deadline: Instant,
    /// When a current leader last spoke to us: within the minimum election
    /// timeout of it we ignore RequestVotes (a removed server's among them).
    pub leader_contact: Option<Instant>,
    /// Term, vote or log changed since the last save in a way that must
    /// be saved before the lock is released.
    pub dirty: bool,
    /// The last log index the saved state holds.
    pub saved_through: u64,
    /// Entries this peer appended as leader are unsaved: they may stay so
    /// a while (see [`Core::own_entries_due`]).
    pub own_entries_unsaved: bool,
    pub persister: Arc<Persister>,
}

/// A snapshot waiting for the applier.
pub(crate) struct PendingSnapshot {
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}

/// A snapshot arriving in chunks: the leader's term and the snapshot's
/// last index tell its chunks from those of any other snapshot.
pub(crate) struct PartialSnapshot {
    pub leader_term: u64,
    pub index: u64,
    pub term: u64,
    pub membership: Membership,
    pub data: Vec<u8>,
}

pub(crate) enum Role {
    Follower,
    /// `votes[i]`: peer i granted its vote in this term.
    Candidate {
        votes: Vec<bool>,
    },
    Leader(Leadership),
}

/// A leader's view of its followers.
pub(crate) struct Leadership {
    /// Indexed by peer; the leader's own slot is unused.
    pub progress: Vec<Progress>,
    pub heartbeat_due: Instant,
    /// Reads waiting to learn that this peer still leads.
    pub reads: ReadRounds,
    /// A requested configuration whose new servers are still catching up
    /// as learners; `C_old,new` is appended once they have.
    pub catching_up: Option<Vec<usize>>,
}

/// How far one follower's log is known to match the leader's.
pub(crate) struct Progress {
    pub next_index: u64,
    pub match_index: u64,
    /// Numbers the sends to this follower.
    pub seq: u64,
    /// Sends numbered above `counted_after` that are still unanswered.
    pub unanswered: usize,
    /// The number of the last send before the latest heartbeat: a reply
    /// to an older send no longer counts, so a lost one is waited for only
    /// until the next heartbeat.
    pub counted_after: u64,
    /// Where the follower's log matches ours is unknown (we were just
    /// elected, or it refused entries, or a send was lost): one send at a
    /// time until one succeeds. Otherwise appends are pipelined, up to
    /// [`MAX_APPENDS_IN_FLIGHT`](crate::timing::MAX_APPENDS_IN_FLIGHT)
    /// unanswered, each starting where the one before ended.
    pub probing: bool,
    /// The latest send failed in the network: further sends wait for the
    /// next heartbeat, so a cut-off follower costs ten RPCs a second.
    pub unreachable: bool,
    /// The commit index the follower was last told.
    pub commit_sent: u64,
    /// The snapshot (by last index) being sent to the follower, and how
    /// many of its bytes the follower has said it holds.
    pub snapshot_index: u64,
    pub snapshot_offset: u64,
    /// When the follower last answered in this term.
    pub last_heard: Instant,
}

impl Core {
    /// A peer restored from what `persister` holds (a fresh peer if empty)
    /// of a cluster whose initial voting members are `members`.
    pub fn restore(
        me: usize,
        peer_count: usize,
        members: Vec<usize>,
        persister: Arc<Persister>,
    ) -> Core {
        let saved = persister.raft_state();
        let durable = Durable::decode(&saved).unwrap_or_else(|e| {
            panic!(
                "S{me}: cannot restore: the saved Raft state ({} bytes) does not decode \
                 as term, vote, snapshot position and log: {e}",
                saved.len()
            )
        });
        let (term, voted_for) = (durable.term, durable.voted_for);
        let log = durable.into_log();
        let saved_through = log.last_index();
        let pending_snapshot = (log.snapshot_index() > 0).then(|| PendingSnapshot {
            index: log.snapshot_index(),
            term: log.snapshot_term(),
            data: persister.snapshot(),
        });
        let core = Core {
            me,
            peer_count,
            initial_membership: Membership::Stable(members),
            term,
            voted_for,
            commit_index: log.snapshot_index(),
            last_applied: log.snapshot_index(),
            log,
            role: Role::Follower,
            pending_snapshot,
            partial_snapshot: None,
            chunk_size: crate::snapshot_chunk_size(),
            election_deadline: Instant::now() + timing::election_timeout(),
            leader_contact: None,
            dirty: false,
            saved_through,
            own_entries_unsaved: false,
            persister,
        };
        peer_log!(
            debug,
            core,
            "start: vote {:?}, log {}..={}, members {}",
            core.voted_for,
            core.log.snapshot_index(),
            core.log.last_index(),
            core.membership()
        );
        core
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The other peers this one talks to: the voters of its configuration,
    /// and a leader's learners too.
    pub fn others(&self) -> Vec<usize> {
        let mut others = self.membership().voters();
        if let Role::Leader(Leadership {
            catching_up: Some(members),
            ..
        }) = &self.role
        {
            others.extend(members);
            others.sort_unstable();
            others.dedup();
        }
        others.retain(|&peer| peer != self.me);
        others
    }

    /// Adopts `term` if it is newer than ours (Figure 2, "all servers"),
    /// stepping down to follower with no vote cast yet.
    pub fn observe_term(&mut self, term: u64, now: Instant) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.dirty = true;
            self.become_follower(now);
        }
    }

    /// Becomes a follower in the current term. A leader that steps down
    /// gives the new leader a full election timeout before it stands itself.
    pub fn become_follower(&mut self, now: Instant) {
        match self.role {
            Role::Follower => {}
            Role::Candidate { .. } => {
                peer_log!(debug, self, "candidate steps down to follower");
                self.role = Role::Follower;
            }
            Role::Leader(_) => {
                peer_log!(debug, self, "leader steps down to follower");
                self.role = Role::Follower;
                self.reset_election_deadline(now);
            }
        }
    }

    /// A leader of `term`, at least as new as ours, has spoken: adopt its
    /// term, follow it, and give it a full election timeout.
    pub fn follow_leader(&mut self, term: u64, now: Instant) {
        self.observe_term(term, now);
        self.become_follower(now);
        self.reset_election_deadline(now);
        self.leader_contact = Some(now);
    }

    pub fn reset_election_deadline(&mut self, now: Instant) {
        self.election_deadline = now + timing::election_timeout();
    }

    /// When the driver must next act on its own: a leader's heartbeat, or
    /// anyone else's election timeout.
    pub fn next_deadline(&self) -> Instant {
        match &self.role {
            Role::Leader(leadership) => leadership.heartbeat_due,
            _ => self.election_deadline,
        }
    }

    /// Acts on whichever timer has passed: an election timeout starts an
    /// election, a leader's heartbeat goes to every follower.
    pub fn on_timers(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        if !self.is_leader() && now >= self.election_deadline {
            if self.membership().contains(self.me) {
                self.start_election(now, out);
            } else {
                // Not a voter (yet, or any more): never stand.
                self.reset_election_deadline(now);
            }
        }
        if let Role::Leader(leadership) = &mut self.role {
            // A read waiting to confirm leadership gets its heartbeat now.
            if now >= leadership.heartbeat_due || leadership.reads.broadcast_due() {
                leadership.heartbeat_due = now + HEARTBEAT_INTERVAL;
                self.broadcast(now, out);
            }
        }
    }

    /// Saves term, vote and log if they changed since the last save in a
    /// way that must be saved now.
    pub fn flush(&mut self) {
        if self.dirty || self.own_entries_due() {
            self.save(None);
        }
    }

    /// Saves term, vote and log now, with a new snapshot when `Some`.
    pub fn save(&mut self, snapshot: Option<Vec<u8>>) {
        let state = persist::encode(self.term, self.voted_for, &self.log);
        self.persister.save(state, snapshot);
        self.dirty = false;
        self.saved_through = self.log.last_index();
        self.own_entries_unsaved = false;
    }
}

impl Leadership {
    /// A new leader's view: every follower presumed up to date (Figure 2)
    /// and in contact, and a heartbeat due at once to claim leadership.
    pub fn new(peer_count: usize, last_index: u64, now: Instant) -> Leadership {
        let progress = (0..peer_count)
            .map(|_| Progress {
                next_index: last_index + 1,
                match_index: 0,
                seq: 0,
                unanswered: 0,
                counted_after: 0,
                probing: true,
                unreachable: false,
                commit_sent: 0,
                snapshot_index: 0,
                snapshot_offset: 0,
                last_heard: now,
            })
            .collect();
        Leadership {
            progress,
            heartbeat_due: now,
            reads: ReadRounds::default(),
            catching_up: None,
        }
    }
}
