//! The public handle of one Raft peer.

// @solution 2A
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::Sender;
use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;

use crate::apply::{run_applier, ApplyMsg};
use crate::driver::{run_driver, Event};
use crate::membership::{Membership, MembershipError};
use crate::persister::Persister;
use crate::replication::group_commit;
use crate::rpc::{AppendEntriesArgs, InstallSnapshotArgs, RequestVoteArgs};
use crate::shared::Shared;
use crate::state::Core;
use crate::timing::READ_TIMEOUT;
// @stub
//> use std::sync::Arc;
//>
//> use crossbeam_channel::Sender;
//> use labrpc::{ClientEnd, Service};
//>
//> use crate::apply::ApplyMsg;
//> use crate::membership::{Membership, MembershipError};
//> use crate::persister::Persister;
// @end

/// One Raft peer: a cheap, cloneable handle (`Clone + Send + Sync`).
// @solution 2A
///
/// A peer runs two threads: a driver that runs elections and replication
/// (it alone sends RPCs) and an applier that delivers committed entries on
/// the apply channel. Both stop at [`kill`](Raft::kill), which also happens
/// when the last handle is dropped.
// @stub
// @end
#[derive(Clone)]
pub struct Raft {
    // @solution 2A
    node: Arc<Node>,
    // @stub
    //> // Your code here (2A): the state of the peer (Figure 2), shared by
    //> // the handle's clones, its threads and its RPC handlers, e.g. behind
    //> // an `Arc<Mutex<...>>`.
    //> me: usize,
    // @end
}
// @solution 2A

/// What the handles share; dropping the last one kills the peer.
struct Node {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}
// @stub
// @end

impl Raft {
    /// Starts peer `me` of the cluster `peers` (`peers[i]` reaches peer i;
    /// `peers[me]` goes unused), restoring whatever `persister` holds. It
    /// sends committed commands and snapshots on `apply_ch`; after a
    /// restart, a saved snapshot is the first message. Every peer of
    /// `peers` is a voting member (see [`with_members`](Raft::with_members)).
    ///
    /// # Panics
    ///
    /// If `me` is not an index of `peers`, or `persister` holds Raft state
    /// this crate did not save.
    pub fn new(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        apply_ch: Sender<ApplyMsg>,
    ) -> Raft {
        // @solution 2A
        let members = (0..peers.len()).collect();
        Raft::with_members(peers, me, persister, apply_ch, members)
        // @stub
        //> // Your code here (2A): restore the saved state from `persister`,
        //> // start the threads that run elections and send heartbeats, and
        //> // return at once.
        //> let _ = (peers, persister, apply_ch);
        //> Raft { me }
        // @end
    }

    /// Like [`new`](Raft::new), for a cluster whose initial voting members
    /// are `members` (indices of `peers`), unless `persister` holds a later
    /// configuration. A peer not in its configuration (a server yet to be
    /// added, or one removed) never stands for election; the leader's log
    /// or snapshot makes it a member. It still answers RequestVote like any
    /// peer: a vote `C_new` needs may come from a server that has not yet
    /// received the entry naming it.
    ///
    /// # Panics
    ///
    /// As [`new`](Raft::new), and if `members` is not a configuration of
    /// `peers` (see [`validate_members`](crate::validate_members)).
    pub fn with_members(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        apply_ch: Sender<ApplyMsg>,
        members: Vec<usize>,
    ) -> Raft {
        // @solution 2E
        assert!(
            me < peers.len(),
            "Raft::new: peer {me} of a cluster of {}",
            peers.len()
        );
        let members = crate::validate_members(members, peers.len())
            .unwrap_or_else(|e| panic!("Raft::with_members: {e}"));
        let (events, inbox) = crossbeam_channel::unbounded();
        let core = Core::restore(me, peers.len(), members, persister);
        let shared = Arc::new(Shared::new(core, events));
        let driver = {
            let shared = Arc::clone(&shared);
            spawn(format!("raft-S{me}-driver"), move || {
                run_driver(shared, peers, inbox)
            })
        };
        let applier = {
            let shared = Arc::clone(&shared);
            spawn(format!("raft-S{me}-applier"), move || {
                run_applier(shared, apply_ch)
            })
        };
        Raft {
            node: Arc::new(Node {
                shared,
                threads: Mutex::new(vec![driver, applier]),
            }),
        }
        // @stub
        //> // Your code here (2E): start a peer whose configuration, until its
        //> // log or snapshot holds one, is `members`.
        //> let _ = (peers, me, persister, apply_ch, members);
        //> panic!("2E: Raft::with_members is not implemented")
        // @end
    }

