// @solution-file 3C
//! ReadIndex (§8 of the extended paper; §6.4 of Ongaro's thesis): a
//! linearizable read that writes nothing to the log.
//!
//! A leader may answer a read from its state machine once it knows two
//! things that hold *after* the read began: it still leads (a majority
//! acknowledged a heartbeat sent after the read arrived, so no newer leader
//! had committed anything by then), and its commit index covers every entry
//! any earlier leader committed (an entry of its own term has committed).
//! The read index is then the commit index.
//!
//! Reads that arrive between two broadcasts share one round of heartbeats.
//! The rounds live in the leader's [`Leadership`](crate::state::Leadership):
//! losing leadership drops them, and every waiting reader hears `None`.

use crossbeam_channel::{Receiver, Sender};

use crate::membership::Membership;
use crate::rules::is_quorum;
use crate::state::{Core, Role};

/// The leader's rounds of leadership confirmation, oldest first.
#[derive(Default)]
pub(crate) struct ReadRounds {
    rounds: Vec<Round>,
}

/// The reads registered while every follower's send number stood at
/// `after`: only the answer to a later send confirms them.
struct Round {
    after: Vec<u64>,
    /// `acked[i]`: peer i answered a send made after the round began (the
    /// leader's own slot is set from the start).
    acked: Vec<bool>,
    /// Whether a broadcast has gone out since the round began.
    broadcast: bool,
    readers: Vec<Sender<u64>>,
}

impl ReadRounds {
    /// Registers a read made while the followers' send numbers are `seqs`,
    /// joining the newest round if nothing was sent since it began.
    pub fn join(&mut self, seqs: Vec<u64>, me: usize) -> Receiver<u64> {
        let (reader, answer) = crossbeam_channel::bounded(1);
        match self.rounds.last_mut() {
            Some(round) if !round.broadcast && round.after == seqs => round.readers.push(reader),
            _ => {
                let mut acked = vec![false; seqs.len()];
                acked[me] = true;
                self.rounds.push(Round {
                    after: seqs,
                    acked,
                    broadcast: false,
                    readers: vec![reader],
                });
            }
        }
        answer
    }

    /// Whether some round still waits for a broadcast to be sent.
    pub fn broadcast_due(&self) -> bool {
        self.rounds.iter().any(|round| !round.broadcast)
    }

    /// A broadcast went out: every open round has its heartbeats.
    pub fn broadcast_sent(&mut self) {
        for round in &mut self.rounds {
            round.broadcast = true;
        }
    }

    /// Peer `from` answered the send numbered `seq`.
    pub fn acknowledge(&mut self, from: usize, seq: u64) {
        for round in &mut self.rounds {
            if seq > round.after[from] {
                round.acked[from] = true;
            }
        }
    }

    /// Answers `index` to the readers of every round a quorum of `config`
    /// acknowledged, and forgets those rounds.
    pub fn answer_confirmed(&mut self, config: &Membership, index: u64) {
        self.rounds.retain(|round| {
            let confirmed = is_quorum(config, |peer| round.acked[peer]);
            if confirmed {
                for reader in &round.readers {
                    // A reader that gave up has dropped its end.
                    let _ = reader.try_send(index);
                }
            }
            !confirmed
        });
    }
}

impl Core {
    /// Registers a read: `None` if we do not lead, else where its read
    /// index will arrive (a dropped sender if we lose leadership first).
    pub fn begin_read(&mut self) -> Option<Receiver<u64>> {
        let me = self.me;
        let Role::Leader(leadership) = &mut self.role else {
            return None;
        };
        let seqs = leadership.progress.iter().map(|p| p.seq).collect();
        let answer = leadership.reads.join(seqs, me);
        self.answer_reads();
        Some(answer)
    }

    /// Answers the confirmed reads, once an entry of our term has
    /// committed (until then the commit index may miss entries an earlier
    /// leader committed).
    pub fn answer_reads(&mut self) {
        let committed_own_term = self.log.term_at(self.commit_index) == Some(self.term);
        let config = self.membership().clone();
        if let Role::Leader(leadership) = &mut self.role {
            if committed_own_term {
                leadership
                    .reads
                    .answer_confirmed(&config, self.commit_index);
            }
        }
    }

