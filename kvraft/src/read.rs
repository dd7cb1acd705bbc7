// @solution-file 3C
//! Gets that write nothing to the log. The handler queues a Get and
//! returns; the reader thread asks Raft for one read index (leadership
//! confirmed by a majority after the Gets arrived) for every Get queued
//! meanwhile, and the Gets are answered from the state machine once it has
//! applied that index: at once by the reader, or later by the applier.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

use crate::pending::{Answer, Outbox};
use crate::rpc::{KvError, Op, Request};
use crate::server::{Shared, COMMIT_TIMEOUT};
use crate::state_machine::StateMachine;
use crate::GETS_THROUGH_LOG_VAR;

/// Whether Gets are answered by ReadIndex: unless the benchmark's switch,
/// [`GETS_THROUGH_LOG_VAR`], is `1`.
pub(crate) fn gets_skip_log() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os(GETS_THROUGH_LOG_VAR).is_none_or(|value| value != "1"))
}

/// A Get waiting for its answer.
pub(crate) struct PendingRead {
    key: String,
    answer: Answer,
}

/// A server's Gets that skip the log, from arrival to answer.
#[derive(Default)]
pub(crate) struct Reads {
    /// Waiting for the next read index.
    queued: Vec<PendingRead>,
    /// Confirmed at a read index the state machine had not yet applied,
    /// with when that was; oldest first.
    confirmed: VecDeque<(u64, Instant, Vec<PendingRead>)>,
}

impl Reads {
    /// Answers from `machine`, which has applied through `last_applied`,
    /// every confirmed Get whose read index that covers, in `out` (as every
    /// method here answers).
    pub(crate) fn answer_applied(
        &mut self,
        machine: &StateMachine,
        last_applied: u64,
        out: &mut Outbox,
    ) {
        while let Some((index, _, _)) = self.confirmed.front() {
            if *index > last_applied {
                break;
            }
            let (index, _, reads) = self.confirmed.pop_front().expect("peeked");
            for read in reads {
                log::trace!("reads {:?} at index {index}", read.key);
                out.push(read.answer, Ok(machine.get(&read.key)));
            }
        }
    }

    /// Times out the Gets whose read index was confirmed
    /// [`COMMIT_TIMEOUT`] ago and is still not applied.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Outbox) {
        while let Some((_, confirmed, _)) = self.confirmed.front() {
            if now.duration_since(*confirmed) < COMMIT_TIMEOUT {
                break;
            }
            let (_, _, reads) = self.confirmed.pop_front().expect("peeked");
            fail(reads, KvError::Timeout, out);
        }
    }

    /// Tells every Get that it will get no answer here (the server stops).
    pub(crate) fn fail_all(&mut self, out: &mut Outbox) {
        fail(std::mem::take(&mut self.queued), KvError::WrongLeader, out);
        for (_, _, reads) in std::mem::take(&mut self.confirmed) {
            fail(reads, KvError::WrongLeader, out);
        }
    }
}

fn fail(reads: Vec<PendingRead>, error: KvError, out: &mut Outbox) {
    for read in reads {
        out.push(read.answer, Err(error));
    }
}

impl Shared {
    /// A Get of `key`, to be answered without a log entry.
    pub(crate) fn read(&self, key: String, answer: Answer) {
        if !self.raft.get_state().1 {
            return answer(Err(KvError::WrongLeader));
        }
        let mut state = self.state.lock();
        if self.killed.load(Ordering::SeqCst) {
            drop(state);
            return answer(Err(KvError::WrongLeader));
        }
        state.reads.queued.push(PendingRead { key, answer });
        // Woken after the unlock, the reader does not wait for the lock.
        drop(state);
        self.reads_queued.notify_one();
    }

    /// The reader thread: one read index for each batch of queued Gets.
    pub(crate) fn run_reader(&self) {
        loop {
            let batch = {
                let mut state = self.state.lock();
                while state.reads.queued.is_empty() {
                    if self.killed.load(Ordering::SeqCst) {
                        return;
                    }
                    self.reads_queued.wait(&mut state);
                }
                std::mem::take(&mut state.reads.queued)
            };
            // Every Get of the batch arrived before this call began.
            let index = self
                .propose_entry_of_term()
                .ok()
                .and_then(|()| self.raft.read_index());
            let Some(index) = index else {
                let mut out = Outbox::default();
                fail(batch, KvError::WrongLeader, &mut out);
                out.deliver();
                continue;
            };
            self.with_state(|state| {
                state
                    .reads
                    .confirmed
                    .push_back((index, Instant::now(), batch));
                state
                    .reads
                    .answer_applied(&state.machine, state.last_applied, &mut state.outbox);
            });
        }
    }

    /// Starts a no-op once per term in which this server leads and serves
    /// a Get: Raft confirms a read only once an entry of the leader's term
    /// has committed, and a service that only reads would write none.
    ///
    /// The service writes it, not Raft on election, so that Raft's log
    /// holds only what the service started (2B's tests count indices).
    fn propose_entry_of_term(&self) -> Result<(), KvError> {
        let (term, is_leader) = self.raft.get_state();
        if !is_leader {
            return Err(KvError::WrongLeader);
        }
        let mut state = self.state.lock();
        if state.noop_term >= term {
            return Ok(());
        }
        let noop = Request {
            client: 0,
            seq: 0,
            op: Op::Noop,
        };
        let (_, started) = self.raft.start(noop.encode()).ok_or(KvError::WrongLeader)?;
        log::debug!("S{} T{started}: starts a no-op for its reads", self.me);
        state.noop_term = started;
        Ok(())
    }
}