    /// Proposes `command` for the log. Returns at once: `Some((index,
    /// term))` if this peer believes it is leader (the command will be at
    /// `index` if it is ever committed), else `None`. Replication starts at
    /// once.
    // @solution 2B
    ///
    /// A leader that has heard from no majority of its peers for a few
    /// heartbeat periods also returns `None`: it is most likely cut off and
    /// replaced, and the command could not commit anyway.
    // @stub
    // @end
    pub fn start(&self, command: Vec<u8>) -> Option<(u64, u64)> {
        // @solution 2B
        let shared = &self.node.shared;
        if shared.is_dead() {
            return None;
        }
        let started = shared.with_core(|core| {
            let started = core.start(command, Instant::now());
            // Unbatched, each entry is saved on its own, before it is sent.
            core.dirty |= started.is_some() && !group_commit();
            started
        });
        if started.is_some() {
            let _ = shared.events.send(Event::Replicate);
        }
        started
        // @stub
        //> // Your code here (2B).
        //> let _ = command;
        //> panic!("2B: Raft::start is not implemented")
        // @end
    }

    /// `(current term, whether this peer believes it is leader)`. A killed
    /// peer is never leader.
    pub fn get_state(&self) -> (u64, bool) {
        // @solution 2A
        let shared = &self.node.shared;
        let core = shared.core.lock();
        (core.term, core.is_leader() && !shared.is_dead())
        // @stub
        //> // Your code here (2A).
        //> panic!("2A: Raft::get_state is not implemented (peer {})", self.me)
        // @end
    }

    /// The service has a snapshot covering every entry up to and including
    /// `index`: Raft drops those entries and saves `snapshot` with its
    /// state. A snapshot older than the one Raft holds is ignored. May be
    /// called from the thread that reads the apply channel.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        // @solution 2D
        let shared = &self.node.shared;
        if !shared.is_dead() {
            shared.with_core(|core| core.snapshot(index, snapshot));
        }
        // @stub
        //> // Your code here (2D).
        //> let _ = (index, snapshot);
        //> panic!("2D: Raft::snapshot is not implemented")
        // @end
    }

    /// Some(index) once this peer has confirmed, by heartbeats acknowledged
    /// by a majority after the call began, that it still leads, and its
    /// commit index covers an entry of its current term; the service may
    /// then answer a read from its state once it has applied `index`.
    /// `None` if this peer does not lead, or loses leadership (or cannot
    /// confirm it) meanwhile. Blocks for about one round trip; concurrent
    /// callers share a round of heartbeats. Writes nothing to the log.
    pub fn read_index(&self) -> Option<u64> {
        // @solution 3C
        let shared = &self.node.shared;
        if shared.is_dead() {
            return None;
        }
        let answer = shared.with_core(Core::begin_read)?;
        // Wakes the driver to send the round's heartbeats.
        let _ = shared.events.send(Event::Replicate);
        answer.recv_timeout(READ_TIMEOUT).ok()
        // @stub
        //> // Your code here (3C).
        //> panic!("3C: Raft::read_index is not implemented")
        // @end
    }

    /// Leader only: accepts a change of the voting members from the current
    /// stable configuration to `members`, and returns at once. The leader
    /// then catches new servers up as learners, appends `C_old,new`, and
    /// once that commits, `C_new`; progress shows in
    /// [`membership`](Raft::membership) and as [`ApplyMsg::Membership`] on
    /// every peer. Asking for the configuration already in force changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`MembershipError::NotLeader`] on a peer that does not lead;
    /// [`MembershipError::ChangeInProgress`] while an earlier change has
    /// not finished; [`MembershipError::Invalid`] for members that are
    /// empty, repeated or not peers.
    pub fn change_membership(&self, members: Vec<usize>) -> Result<(), MembershipError> {
        // @solution 2E
        let shared = &self.node.shared;
        if shared.is_dead() {
            return Err(MembershipError::NotLeader);
        }
        shared.with_core(|core| core.change_membership(members))?;
        // Wakes the driver to send the new entries or catch learners up.
        let _ = shared.events.send(Event::Replicate);
        Ok(())
        // @stub
        //> // Your code here (2E).
        //> let _ = members;
        //> panic!("2E: Raft::change_membership is not implemented")
        // @end
    }

    /// The configuration this peer uses now: the latest in its log,
    /// committed or not (else its snapshot's, else the initial members).
    pub fn membership(&self) -> Membership {
        // @solution 2E
        self.node.shared.core.lock().membership().clone()
        // @stub
        //> // Your code here (2E).
        //> panic!("2E: Raft::membership is not implemented")
        // @end
    }

    /// Stops the peer: after `kill` returns it sends nothing, applies
    /// nothing, changes no saved state, and its threads have exited.
    pub fn kill(&self) {
        // @solution 2A
        self.node.kill();
        // @stub
        //> // Your code here (2A): stop the peer's threads; must not block
        //> // for long and must not panic (the tests kill peers constantly).
        // @end
    }

    /// The labrpc service ("Raft") through which the other peers reach
    /// this one.
    pub fn service(&self) -> Service {
        // @solution 2A
        let votes = Arc::clone(&self.node.shared);
        let appends = Arc::clone(&self.node.shared);
        let snapshots = Arc::clone(&self.node.shared);
        // The handlers never wait for anything but the peer's lock, so they
        // run where a request arrives, not on a thread of their own.
        Service::new("Raft")
            .handle_deferred("RequestVote", move |args: RequestVoteArgs, reply| {
                reply.send(votes.request_vote(args))
            })
            .handle_deferred("AppendEntries", move |args: AppendEntriesArgs, reply| {
                reply.send(appends.append_entries(args))
            })
            .handle_deferred(
                "InstallSnapshot",
                move |args: InstallSnapshotArgs, reply| {
                    reply.send(snapshots.install_snapshot(args))
                },
            )
        // @stub
        //> // Your code here (2A): register your RPC handlers, e.g.
        //> // `.handle("RequestVote", move |args: RequestVoteArgs| ...)`.
        //> Service::new("Raft")
        // @end
    }
}
// @solution 2A

