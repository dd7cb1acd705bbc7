//! The KV server: starts requests in Raft, applies what commits, answers
//! the waiting requests, and snapshots when the Raft state grows too big.

// @solution 3A
use std::iter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, RecvTimeoutError, Sender};
use labrpc::{ClientEnd, Service};
use parking_lot::{Condvar, Mutex};
use raft::{ApplyMsg, Persister, Raft};

use crate::pending::PendingOps;
use crate::rpc::{KvError, Op, Reply, Request, METHOD, SERVICE};
use crate::snapshot;
use crate::state_machine::StateMachine;

/// How often a waiting request asks Raft whether this server still leads
/// in the same term. Commits and entries of newer terms answer it at once;
/// this only catches a term change that nothing was applied for yet.
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
/// Raft by the leader; the RPC handler waits until the request is applied
/// and replies with its result, or replies "wrong leader" as soon as the
/// server learns that the request cannot commit where it was started.
///
/// Every operation takes effect exactly once: the state machine keeps, per
/// clerk, the highest sequence number applied, and skips retries. That
/// table is part of the log's effect, and so of every snapshot.
pub struct KvServer {
    // @solution 3A
    shared: Arc<Shared>,
    applier: Mutex<Option<JoinHandle<()>>>,
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
    /// Dropped by `kill` to stop the apply thread.
    stop: Mutex<Option<Sender<()>>>,
    pub(crate) state: Mutex<Applied>,
    /// Signalled whenever `state.last_applied` grows, and on kill.
    pub(crate) applied: Condvar,
}

/// What the apply thread maintains, under one lock with the waiters so that
/// an entry cannot be applied between `Raft::start` and its registration.
#[derive(Default)]
pub(crate) struct Applied {
    pub(crate) machine: StateMachine,
    pub(crate) last_applied: u64,
    pending: PendingOps,
    /// The latest term in which this server started a no-op for reads.
    pub(crate) noop_term: u64,
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
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let raft = Raft::with_members(servers, me, Arc::clone(&persister), apply_tx, members);
        let shared = Arc::new(Shared {
            me,
            raft,
            persister,
            max_raft_state,
            killed: AtomicBool::new(false),
            stop: Mutex::new(Some(stop_tx)),
            state: Mutex::new(Applied::default()),
            applied: Condvar::new(),
        });
        let applier = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("kv-S{me}-apply"))
                .spawn(move || shared.run_applier(&apply_rx, &stop_rx))
                .expect("cannot start a KV apply thread")
        };
        KvServer {
            shared,
            applier: Mutex::new(Some(applier)),
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
        let kv =
            Service::new(SERVICE).handle(METHOD, move |request: Request| shared.execute(request));
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
        self.shared.killed.store(true, Ordering::SeqCst);
        self.shared.raft.kill();
        drop(self.shared.stop.lock().take());
        if let Some(applier) = self.applier.lock().take() {
            if applier.join().is_err() {
                log::error!("S{}: the KV apply thread had panicked", self.shared.me);
            }
        }
        self.shared.state.lock().pending.fail_all();
        self.shared.applied.notify_all();
        log::debug!("S{}: KV server killed", self.shared.me);
        // @stub
        //> // Your code here (3A): also stop your threads.
        //> self.raft.kill();
        // @end
    }
}
// @solution 3A

impl Shared {
    /// The `"KV.Execute"` handler.
    fn execute(&self, request: Request) -> Reply {
        if let Op::Get { key } = &request.op {
            if crate::read::gets_skip_log() {
                return self.read(key);
            }
        }
        let (index, term, reply) = {
            let mut state = self.state.lock();
            if self.killed.load(Ordering::SeqCst) {
                return Err(KvError::WrongLeader);
            }
            let Some((index, term)) = self.raft.start(request.encode()) else {
                return Err(KvError::WrongLeader);
            };
            let reply = state
                .pending
                .register(index, term, request.client, request.seq);
            (index, term, reply)
        };
        log::trace!(
            "S{} T{term}: started {:?} of client {:x} seq {} at index {index}",
            self.me,
            request.op,
            request.client,
            request.seq
        );
        self.await_reply(index, term, &reply)
    }

    /// Waits for the request started at `(index, term)` to be answered by
    /// the apply thread, giving up early if leadership is lost.
    fn await_reply(&self, index: u64, term: u64, reply: &Receiver<Reply>) -> Reply {
        let deadline = Instant::now() + COMMIT_TIMEOUT;
        loop {
            match reply.recv_timeout(LEADERSHIP_CHECK) {
                Ok(answer) => return answer,
                Err(RecvTimeoutError::Disconnected) => return Err(KvError::WrongLeader),
                Err(RecvTimeoutError::Timeout) => {}
            }
            let (current_term, is_leader) = self.raft.get_state();
            let lost = self.killed.load(Ordering::SeqCst) || current_term != term || !is_leader;
            let failure = if lost {
                KvError::WrongLeader
            } else if Instant::now() >= deadline {
                KvError::Timeout
            } else {
                continue;
            };
            log::debug!(
                "S{} T{term}: gives up on index {index}: {failure:?} (now T{current_term}, leader: {is_leader})",
                self.me
            );
            self.state.lock().pending.withdraw(index, term);
            // The answer may have arrived just before the withdrawal.
            return reply.try_recv().unwrap_or(Err(failure));
        }
    }

    fn run_applier(&self, apply_rx: &Receiver<ApplyMsg>, stop: &Receiver<()>) {
        loop {
            select! {
                recv(apply_rx) -> msg => {
                    let Ok(first) = msg else { return };
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
                },
                recv(stop) -> _ => return,
            }
        }
    }

    /// Applies `batch` under one turn of the lock and wakes the waiting
    /// reads once for all of it; `false` if the server was killed.
    fn apply_batch(&self, batch: impl Iterator<Item = ApplyMsg>) -> bool {
        let mut state = self.state.lock();
        let mut alive = true;
        for msg in batch {
            if self.killed.load(Ordering::SeqCst) {
                alive = false;
                break;
            }
            self.apply(&mut state, msg);
        }
        self.applied.notify_all();
        alive
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
        state
            .pending
            .applied(index, term, request.client, request.seq, value);
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
        state.pending.overtaken(index, term);
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
    state.pending.overtaken(index, term);
}
// @stub
// @end
