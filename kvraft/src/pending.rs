// @solution-file 3A
//! Requests a leader has started in Raft and whose answers wait for them
//! to be applied, keyed by the log index `Raft::start` returned.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::rpc::{KvError, Reply};
use crate::server::COMMIT_TIMEOUT;

/// Where a request's reply goes, once: the RPC's responder.
pub(crate) type Answer = Box<dyn FnOnce(Reply) + Send>;

/// Replies decided under the server's state lock, to be sent once it is
/// released: sending one wakes a clerk (a system call), and every request
/// arriving meanwhile would wait for the lock.
#[derive(Default)]
pub(crate) struct Outbox(Vec<(Answer, Reply)>);

impl Outbox {
    /// Queues `reply` for `answer`.
    pub fn push(&mut self, answer: Answer, reply: Reply) {
        self.0.push((answer, reply));
    }

    /// Sends every queued reply.
    pub fn deliver(self) {
        for (answer, reply) in self.0 {
            answer(reply);
        }
    }
}

struct Waiter {
    /// The term `Raft::start` returned: the term of the entry.
    term: u64,
    client: u64,
    seq: u64,
    started: Instant,
    /// Taken when answered.
    answer: Option<Answer>,
}

impl Waiter {
    fn answer(&mut self, reply: Reply, out: &mut Outbox) {
        if let Some(answer) = self.answer.take() {
            out.push(answer, reply);
        }
    }
}

/// The waiting requests of one server.
#[derive(Default)]
pub(crate) struct PendingOps {
    by_index: BTreeMap<u64, Waiter>,
}

impl PendingOps {
    /// Registers the request `(client, seq)` started at `(index, term)` at
    /// `now`; `answer` gets its reply once. An older waiter at the same
    /// index (from an earlier term) has lost its entry and is told so, in
    /// `out`, as every method here answers.
    pub fn register(
        &mut self,
        index: u64,
        term: u64,
        (client, seq): (u64, u64),
        now: Instant,
        answer: Answer,
        out: &mut Outbox,
    ) {
        let waiter = Waiter {
            term,
            client,
            seq,
            started: now,
            answer: Some(answer),
        };
        if let Some(mut replaced) = self.by_index.insert(index, waiter) {
            replaced.answer(Err(KvError::WrongLeader), out);
        }
    }

    /// The request `(client, seq)` of term `term` was applied at `index`,
    /// giving `value`. Its waiter gets the value; a waiter whose entry was
    /// replaced by it hears at once that it lost.
    pub fn applied(
        &mut self,
        (index, term): (u64, u64),
        (client, seq): (u64, u64),
        value: String,
        out: &mut Outbox,
    ) {
        if let Some(mut waiter) = self.by_index.remove(&index) {
            if waiter.client == client && waiter.seq == seq {
                waiter.answer(Ok(value), out);
            } else {
                waiter.answer(Err(KvError::WrongLeader), out);
            }
        }
        self.fail_doomed(index, term, out);
    }

    /// Everything through `(index, term)` was applied without a request:
    /// a snapshot was installed, or the entry was a configuration (2E).
    /// Waiters it covers cannot learn their result here (a Get's value is
    /// gone); their clerks retry, and the duplicate table keeps the retry
    /// from applying twice.
    pub fn overtaken(&mut self, index: u64, term: u64, out: &mut Outbox) {
        self.fail_doomed(index, term, out);
    }

    /// Gives up on what cannot commit where it was started, now that Raft
    /// is in `term` and does or does not lead (answered "wrong leader", so
    /// the clerk tries another server), and on what waited
    /// [`COMMIT_TIMEOUT`] already (answered "timeout": a leader cut off
    /// from the majority commits nothing).
    pub fn expire(&mut self, term: u64, is_leader: bool, now: Instant, out: &mut Outbox) {
        self.fail_where(out, |_, waiter| {
            if waiter.term != term || !is_leader {
                Some(KvError::WrongLeader)
            } else if now.duration_since(waiter.started) >= COMMIT_TIMEOUT {
                Some(KvError::Timeout)
            } else {
                None
            }
        });
    }

    /// Tells every waiter that it will get no answer here (the server stops).
    pub fn fail_all(&mut self, out: &mut Outbox) {
        self.fail_where(out, |_, _| Some(KvError::WrongLeader));
    }

    /// Entry `(index, term)` is committed. Waiters at or below `index` were
    /// overtaken. So were waiters whose term is older than `term`: a
    /// committed entry of a newer term precedes their index, and a log that
    /// holds it cannot hold their entry (log terms never decrease), so their
    /// entry can never commit.
    fn fail_doomed(&mut self, index: u64, term: u64, out: &mut Outbox) {
        self.fail_where(out, |at, waiter| {
            (at <= index || waiter.term < term).then_some(KvError::WrongLeader)
        });
    }

