//! The KV server: starts requests in Raft, applies what commits, answers
//! the waiting requests, and snapshots when the Raft state grows too big.

// @solution 3A
use std::iter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use labrpc::{ClientEnd, Responder, Service};
use parking_lot::{Condvar, Mutex};
use raft::{ApplyMsg, Persister, Raft};

use crate::pending::{Answer, Outbox, PendingOps};
use crate::read::Reads;
use crate::rpc::{KvError, Op, Reply, Request, METHOD, SERVICE};
use crate::snapshot;
use crate::state_machine::StateMachine;

/// How often the applier asks Raft whether this server still leads in the
/// term its waiting requests were started in. Commits and entries of newer
/// terms answer them at once; this only catches a term change that nothing
/// was applied for yet, and requests that waited too long.
const LEADERSHIP_CHECK: Duration = Duration::from_millis(20);

/// How long a leader waits for a request to commit before answering
/// [`KvError::Timeout`], so a clerk stuck on a leader cut off from the
/// majority moves on.
pub(crate) const COMMIT_TIMEOUT: Duration = Duration::from_millis(500);

// @stub
//> use std::sync::Arc;
//>
//> use labrpc::{ClientEnd, Service};
//> use raft::{Persister, Raft};
//>
// @end
/// One replica of the key/value service: a Raft peer plus the state
/// machine it drives.
///
/// The server hosts two labrpc services, `"KV"` for clerks and `"Raft"` for
/// its peers (see [`KvServer::services`]). A clerk's request is started in
/// Raft by the leader; its reply waits until the request is applied and
/// carries its result, or says "wrong leader" as soon as the server learns
/// that the request cannot commit where it was started.
///
/// Every operation takes effect exactly once: the state machine keeps, per
/// clerk, the highest sequence number applied, and skips retries. That
/// table is part of the log's effect, and so of every snapshot.
pub struct KvServer {
    // @solution 3A
    shared: Arc<Shared>,
    /// The applier and the reader, joined by `kill`.
    threads: Mutex<Vec<JoinHandle<()>>>,
    // @stub
    //> // Your code here (3A): the state machine, the requests waiting for
    //> // their entry to be applied, the duplicate table...
    //> raft: Raft,
    // @end
}
// @solution 3A

pub(crate) struct Shared {
    pub(crate) me: usize,
    pub(crate) raft: Raft,
    persister: Arc<Persister>,
    max_raft_state: Option<usize>,
    pub(crate) killed: AtomicBool,
    pub(crate) state: Mutex<Applied>,
    /// Signalled when a Get is queued for the reader, and on kill.
    pub(crate) reads_queued: Condvar,
}

/// What the apply thread maintains, under one lock with the waiters so that
/// an entry cannot be applied between `Raft::start` and its registration.
#[derive(Default)]
pub(crate) struct Applied {
    pub(crate) machine: StateMachine,
    pub(crate) last_applied: u64,
    pending: PendingOps,
    /// Gets that skip the log (3C).
    pub(crate) reads: Reads,
    /// The latest term in which this server started a no-op for reads.
    pub(crate) noop_term: u64,
    /// Replies decided under the lock; [`Shared::with_state`] sends them.
    pub(crate) outbox: Outbox,
}
// @stub
// @end

