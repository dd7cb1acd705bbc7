//! The protocol-aware judge: it reads every Raft message that crosses the
//! judge's network (the given types of `raft_messages`), keeps what the
//! messages prove (each voter's grants per term, each peer's saves), and
//! fails the test at the first message that breaks a rule of Figure 2,
//! naming the rule and the message. The rules themselves are pure
//! functions in [`crate::rules`]; this module feeds them.
//!
//! A message is seen twice: when its sender hands it to the network (what
//! a peer claims by sending it: that it leads, that it is a candidate) and
//! when its receiver answers it (what the answer claims: a vote, a success),
//! with the saves the receiver made in between.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;
use raft_messages::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, Membership, RequestVoteArgs,
    RequestVoteReply, APPEND_ENTRIES, INSTALL_SNAPSHOT, REQUEST_VOTE,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::judged::FirstDeath;
use crate::rules;

/// The judge of one cluster's Raft messages; shared by every process of
/// the cluster, across restarts.
pub(crate) struct Referee {
    proof: Mutex<Proof>,
    failure: FirstDeath,
}

/// A request as its receiver got it, kept until it answers.
pub(crate) struct Arrival {
    method: Method,
    head: Head,
    /// The receiver's saves before the request reached it.
    saves: u64,
}

/// Which Raft request.
#[derive(Clone, Copy)]
enum Method {
    Vote,
    Append,
    Snapshot,
}

/// The first two fields of every Raft request: its term and the peer that
/// sends it (candidate or leader). The receiver's side decodes only these,
/// from the start of the request's bytes, so it copies no entries and no
/// snapshot chunk (the sender's side decoded the whole request).
#[derive(Deserialize)]
struct Head {
    term: u64,
    sender: usize,
}

/// A decoded Raft request.
#[derive(Debug)]
enum Request {
    Vote(RequestVoteArgs),
    Append(AppendEntriesArgs),
    Snapshot(InstallSnapshotArgs),
}

/// What the messages so far prove.
#[derive(Default)]
struct Proof {
    /// `(voter, term)` -> the candidate it granted its vote to.
    grants: HashMap<(usize, u64), usize>,
    /// The saves each peer made, counted across its restarts.
    saves: HashMap<usize, u64>,
    /// Every configuration seen: the initial one and each one a message
    /// carried. A leader's grants must be a quorum of one of them.
    configs: Vec<Membership>,
    /// `(leader, term)` pairs already shown to hold a quorum's grants.
    leaders: HashSet<(usize, u64)>,
}

impl Referee {
    /// The judge of a cluster whose voters are `members` at first; a
    /// violation is recorded in `failure`, which fails the test.
    pub(crate) fn new(members: Vec<usize>, failure: FirstDeath) -> Referee {
        Referee {
            proof: Mutex::new(Proof {
                configs: vec![Membership::Stable(members)],
                ..Proof::default()
            }),
            failure,
        }
    }

    /// Peer `from` hands `request` for `method` to the network.
    pub(crate) fn sent(&self, from: usize, method: &str, request: &[u8]) {
        let Some(decoded) = self.decode_request(from, method, request) else {
            return;
        };
        let mut proof = self.proof.lock();
        let verdict = match &decoded {
            Request::Vote(args) => rules::sender_is_named(from, args.candidate, "RequestVote"),
            Request::Append(args) => {
                proof.learn_configs(args.entries.iter().filter_map(|e| e.membership.as_ref()));
                rules::sender_is_named(from, args.leader, "AppendEntries")
                    .and_then(|()| proof.check_leader(from, args.term, "AppendEntries"))
            }
            Request::Snapshot(args) => {
                proof.learn_configs([&args.membership]);
                rules::sender_is_named(from, args.leader, "InstallSnapshot")
                    .and_then(|()| proof.check_leader(from, args.term, "InstallSnapshot"))
            }
        };
        drop(proof);
        self.judge(verdict);
    }

    /// A request for `method` reached peer `to`; `None` for a method the
    /// referee does not judge (or bytes it reported as undecodable).
    pub(crate) fn arrived(&self, to: usize, method: &str, request: &[u8]) -> Option<Arrival> {
        if !method.starts_with("Raft.") {
            return None;
        }
        let method = match method {
            REQUEST_VOTE => Method::Vote,
            APPEND_ENTRIES => Method::Append,
            INSTALL_SNAPSHOT => Method::Snapshot,
            _ => return None,
        };
        // The sender's `sent` already reported a request that does not
        // decode; here it is only not judged again.
        let (head, _) = postcard::take_from_bytes::<Head>(request).ok()?;
        let saves = self.proof.lock().saves_of(to);
        Some(Arrival {
            method,
            head,
            saves,
        })
    }

