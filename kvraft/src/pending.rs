// @solution-file 3A
//! Requests a leader has started in Raft and whose RPC handlers wait for
//! them to be applied, keyed by the log index `Raft::start` returned.

use std::collections::BTreeMap;

use crossbeam_channel::{Receiver, Sender};

use crate::rpc::{KvError, Reply};

struct Waiter {
    /// The term `Raft::start` returned: the term of the entry.
    term: u64,
    client: u64,
    seq: u64,
    reply: Sender<Reply>,
}

impl Waiter {
    fn answer(&self, reply: Reply) {
        // The handler may have given up already; then nobody listens.
        let _ = self.reply.send(reply);
    }
}

/// The waiting requests of one server.
#[derive(Default)]
pub(crate) struct PendingOps {
    by_index: BTreeMap<u64, Waiter>,
}

impl PendingOps {
    /// Registers the request `(client, seq)` started at `(index, term)`; the
    /// receiver yields its reply once. An older waiter at the same index
    /// (from an earlier term) has lost its entry and is told so.
    pub fn register(&mut self, index: u64, term: u64, client: u64, seq: u64) -> Receiver<Reply> {
        let (reply, receiver) = crossbeam_channel::bounded(1);
        let waiter = Waiter {
            term,
            client,
            seq,
            reply,
        };
        if let Some(replaced) = self.by_index.insert(index, waiter) {
            replaced.answer(Err(KvError::WrongLeader));
        }
        receiver
    }

    /// Removes the waiter at `(index, term)`, if still there: its handler
    /// stopped waiting.
    pub fn withdraw(&mut self, index: u64, term: u64) {
        if self.by_index.get(&index).is_some_and(|w| w.term == term) {
            self.by_index.remove(&index);
        }
    }

    /// The request `(client, seq)` of term `term` was applied at `index`,
    /// giving `value`. Its waiter gets the value; a waiter whose entry was
    /// replaced by it hears at once that it lost.
    pub fn applied(&mut self, index: u64, term: u64, client: u64, seq: u64, value: String) {
        if let Some(waiter) = self.by_index.remove(&index) {
            if waiter.client == client && waiter.seq == seq {
                waiter.answer(Ok(value));
            } else {
                waiter.answer(Err(KvError::WrongLeader));
            }
        }
        self.fail_doomed(index, term);
    }

    /// Everything through `(index, term)` was applied without a request:
    /// a snapshot was installed, or the entry was a configuration (2E).
    /// Waiters it covers cannot learn their result here (a Get's value is
    /// gone); their clerks retry, and the duplicate table keeps the retry
    /// from applying twice.
    pub fn overtaken(&mut self, index: u64, term: u64) {
        self.fail_doomed(index, term);
    }

    /// Tells every waiter that it will get no answer here (the server stops).
    pub fn fail_all(&mut self) {
        for (_, waiter) in std::mem::take(&mut self.by_index) {
            waiter.answer(Err(KvError::WrongLeader));
        }
    }

    /// Entry `(index, term)` is committed. Waiters at or below `index` were
    /// overtaken. So were waiters whose term is older than `term`: a
    /// committed entry of a newer term precedes their index, and a log that
    /// holds it cannot hold their entry (log terms never decrease), so their
    /// entry can never commit.
    fn fail_doomed(&mut self, index: u64, term: u64) {
        self.by_index.retain(|&at, waiter| {
            let doomed = at <= index || waiter.term < term;
            if doomed {
                waiter.answer(Err(KvError::WrongLeader));
            }
            !doomed
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_applied_request_gets_its_value() {
        let mut pending = PendingOps::default();
        let reply = pending.register(5, 2, 7, 1);
        pending.applied(5, 2, 7, 1, "v".into());
        assert_eq!(reply.try_recv().unwrap(), Ok("v".to_string()));
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn another_command_at_the_index_means_wrong_leader() {
        let mut pending = PendingOps::default();
        let reply = pending.register(5, 2, 7, 1);
        pending.applied(5, 3, 8, 1, String::new());
        assert_eq!(reply.try_recv().unwrap(), Err(KvError::WrongLeader));
    }

    #[test]
    fn a_newer_term_committed_before_the_index_dooms_the_waiter() {
        let mut pending = PendingOps::default();
        let doomed = pending.register(9, 2, 7, 1);
        let alive = pending.register(10, 3, 8, 1);
        pending.applied(4, 3, 1, 1, String::new());
        assert_eq!(doomed.try_recv().unwrap(), Err(KvError::WrongLeader));
        assert!(
            alive.try_recv().is_err(),
            "same-term waiter must keep waiting"
        );
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn a_snapshot_fails_the_waiters_it_covers() {
        let mut pending = PendingOps::default();
        let covered = pending.register(3, 2, 7, 1);
        let later = pending.register(6, 2, 8, 1);
        pending.overtaken(4, 2);
        assert_eq!(covered.try_recv().unwrap(), Err(KvError::WrongLeader));
        assert!(later.try_recv().is_err());
    }

    #[test]
    fn a_new_waiter_at_a_reused_index_replaces_the_old_one() {
        let mut pending = PendingOps::default();
        let old = pending.register(5, 2, 7, 1);
        let new = pending.register(5, 4, 8, 1);
        assert_eq!(old.try_recv().unwrap(), Err(KvError::WrongLeader));
        pending.applied(5, 4, 8, 1, "x".into());
        assert_eq!(new.try_recv().unwrap(), Ok("x".to_string()));
    }

    #[test]
    fn withdraw_leaves_a_newer_waiter_alone() {
        let mut pending = PendingOps::default();
        let _old = pending.register(5, 2, 7, 1);
        let _new = pending.register(5, 4, 8, 1);
        pending.withdraw(5, 2);
        assert_eq!(pending.len(), 1);
        pending.withdraw(5, 4);
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn fail_all_answers_everyone() {
        let mut pending = PendingOps::default();
        let a = pending.register(1, 1, 7, 1);
        let b = pending.register(2, 1, 8, 1);
        pending.fail_all();
        assert_eq!(a.try_recv().unwrap(), Err(KvError::WrongLeader));
        assert_eq!(b.try_recv().unwrap(), Err(KvError::WrongLeader));
    }
}