impl KvServer {
    /// Starts replica `me` of a KV service whose replicas are reached
    /// through `servers` (`servers[me]` is this replica's own end, unused).
    ///
    /// The state is rebuilt from what Raft delivers on restart (its saved
    /// snapshot, then the committed log), never by reading `persister`.
    /// With `max_raft_state = Some(n)`, whenever the persisted Raft state
    /// has reached `n` bytes the server hands Raft a snapshot of all it has
    /// applied (checked after applying each batch Raft delivers), so the
    /// log stays short; with `None` it never snapshots.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        max_raft_state: Option<usize>,
    ) -> KvServer {
        // @solution 3A
        let members = (0..servers.len()).collect();
        KvServer::with_members(servers, me, persister, max_raft_state, members)
        // @stub
        //> // Your code here (3A): start a thread that applies what Raft
        //> // delivers on its apply channel (3B: and snapshots when
        //> // `max_raft_state` is reached).
        //> let _ = max_raft_state;
        //> let (apply_tx, _apply_rx) = crossbeam_channel::unbounded();
        //> KvServer {
        //>     raft: Raft::new(servers, me, persister, apply_tx),
        //> }
        // @end
    }

    /// Like [`new`](KvServer::new), for a service whose initial voting
    /// replicas are `members` (indices of `servers`): the Raft peer starts
    /// with [`Raft::with_members`], so a replica outside `members` serves
    /// once the leader's log makes it a member (lab 2E).
    pub fn with_members(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        max_raft_state: Option<usize>,
        members: Vec<usize>,
    ) -> KvServer {
        // @solution 2E
        let (apply_tx, apply_rx) = crossbeam_channel::unbounded();
        let raft = Raft::with_members(servers, me, Arc::clone(&persister), apply_tx, members);
        let shared = Arc::new(Shared {
            me,
            raft,
            persister,
            max_raft_state,
            killed: AtomicBool::new(false),
            state: Mutex::new(Applied::default()),
            reads_queued: Condvar::new(),
        });
        let applier = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("kv-S{me}-apply"))
                .spawn(move || shared.run_applier(&apply_rx))
                .expect("cannot start a KV apply thread")
        };
        let reader = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("kv-S{me}-read"))
                .spawn(move || shared.run_reader())
                .expect("cannot start a KV read thread")
        };
        KvServer {
            shared,
            threads: Mutex::new(vec![applier, reader]),
        }
        // @stub
        //> // Your code here (2E): as `new`, with `Raft::with_members`.
        //> let _ = (servers, me, persister, max_raft_state, members);
        //> panic!("2E: KvServer::with_members is not implemented")
        // @end
    }

    /// The labrpc services to register on this replica's server: `"KV"`
    /// (method `"Execute"`, called by [`Clerk`](crate::Clerk)) and `"Raft"`.
    pub fn services(&self) -> Vec<Service> {
        // @solution 3A
        let shared = Arc::clone(&self.shared);
        let kv = Service::new(SERVICE).handle_deferred(
            METHOD,
            move |request: Request, responder: Responder<Reply>| {
                shared.execute(request, Box::new(move |reply| responder.send(reply)))
            },
        );
        vec![kv, self.shared.raft.service()]
        // @stub
        //> // Your code here (3A): add the "KV" service with the handler your
        //> // Clerk calls.
        //> vec![self.raft.service()]
        // @end
    }

    /// This replica's Raft peer. The test harness asks it who leads
    /// (`get_state`), e.g. to put the leader in a minority partition.
    pub fn raft(&self) -> &Raft {
        // @solution 3A
        &self.shared.raft
        // @stub
        //> &self.raft
        // @end
    }

    /// Stops the replica: kills its Raft peer, stops applying, and answers
    /// every waiting request "wrong leader". Calling it again does nothing.
    pub fn kill(&self) {
        // @solution 3A
        let shared = &self.shared;
        shared.killed.store(true, Ordering::SeqCst);
        shared.raft.kill();
        {
            // Under the lock, so the reader cannot miss the wakeup.
            let _state = shared.state.lock();
            shared.reads_queued.notify_all();
        }
        for thread in self.threads.lock().drain(..) {
            if thread.join().is_err() {
                log::error!("S{}: a KV server thread had panicked", shared.me);
            }
        }
        shared.with_state(|state| {
            state.pending.fail_all(&mut state.outbox);
            state.reads.fail_all(&mut state.outbox);
        });
        log::debug!("S{}: KV server killed", shared.me);
        // @stub
        //> // Your code here (3A): also stop your threads.
        //> self.raft.kill();
        // @end
    }
}
// @solution 3A