    /// Peer `to` answered the request of `arrival` with `reply`.
    pub(crate) fn answered(&self, to: usize, arrival: &Arrival, reply: &[u8]) {
        let Head { term, sender } = arrival.head;
        let verdict = match arrival.method {
            Method::Vote => match decode::<RequestVoteReply>(REQUEST_VOTE, reply, "reply") {
                Ok(reply) => self
                    .proof
                    .lock()
                    .check_vote(to, term, sender, &reply, arrival.saves),
                Err(problem) => Err(format!("S{to} {problem}")),
            },
            Method::Append => match decode::<AppendEntriesReply>(APPEND_ENTRIES, reply, "reply") {
                Ok(reply) => rules::success_in_request_term(to, term, reply.term, reply.success),
                Err(problem) => Err(format!("S{to} {problem}")),
            },
            Method::Snapshot => Ok(()),
        };
        self.judge(verdict);
    }

    /// Peer `peer` called `Persister::save`.
    pub(crate) fn saved(&self, peer: usize) {
        *self.proof.lock().saves.entry(peer).or_default() += 1;
    }

    /// Whether peer `peer` has acted as the leader of `term` (sent an
    /// AppendEntries or InstallSnapshot of that term, with a quorum's
    /// grants).
    pub(crate) fn has_led(&self, peer: usize, term: u64) -> bool {
        self.proof.lock().leaders.contains(&(peer, term))
    }

    fn decode_request(&self, from: usize, method: &str, request: &[u8]) -> Option<Request> {
        if !method.starts_with("Raft.") {
            return None;
        }
        match decode_request(method, request) {
            Ok(request) => Some(request),
            Err(problem) => {
                self.judge(Err(format!("S{from} {problem}")));
                None
            }
        }
    }

    fn judge(&self, verdict: Result<(), String>) {
        if let Err(violation) = verdict {
            self.failure
                .record(format!("protocol violation: {violation}"));
        }
    }
}

impl Proof {
    fn saves_of(&self, peer: usize) -> u64 {
        self.saves.get(&peer).copied().unwrap_or(0)
    }

    fn learn_configs<'a>(&mut self, configs: impl IntoIterator<Item = &'a Membership>) {
        for config in configs {
            if !self.configs.contains(config) {
                self.configs.push(config.clone());
            }
        }
    }

    /// Peer `leader` acts as the leader of `term` by sending `what`.
    fn check_leader(&mut self, leader: usize, term: u64, what: &str) -> Result<(), String> {
        if self.leaders.contains(&(leader, term)) {
            return Ok(());
        }
        let own_vote = self.grants.get(&(leader, term)).copied();
        let granted = |p: usize| p == leader || self.grants.get(&(p, term)) == Some(&leader);
        rules::leader_has_quorum(leader, term, what, own_vote, &granted, &self.configs)?;
        self.leaders.insert((leader, term));
        Ok(())
    }

    /// Voter `voter` answered `candidate`'s vote request of `term` with `reply`, having
    /// made `saves` saves before the request reached it.
    fn check_vote(
        &mut self,
        voter: usize,
        term: u64,
        candidate: usize,
        reply: &RequestVoteReply,
        saves: u64,
    ) -> Result<(), String> {
        if !reply.vote_granted {
            return Ok(());
        }
        rules::success_in_request_term(voter, term, reply.term, true)?;
        let earlier = self.grants.get(&(voter, term)).copied();
        rules::grant_once(voter, term, candidate, earlier)?;
        if earlier.is_none() {
            rules::grant_saved(voter, term, candidate, self.saves_of(voter) > saves)?;
            if self.leaders.contains(&(voter, term)) {
                return rules::grant_once(voter, term, candidate, Some(voter));
            }
            self.grants.insert((voter, term), candidate);
        }
        Ok(())
    }
}

fn decode_request(method: &str, bytes: &[u8]) -> Result<Request, String> {
    match method {
        REQUEST_VOTE => decode(method, bytes, "request").map(Request::Vote),
        APPEND_ENTRIES => decode(method, bytes, "request").map(Request::Append),
        INSTALL_SNAPSHOT => decode(method, bytes, "request").map(Request::Snapshot),
        other => Err(rules::unknown_method(other)),
    }
}

