//! What a peer hands its service, and the thread that hands it over.

// @solution 2B
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender};

use crate::shared::Shared;
use crate::state::Core;
use crate::timing::MAX_APPLY_BATCH;

// @stub
// @end
use crate::membership::Membership;

/// A message from Raft to its service on the apply channel.
///
/// Messages arrive in strictly increasing index order without gaps; a
/// snapshot stands for every index up to and including its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyMsg {
    /// The committed command at `index`, received by a leader in `term`.
    Command {
        /// The command's log index (the first is 1).
        index: u64,
        /// The term of the command's log entry.
        term: u64,
        /// The command, as passed to [`Raft::start`](crate::Raft::start).
        command: Vec<u8>,
    },
    /// A snapshot covering every index up to and including `index`: the
    /// service replaces its state with `data`.
    Snapshot {
        /// The last index the snapshot covers.
        index: u64,
        /// The term of the entry at `index`.
        term: u64,
        /// The service's snapshot, as passed to
        /// [`Raft::snapshot`](crate::Raft::snapshot) on some peer.
        data: Vec<u8>,
    },
    /// The committed configuration entry at `index` (lab 2E): it takes an
    /// index like a command, so the service applies nothing there but
    /// counts it as applied.
    Membership {
        /// The entry's log index.
        index: u64,
        /// The term of the entry.
        term: u64,
        /// The configuration it put in force.
        membership: Membership,
    },
}
// @solution 2B

/// How long a send to a full apply channel waits before it checks whether
/// the peer was killed meanwhile.
const KILL_CHECK: Duration = Duration::from_millis(20);

/// Delivers committed entries and installed snapshots until the peer is
/// killed. It holds no lock while sending, so the service may call back
/// into Raft (e.g. [`Raft::snapshot`](crate::Raft::snapshot)) from the
/// thread that reads `apply_ch`.
pub(crate) fn run_applier(shared: Arc<Shared>, apply_ch: Sender<ApplyMsg>) {
    loop {
        let batch = {
            let mut core = shared.core.lock();
            loop {
                if shared.dead.load(Ordering::Acquire) {
                    return;
                }
                let batch = core.take_apply_batch();
                if !batch.is_empty() {
                    break batch;
                }
                shared.apply_ready.wait(&mut core);
            }
        };
        for msg in batch {
            if !deliver(&shared, &apply_ch, msg) {
                return;
            }
        }
    }
}

/// Sends `msg`; false if the peer was killed or the service is gone.
fn deliver(shared: &Shared, apply_ch: &Sender<ApplyMsg>, mut msg: ApplyMsg) -> bool {
    loop {
        if shared.dead.load(Ordering::Acquire) {
            return false;
        }
        match apply_ch.send_timeout(msg, KILL_CHECK) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(unsent)) => msg = unsent,
            Err(SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}

impl Core {
    /// Whether the applier has something to deliver.
    pub fn has_apply_work(&self) -> bool {
        self.pending_snapshot.is_some() || self.last_applied < self.commit_index
    }

    /// The next messages for the service, marked as handed over: a pending
    /// snapshot first (it supersedes the entries it covers), else the
    /// committed entries after `last_applied`.
    pub fn take_apply_batch(&mut self) -> Vec<ApplyMsg> {
        if let Some(snapshot) = self.pending_snapshot.take() {
            self.last_applied = self.last_applied.max(snapshot.index);
            return vec![ApplyMsg::Snapshot {
                index: snapshot.index,
                term: snapshot.term,
                data: snapshot.data,
            }];
        }
        let through = self.commit_index.min(self.last_applied + MAX_APPLY_BATCH);
        if through <= self.last_applied {
            return Vec::new();
        }
        let first = self.last_applied + 1;
        let count = (through - self.last_applied) as usize;
        let batch = self
            .log
            .entries_from(first, count)
            .iter()
            .zip(first..)
            .map(|(entry, index)| match &entry.membership {
                Some(membership) => ApplyMsg::Membership {
                    index,
                    term: entry.term,
                    membership: membership.clone(),
                },
                None => ApplyMsg::Command {
                    index,
                    term: entry.term,
                    command: entry.command.clone(),
                },
            })
            .collect();
        self.last_applied = through;
        batch
    }
}
// @stub
//> // Your code here (2B): a thread that sends each committed entry, in
//> // order, on the apply channel given to `Raft::new`.
// @end