impl Shared {
    /// Runs `f` on the locked state, then sends the replies it decided
    /// once the lock is released.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut Applied) -> T) -> T {
        let mut state = self.state.lock();
        let result = f(&mut state);
        let out = std::mem::take(&mut state.outbox);
        drop(state);
        out.deliver();
        result
    }

    /// The `"KV.Execute"` handler: starts the request and returns;
    /// `answer` gets the reply once the request is applied, or as soon as
    /// it cannot be (see [`PendingOps`]).
    fn execute(&self, request: Request, answer: Answer) {
        if let Op::Get { key } = &request.op {
            if crate::read::gets_skip_log() {
                return self.read(key.clone(), answer);
            }
        }
        self.with_state(|state| {
            if self.killed.load(Ordering::SeqCst) {
                return state.outbox.push(answer, Err(KvError::WrongLeader));
            }
            let Some((index, term)) = self.raft.start(request.encode()) else {
                return state.outbox.push(answer, Err(KvError::WrongLeader));
            };
            log::trace!(
                "S{} T{term}: started {:?} of client {:x} seq {} at index {index}",
                self.me,
                request.op,
                request.client,
                request.seq
            );
            let started_by = (request.client, request.seq);
            state.pending.register(
                index,
                term,
                started_by,
                Instant::now(),
                answer,
                &mut state.outbox,
            );
        })
    }

    /// Applies what Raft delivers until Raft drops its end of the channel
    /// or, at the latest one check later, the server is killed.
    fn run_applier(&self, apply_rx: &Receiver<ApplyMsg>) {
        let mut next_check = Instant::now() + LEADERSHIP_CHECK;
        loop {
            match apply_rx.recv_deadline(next_check) {
                Ok(first) => {
                    // Apply what is already queued before considering a
                    // snapshot: a server that fell behind would otherwise
                    // snapshot its whole state at every entry, and fall
                    // further behind.
                    let backlog = apply_rx.len();
                    let batch = iter::once(first).chain(apply_rx.try_iter().take(backlog));
                    if !self.apply_batch(batch) {
                        return;
                    }
                    self.snapshot_if_log_is_full();
                }
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.killed.load(Ordering::SeqCst) {
                return;
            }
            let now = Instant::now();
            if now >= next_check {
                self.expire_waiters(now);
                next_check = now + LEADERSHIP_CHECK;
            }
        }
    }

    /// Gives up on the waiting requests that lost their term or leader, or
    /// waited too long.
    fn expire_waiters(&self, now: Instant) {
        let (term, is_leader) = self.raft.get_state();
        self.with_state(|state| {
            state
                .pending
                .expire(term, is_leader, now, &mut state.outbox);
            state.reads.expire(now, &mut state.outbox);
        });
    }

    /// Applies `batch` under one turn of the lock, then answers the Gets
    /// waiting for it; `false` if the server was killed.
    fn apply_batch(&self, batch: impl Iterator<Item = ApplyMsg>) -> bool {
        self.with_state(|state| {
            let mut alive = true;
            for msg in batch {
                if self.killed.load(Ordering::SeqCst) {
                    alive = false;
                    break;
                }
                self.apply(state, msg);
            }
            state
                .reads
                .answer_applied(&state.machine, state.last_applied, &mut state.outbox);
            alive
        })
    }

    fn apply(&self, state: &mut Applied, msg: ApplyMsg) {
        match msg {
            ApplyMsg::Command {
                index,
                term,
                command,
            } => self.apply_command(state, index, term, &command),
            ApplyMsg::Snapshot { index, term, data } => {
                self.install_snapshot(state, index, term, &data)
            }
            ApplyMsg::Membership { index, term, .. } => apply_membership(state, index, term),
        }
    }

    fn apply_command(&self, state: &mut Applied, index: u64, term: u64, command: &[u8]) {
        if index <= state.last_applied {
            log::debug!(
                "S{}: ignores command {index}, already applied through {}",
                self.me,
                state.last_applied
            );
            return;
        }
        let request = Request::decode(command).unwrap_or_else(|e| {
            panic!(
                "S{}: log entry {index} (T{term}) is not a KV request: {e}",
                self.me
            )
        });
        let value = state.machine.apply(&request);
        state.last_applied = index;
        state.pending.applied(
            (index, term),
            (request.client, request.seq),
            value,
            &mut state.outbox,
        );
    }

    fn install_snapshot(&self, state: &mut Applied, index: u64, term: u64, data: &[u8]) {
        if index <= state.last_applied {
            log::debug!(
                "S{}: ignores snapshot through {index}, already applied through {}",
                self.me,
                state.last_applied
            );
            return;
        }
        state.machine = snapshot::decode(data).unwrap_or_else(|e| {
            panic!(
                "S{}: the snapshot through index {index} (T{term}) does not decode: {e}",
                self.me
            )
        });
        state.last_applied = index;
        state.pending.overtaken(index, term, &mut state.outbox);
        log::debug!(
            "S{}: installed snapshot through index {index} (T{term})",
            self.me
        );
    }

    /// Hands Raft a snapshot of everything applied if the persisted Raft
    /// state has reached `max_raft_state`.
    fn snapshot_if_log_is_full(&self) {
        let Some(max) = self.max_raft_state else {
            return;
        };
        if self.persister.raft_state_size() < max {
            return;
        }
        let (index, data) = {
            let state = self.state.lock();
            (state.last_applied, snapshot::encode(&state.machine))
        };
        log::debug!(
            "S{}: snapshots through index {index} ({} bytes)",
            self.me,
            data.len()
        );
        self.raft.snapshot(index, data);
    }
}

/// A configuration entry changes nothing in the store, but takes its
/// index: waiters for that index lost it.
fn apply_membership(state: &mut Applied, index: u64, term: u64) {
    if index <= state.last_applied {
        return;
    }
    state.last_applied = index;
    state.pending.overtaken(index, term, &mut state.outbox);
}
// @stub
// @end