fn decode<T: DeserializeOwned>(method: &str, bytes: &[u8], what: &str) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| rules::undecodable(method, what, &e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (Referee, FirstDeath) {
        let failure = FirstDeath::default();
        (Referee::new(vec![0, 1, 2], failure.clone()), failure)
    }

    fn vote(term: u64, candidate: usize) -> Vec<u8> {
        postcard::to_allocvec(&RequestVoteArgs {
            term,
            candidate,
            last_log_index: 0,
            last_log_term: 0,
        })
        .unwrap()
    }

    fn granted(term: u64) -> Vec<u8> {
        postcard::to_allocvec(&RequestVoteReply {
            term,
            vote_granted: true,
        })
        .unwrap()
    }

    fn heartbeat(term: u64, leader: usize) -> Vec<u8> {
        postcard::to_allocvec(&AppendEntriesArgs {
            term,
            leader,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
        })
        .unwrap()
    }

    /// Voter `voter` gets `candidate`'s request for `term`, saves (or not),
    /// and grants it.
    fn grant(referee: &Referee, voter: usize, term: u64, candidate: usize, save: bool) {
        let arrival = referee
            .arrived(voter, REQUEST_VOTE, &vote(term, candidate))
            .unwrap();
        if save {
            referee.saved(voter);
        }
        referee.answered(voter, &arrival, &granted(term));
    }

    fn violation(failure: &FirstDeath) -> String {
        failure.get().unwrap_or_default()
    }

    #[test]
    fn a_saved_grant_then_the_winners_heartbeat_is_no_violation() {
        let (referee, failure) = fresh();
        grant(&referee, 1, 3, 0, true);
        grant(&referee, 1, 3, 0, false);
        referee.sent(0, APPEND_ENTRIES, &heartbeat(3, 0));
        assert_eq!(failure.get(), None);
        assert!(referee.has_led(0, 3));
    }

    #[test]
    fn two_grants_in_one_term_are_a_violation() {
        let (referee, failure) = fresh();
        grant(&referee, 1, 3, 0, true);
        grant(&referee, 1, 3, 2, true);
        assert!(
            violation(&failure).contains("[vote-once]"),
            "{}",
            violation(&failure)
        );
    }

    #[test]
    fn a_grant_with_no_save_since_the_request_is_a_violation() {
        let (referee, failure) = fresh();
        referee.saved(1);
        grant(&referee, 1, 3, 0, false);
        assert!(violation(&failure).contains("[persist-vote]"));
    }

    #[test]
    fn leading_without_a_quorum_of_grants_in_the_term_is_a_violation() {
        let (referee, failure) = fresh();
        // S1's grant was for term 2: it does not count in term 3.
        grant(&referee, 1, 2, 0, true);
        referee.sent(0, APPEND_ENTRIES, &heartbeat(3, 0));
        assert!(
            violation(&failure).contains("[majority]"),
            "{}",
            violation(&failure)
        );
        assert!(!referee.has_led(0, 3));
    }

    #[test]
    fn a_success_in_another_term_than_the_requests_is_a_violation() {
        let (referee, failure) = fresh();
        let arrival = referee
            .arrived(1, APPEND_ENTRIES, &heartbeat(2, 0))
            .unwrap();
        let reply = postcard::to_allocvec(&AppendEntriesReply {
            term: 4,
            success: true,
            conflict: None,
        })
        .unwrap();
        referee.answered(1, &arrival, &reply);
        assert!(violation(&failure).contains("[refuse-stale-term]"));
    }

    #[test]
    fn a_message_the_service_does_not_define_is_a_violation() {
        let (referee, failure) = fresh();
        referee.sent(2, "Raft.Heartbeat", &[]);
        assert!(violation(&failure).contains("Raft.Heartbeat"));
        let (referee, failure) = fresh();
        referee.sent(2, REQUEST_VOTE, &[0xff]);
        assert!(violation(&failure).contains("does not decode"));
    }

    #[test]
    fn a_joint_configuration_seen_in_a_message_counts_as_a_quorum() {
        let failure = FirstDeath::default();
        let referee = Referee::new(vec![0], failure.clone());
        let mut change = postcard::from_bytes::<AppendEntriesArgs>(&heartbeat(1, 0)).unwrap();
        change.entries.push(raft_messages::Entry::membership(
            1,
            Membership::Stable(vec![0, 1, 2]),
        ));
        referee.sent(0, APPEND_ENTRIES, &postcard::to_allocvec(&change).unwrap());
        assert_eq!(failure.get(), None);
        grant(&referee, 2, 2, 1, true);
        referee.sent(1, APPEND_ENTRIES, &heartbeat(2, 1));
        assert_eq!(failure.get(), None);
    }
}