impl Node {
    fn kill(&self) {
        let shared = &self.shared;
        {
            // Under the lock, so the applier cannot miss the wakeup.
            let mut core = shared.core.lock();
            if !shared.dead.swap(true, Ordering::AcqRel) {
                peer_log!(debug, core, "killed");
            }
            core.abandon_reads();
        }
        shared.apply_ready.notify_all();
        let _ = shared.events.send(Event::Stop);
        // Held while joining, so a concurrent kill returns only once both
        // threads are gone.
        let mut threads = self.threads.lock();
        for handle in threads.drain(..) {
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    thread::Builder::new()
        .name(name)
        .spawn(body)
        .expect("cannot start a Raft thread")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_killed_peer_applies_nothing_more_and_its_threads_exit() {
        let net = labrpc::Network::new();
        let (apply_ch, applied) = crossbeam_channel::unbounded();
        let persister = Arc::new(Persister::new());
        let raft = Raft::new(vec![net.make_end("self")], 0, persister, apply_ch);

        // A cluster of one elects itself and commits on its own.
        let deadline = Instant::now() + Duration::from_secs(5);
        let (index, term) = loop {
            if let Some(started) = raft.start(b"x".to_vec()) {
                break started;
            }
            assert!(
                Instant::now() < deadline,
                "a lone peer did not elect itself"
            );
            thread::sleep(Duration::from_millis(10));
        };
        let first = applied.recv_timeout(Duration::from_secs(5));
        let command = b"x".to_vec();
        assert_eq!(
            first,
            Ok(ApplyMsg::Command {
                index,
                term,
                command
            })
        );

        raft.kill();
        assert_eq!(raft.start(b"y".to_vec()), None);
        assert!(!raft.get_state().1, "a killed peer is no leader");
        // The applier thread has exited, dropping its end of the channel.
        assert!(applied.recv().is_err(), "nothing may be applied after kill");
        net.cleanup();
    }

    #[test]
    #[should_panic(expected = "the saved Raft state (3 bytes) does not decode")]
    fn corrupt_saved_state_is_refused() {
        let persister = Arc::new(Persister::new());
        persister.save(vec![0xff; 3], None);
        let (apply_ch, _applied) = crossbeam_channel::unbounded();
        let net = labrpc::Network::new();
        Raft::new(vec![net.make_end("self")], 0, persister, apply_ch);
    }
}
// @stub
// @end
