// @solution-file 3C
//! Gets that write nothing to the log: the leader asks Raft for a read
//! index (leadership confirmed by a majority after the Get arrived), waits
//! until its state machine has applied that index, and answers from it.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

use crate::rpc::{KvError, Op, Reply, Request};
use crate::server::{Shared, COMMIT_TIMEOUT};
use crate::GETS_THROUGH_LOG_VAR;

/// Whether Gets are answered by ReadIndex: unless the benchmark's switch,
/// [`GETS_THROUGH_LOG_VAR`], is `1`.
pub(crate) fn gets_skip_log() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os(GETS_THROUGH_LOG_VAR).is_none_or(|value| value != "1"))
}

impl Shared {
    /// A Get of `key`, answered without a log entry.
    pub(crate) fn read(&self, key: &str) -> Reply {
        if self.killed.load(Ordering::SeqCst) {
            return Err(KvError::WrongLeader);
        }
        self.propose_entry_of_term()?;
        let Some(index) = self.raft.read_index() else {
            return Err(KvError::WrongLeader);
        };
        let deadline = Instant::now() + COMMIT_TIMEOUT;
        let mut state = self.state.lock();
        while state.last_applied < index {
            if self.killed.load(Ordering::SeqCst)
                || self.applied.wait_until(&mut state, deadline).timed_out()
            {
                return Err(KvError::Timeout);
            }
        }
        log::trace!("S{}: reads {key:?} at index {index}", self.me);
        Ok(state.machine.get(key))
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