    /// Stops serving reads (the peer was killed): every waiting reader
    /// hears `None`.
    pub fn abandon_reads(&mut self) {
        if let Role::Leader(leadership) = &mut self.role {
            leadership.reads = ReadRounds::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{ApplyMsg, Persister, Raft};

    #[test]
    fn a_lone_leader_reads_only_once_an_entry_of_its_term_commits() {
        let net = labrpc::Network::new();
        let (apply_ch, applied) = crossbeam_channel::unbounded();
        let raft = Raft::new(
            vec![net.make_end("self")],
            0,
            Arc::new(Persister::new()),
            apply_ch,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while !raft.get_state().1 {
            assert!(
                Instant::now() < deadline,
                "a lone peer did not elect itself"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(raft.read_index(), None, "nothing of its term has committed");
        let (index, _) = raft.start(b"x".to_vec()).expect("it leads");
        assert!(matches!(
            applied.recv_timeout(Duration::from_secs(5)),
            Ok(ApplyMsg::Command { .. })
        ));
        assert_eq!(raft.read_index(), Some(index));
        raft.kill();
        assert_eq!(raft.read_index(), None, "a killed peer answers no read");
        net.cleanup();
    }

    fn three() -> Membership {
        Membership::Stable(vec![0, 1, 2])
    }

    #[test]
    fn a_read_waits_for_a_majority_answering_later_sends() {
        let mut rounds = ReadRounds::default();
        let answer = rounds.join(vec![0, 4, 7], 0);
        // Answers to sends made before the read do not count.
        rounds.acknowledge(1, 4);
        rounds.acknowledge(2, 7);
        rounds.answer_confirmed(&three(), 10);
        assert!(answer.try_recv().is_err());
        rounds.acknowledge(2, 8);
        rounds.answer_confirmed(&three(), 10);
        assert_eq!(answer.try_recv(), Ok(10));
    }

    #[test]
    fn reads_before_a_broadcast_share_its_round() {
        let mut rounds = ReadRounds::default();
        let first = rounds.join(vec![0, 1, 1], 0);
        let second = rounds.join(vec![0, 1, 1], 0);
        assert_eq!(rounds.rounds.len(), 1);
        assert!(rounds.broadcast_due());
        rounds.broadcast_sent();
        assert!(!rounds.broadcast_due());
        // After the broadcast a new read needs a new round.
        let third = rounds.join(vec![0, 2, 2], 0);
        assert_eq!(rounds.rounds.len(), 2);
        rounds.acknowledge(1, 2);
        rounds.answer_confirmed(&three(), 5);
        assert_eq!((first.try_recv(), second.try_recv()), (Ok(5), Ok(5)));
        assert!(
            third.try_recv().is_err(),
            "seq 2 was sent before the third read"
        );
    }

    #[test]
    fn a_read_does_not_join_a_round_whose_sends_went_out() {
        let mut rounds = ReadRounds::default();
        let _first = rounds.join(vec![0, 1, 1], 0);
        // A send to peer 1 went out (not a broadcast) before the next read.
        let second = rounds.join(vec![0, 2, 1], 0);
        assert_eq!(rounds.rounds.len(), 2);
        rounds.acknowledge(1, 2);
        rounds.answer_confirmed(&three(), 3);
        assert!(second.try_recv().is_err());
    }

    #[test]
    fn a_lone_peer_confirms_at_once() {
        let mut rounds = ReadRounds::default();
        let answer = rounds.join(vec![0], 0);
        rounds.answer_confirmed(&Membership::Stable(vec![0]), 1);
        assert_eq!(answer.try_recv(), Ok(1));
    }

    #[test]
    fn dropped_rounds_tell_their_readers() {
        let mut rounds = ReadRounds::default();
        let answer = rounds.join(vec![0, 0, 0], 0);
        drop(rounds);
        assert!(answer.recv().is_err());
    }
}