    /// Answers and removes every waiter for which `failure` names an error.
    fn fail_where(&mut self, out: &mut Outbox, failure: impl Fn(u64, &Waiter) -> Option<KvError>) {
        self.by_index
            .retain(|&at, waiter| match failure(at, waiter) {
                Some(error) => {
                    waiter.answer(Err(error), out);
                    false
                }
                None => true,
            });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_index.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossbeam_channel::Receiver;

    use super::*;

    /// Registers `(client, seq)` at `(index, term)`, started now; the
    /// receiver gets its reply.
    fn wait(
        pending: &mut PendingOps,
        index: u64,
        term: u64,
        client: u64,
        seq: u64,
    ) -> Receiver<Reply> {
        let (reply, receiver) = crossbeam_channel::bounded(1);
        let answer = Box::new(move |r| reply.send(r).unwrap());
        send(|out| pending.register(index, term, (client, seq), Instant::now(), answer, out));
        receiver
    }

    /// Runs `step`, then sends the replies it decided.
    fn send(step: impl FnOnce(&mut Outbox)) {
        let mut out = Outbox::default();
        step(&mut out);
        out.deliver();
    }

    #[test]
    fn the_applied_request_gets_its_value() {
        let mut pending = PendingOps::default();
        let reply = wait(&mut pending, 5, 2, 7, 1);
        send(|out| pending.applied((5, 2), (7, 1), "v".into(), out));
        assert_eq!(reply.try_recv().unwrap(), Ok("v".to_string()));
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn another_command_at_the_index_means_wrong_leader() {
        let mut pending = PendingOps::default();
        let reply = wait(&mut pending, 5, 2, 7, 1);
        send(|out| pending.applied((5, 3), (8, 1), String::new(), out));
        assert_eq!(reply.try_recv().unwrap(), Err(KvError::WrongLeader));
    }

    #[test]
    fn a_newer_term_committed_before_the_index_dooms_the_waiter() {
        let mut pending = PendingOps::default();
        let doomed = wait(&mut pending, 9, 2, 7, 1);
        let alive = wait(&mut pending, 10, 3, 8, 1);
        send(|out| pending.applied((4, 3), (1, 1), String::new(), out));
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
        let covered = wait(&mut pending, 3, 2, 7, 1);
        let later = wait(&mut pending, 6, 2, 8, 1);
        send(|out| pending.overtaken(4, 2, out));
        assert_eq!(covered.try_recv().unwrap(), Err(KvError::WrongLeader));
        assert!(later.try_recv().is_err());
    }

    #[test]
    fn a_new_waiter_at_a_reused_index_replaces_the_old_one() {
        let mut pending = PendingOps::default();
        let old = wait(&mut pending, 5, 2, 7, 1);
        let new = wait(&mut pending, 5, 4, 8, 1);
        assert_eq!(old.try_recv().unwrap(), Err(KvError::WrongLeader));
        send(|out| pending.applied((5, 4), (8, 1), "x".into(), out));
        assert_eq!(new.try_recv().unwrap(), Ok("x".to_string()));
    }

    #[test]
    fn a_lost_term_or_leadership_fails_waiters_as_wrong_leader() {
        let mut pending = PendingOps::default();
        let old_term = wait(&mut pending, 5, 2, 7, 1);
        let current = wait(&mut pending, 6, 4, 8, 1);
        send(|out| pending.expire(4, true, Instant::now(), out));
        assert_eq!(old_term.try_recv().unwrap(), Err(KvError::WrongLeader));
        assert!(current.try_recv().is_err());
        send(|out| pending.expire(4, false, Instant::now(), out));
        assert_eq!(current.try_recv().unwrap(), Err(KvError::WrongLeader));
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn a_waiter_past_the_commit_timeout_times_out() {
        let mut pending = PendingOps::default();
        let reply = wait(&mut pending, 5, 2, 7, 1);
        send(|out| pending.expire(2, true, Instant::now(), out));
        assert!(reply.try_recv().is_err(), "it has only just started");
        send(|out| {
            pending.expire(
                2,
                true,
                Instant::now() + COMMIT_TIMEOUT + Duration::from_millis(1),
                out,
            )
        });
        assert_eq!(reply.try_recv().unwrap(), Err(KvError::Timeout));
    }

    #[test]
    fn fail_all_answers_everyone() {
        let mut pending = PendingOps::default();
        let a = wait(&mut pending, 1, 1, 7, 1);
        let b = wait(&mut pending, 2, 1, 8, 1);
        send(|out| pending.fail_all(out));
        assert_eq!(a.try_recv().unwrap(), Err(KvError::WrongLeader));
        assert_eq!(b.try_recv().unwrap(), Err(KvError::WrongLeader));
    }
}
