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

use parking_lot::Mutex;
use raft_messages::{
    AppendEntriesReply, InstallSnapshotReply, Membership, RequestVoteArgs, RequestVoteReply,
    APPEND_ENTRIES, INSTALL_SNAPSHOT, REQUEST_VOTE,
};
use serde::Deserialize;

use crate::judged::FirstDeath;
use crate::proof::{end_of, Proof, Ticket};
use crate::protocol::Applied;
use crate::rules::{self, LogPoint};

/// The judge of one cluster's Raft messages; shared by every process of
/// the cluster, across restarts.
pub(crate) struct Referee {
    proof: Mutex<Proof>,
    failure: FirstDeath,
}

/// A request as its receiver got it, kept until it answers.
pub(crate) struct Arrival {
    request: Summary,
    term: u64,
    sender: usize,
    /// The receiver's saves before the request reached it.
    saves: u64,
    ticket: Ticket,
}

/// What the rules need of a request once it is answered.
#[derive(Clone, Copy)]
enum Summary {
    Vote {
        last: LogPoint,
    },
    Append {
        prev: LogPoint,
        end: LogPoint,
        leader_commit: u64,
    },
    Snapshot {
        last: LogPoint,
        done: bool,
    },
}

/// An AppendEntries request read in place: the entries' commands stay in
/// the request's bytes (the judge needs only their terms and
/// configurations), so reading one copies no command. Its fields are
/// `raft_messages::AppendEntriesArgs`'s, in order.
#[derive(Deserialize)]
struct AppendView<'a> {
    term: u64,
    leader: usize,
    prev_log_index: u64,
    prev_log_term: u64,
    #[serde(borrow)]
    entries: Vec<EntryView<'a>>,
    leader_commit: u64,
}

/// `raft_messages::Entry`, read in place.
#[derive(Deserialize)]
struct EntryView<'a> {
    term: u64,
    #[serde(borrow)]
    _command: &'a [u8],
    membership: Option<Membership>,
}

/// `raft_messages::InstallSnapshotArgs`, read in place.
#[derive(Deserialize)]
struct SnapshotView<'a> {
    term: u64,
    leader: usize,
    last_included_index: u64,
    last_included_term: u64,
    membership: Membership,
    _offset: u64,
    #[serde(borrow)]
    _data: &'a [u8],
    done: bool,
}

impl AppendView<'_> {
    fn prev(&self) -> LogPoint {
        LogPoint {
            term: self.prev_log_term,
            index: self.prev_log_index,
        }
    }

    fn entry_terms(&self) -> Vec<u64> {
        self.entries.iter().map(|e| e.term).collect()
    }
}

impl SnapshotView<'_> {
    fn last(&self) -> LogPoint {
        LogPoint {
            term: self.last_included_term,
            index: self.last_included_index,
        }
    }
}

impl Referee {
    /// The judge of a cluster whose voters are `members` at first; a
    /// violation is recorded in `failure`, which fails the test.
    pub(crate) fn new(members: Vec<usize>, failure: FirstDeath) -> Referee {
        Referee {
            proof: Mutex::new(Proof::new(members)),
            failure,
        }
    }

    /// Peer `from` hands `request` for `method` to the network.
    pub(crate) fn sent(&self, from: usize, method: &str, request: &[u8]) {
        if !method.starts_with("Raft.") {
            return;
        }
        let verdict = match method {
            REQUEST_VOTE => {
                decode::<RequestVoteArgs>(from, method, request, "request").and_then(|args| {
                    rules::sender_is_named(from, args.candidate, "RequestVote")?;
                    let last = LogPoint {
                        term: args.last_log_term,
                        index: args.last_log_index,
                    };
                    self.proof.lock().sent_vote(from, args.term, last)
                })
            }
            APPEND_ENTRIES => {
                decode::<AppendView>(from, method, request, "request").and_then(|args| {
                    rules::sender_is_named(from, args.leader, "AppendEntries")?;
                    let mut proof = self.proof.lock();
                    let first = args.prev_log_index + 1;
                    proof.learn_configs(args.entries.iter().zip(first..).filter_map(
                        |(entry, index)| entry.membership.as_ref().map(|config| (index, config)),
                    ));
                    proof.check_leader(from, args.term, "AppendEntries")?;
                    let entry_terms = args.entry_terms();
                    proof.sent_entries(
                        from,
                        args.term,
                        args.prev(),
                        &entry_terms,
                        args.leader_commit,
                    )
                })
            }
            INSTALL_SNAPSHOT => {
                decode::<SnapshotView>(from, method, request, "request").and_then(|args| {
                    rules::sender_is_named(from, args.leader, "InstallSnapshot")?;
                    let mut proof = self.proof.lock();
                    proof.learn_configs([(args.last_included_index, &args.membership)]);
                    proof.check_leader(from, args.term, "InstallSnapshot")?;
                    proof.sent_snapshot(from, args.term, args.last())
                })
            }
            other => Err(format!("S{from} {}", rules::unknown_method(other))),
        };
        self.judge(verdict);
    }

    /// A request for `method` reached peer `to`; `None` for a method the
    /// referee does not judge (or bytes it reported as undecodable).
    pub(crate) fn arrived(&self, to: usize, method: &str, request: &[u8]) -> Option<Arrival> {
        if !method.starts_with("Raft.") {
            return None;
        }
        // The sender's `sent` already reported a request that does not
        // decode; here it is only not judged again.
        let (term, sender, request) = match method {
            REQUEST_VOTE => {
                let args: RequestVoteArgs = postcard::from_bytes(request).ok()?;
                let last = LogPoint {
                    term: args.last_log_term,
                    index: args.last_log_index,
                };
                (args.term, args.candidate, Summary::Vote { last })
            }
            APPEND_ENTRIES => {
                let args: AppendView = postcard::from_bytes(request).ok()?;
                let prev = args.prev();
                let end = end_of(prev, &args.entry_terms());
                let summary = Summary::Append {
                    prev,
                    end,
                    leader_commit: args.leader_commit,
                };
                (args.term, args.leader, summary)
            }
            INSTALL_SNAPSHOT => {
                let args: SnapshotView = postcard::from_bytes(request).ok()?;
                let summary = Summary::Snapshot {
                    last: args.last(),
                    done: args.done,
                };
                (args.term, args.leader, summary)
            }
            _ => return None,
        };
        let mut proof = self.proof.lock();
        let saves = proof.saves_of(to);
        let ticket = match request {
            Summary::Vote { .. } => proof.arrive_vote(to),
            Summary::Append {
                end, leader_commit, ..
            } => proof.arrive(to, leader_commit.min(end.index)),
            // Only the last chunk can install the snapshot.
            Summary::Snapshot { last, done } => proof.arrive(to, if done { last.index } else { 0 }),
        };
        Some(Arrival {
            request,
            term,
            sender,
            saves,
            ticket,
        })
    }

    /// Peer `to` answered the request of `arrival` with `reply`.
    pub(crate) fn answered(&self, to: usize, arrival: &Arrival, reply: &[u8]) {
        let asked = (arrival.term, arrival.sender);
        let verdict = match arrival.request {
            Summary::Vote { last } => decode::<RequestVoteReply>(to, REQUEST_VOTE, reply, "reply")
                .and_then(|reply| {
                    self.proof.lock().answered_vote(
                        to,
                        (arrival.term, arrival.sender, last),
                        &reply,
                        arrival.saves,
                        arrival.ticket,
                    )
                }),
            Summary::Append {
                prev,
                end,
                leader_commit,
            } => {
                decode::<AppendEntriesReply>(to, APPEND_ENTRIES, reply, "reply").and_then(|reply| {
                    self.proof.lock().answered_append(
                        to,
                        asked,
                        (prev, end, leader_commit),
                        &reply,
                        arrival.ticket,
                    )
                })
            }
            Summary::Snapshot { last, .. } => {
                decode::<InstallSnapshotReply>(to, INSTALL_SNAPSHOT, reply, "reply").map(|reply| {
                    self.proof.lock().answered_snapshot(
                        to,
                        asked,
                        last,
                        (reply.term, reply.installed),
                        arrival.ticket,
                    )
                })
            }
        };
        self.judge(verdict);
    }

    /// Peer `to` will never answer the request of `arrival`: it died.
    pub(crate) fn unanswered(&self, to: usize, arrival: &Arrival) {
        self.proof.lock().unanswered(to, arrival.ticket);
    }

    /// Peer `peer` called `Persister::save`.
    pub(crate) fn saved(&self, peer: usize) {
        self.proof.lock().saved(peer);
    }

    /// Peer `peer` started, in a new process.
    pub(crate) fn started(&self, peer: usize) {
        self.proof.lock().started(peer);
    }

    /// Peer `peer` sent `applied` on its apply channel.
    pub(crate) fn applied(&self, peer: usize, applied: &Applied) {
        let (index, term, snapshot) = match *applied {
            Applied::Command { index, term, .. } | Applied::Membership { index, term, .. } => {
                (index, term, false)
            }
            Applied::Snapshot { index, term, .. } => (index, term, true),
        };
        let verdict = self.proof.lock().applied(peer, index, term, snapshot);
        self.judge(verdict);
    }

    /// Whether peer `peer` has acted as the leader of `term` (sent an
    /// AppendEntries or InstallSnapshot of that term, with a quorum's
    /// grants).
    pub(crate) fn has_led(&self, peer: usize, term: u64) -> bool {
        self.proof.lock().has_led(peer, term)
    }

    fn judge(&self, verdict: Result<(), String>) {
        if let Err(violation) = verdict {
            self.failure
                .record(format!("protocol violation: {violation}"));
        }
    }
}

/// Decodes the `what` (request or reply) of `method` sent by `peer`.
fn decode<'a, T: Deserialize<'a>>(
    peer: usize,
    method: &str,
    bytes: &'a [u8],
    what: &str,
) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| {
        format!(
            "S{peer} {}",
            rules::undecodable(method, what, &e.to_string())
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_messages::AppendEntriesArgs;

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

    /// An AppendEntries of `term` from `leader` with entries of `terms`
    /// after `prev` (index, term), saying entries through `commit` are
    /// committed.
    fn append(term: u64, leader: usize, prev: (u64, u64), terms: &[u64], commit: u64) -> Vec<u8> {
        postcard::to_allocvec(&AppendEntriesArgs {
            term,
            leader,
            prev_log_index: prev.0,
            prev_log_term: prev.1,
            entries: terms
                .iter()
                .map(|&t| raft_messages::Entry::command(t, vec![7; 3]))
                .collect(),
            leader_commit: commit,
        })
        .unwrap()
    }

    /// `leader` sends `request` of `term` to `to`, which answers with a
    /// success or, if not `success`, a refusal saying its log ends at
    /// `log_len`.
    fn deliver(
        referee: &Referee,
        (leader, to): (usize, usize),
        term: u64,
        request: &[u8],
        success: bool,
        log_len: u64,
    ) {
        referee.sent(leader, APPEND_ENTRIES, request);
        let arrival = referee.arrived(to, APPEND_ENTRIES, request).unwrap();
        referee.saved(to);
        let reply = AppendEntriesReply {
            term,
            success,
            conflict: (!success).then_some(raft_messages::Conflict {
                term: None,
                first_index_of_term: log_len + 1,
                log_len,
            }),
        };
        referee.answered(to, &arrival, &postcard::to_allocvec(&reply).unwrap());
    }

    fn apply(referee: &Referee, peer: usize, index: u64, term: u64) {
        referee.applied(
            peer,
            &Applied::Command {
                index,
                term,
                command: Vec::new(),
            },
        );
    }

    /// S0 leads term 2 with S1's vote, and S1 acknowledged entries 1-3 of
    /// term 2.
    fn s1_holds_three_entries() -> (Referee, FirstDeath) {
        let (referee, failure) = fresh();
        grant(&referee, 1, 2, 0, true);
        deliver(
            &referee,
            (0, 1),
            2,
            &append(2, 0, (0, 0), &[2, 2, 2], 0),
            true,
            0,
        );
        assert_eq!(failure.get(), None);
        (referee, failure)
    }

    #[test]
    fn a_grant_to_a_candidate_behind_the_voters_acknowledged_log_is_a_violation() {
        let (referee, failure) = s1_holds_three_entries();
        let behind = RequestVoteArgs {
            term: 3,
            candidate: 2,
            last_log_index: 2,
            last_log_term: 2,
        };
        let request = postcard::to_allocvec(&behind).unwrap();
        let arrival = referee.arrived(1, REQUEST_VOTE, &request).unwrap();
        referee.saved(1);
        referee.answered(1, &arrival, &granted(3));
        assert!(
            violation(&failure).contains("[up-to-date-vote]"),
            "{}",
            violation(&failure)
        );
    }

    #[test]
    fn a_candidate_that_lost_acknowledged_entries_is_a_violation() {
        let (referee, failure) = s1_holds_three_entries();
        // It restarts and stands with a shorter log: what it saved lacked
        // what it acknowledged.
        referee.started(1);
        let request = postcard::to_allocvec(&RequestVoteArgs {
            term: 3,
            candidate: 1,
            last_log_index: 1,
            last_log_term: 2,
        })
        .unwrap();
        referee.sent(1, REQUEST_VOTE, &request);
        assert!(
            violation(&failure).contains("[keep-acknowledged]"),
            "{}",
            violation(&failure)
        );
    }

    #[test]
    fn refusing_an_acknowledged_entry_is_a_violation_unless_another_request_was_in_flight() {
        let (referee, failure) = s1_holds_three_entries();
        // A request still unanswered may have changed the log: not judged.
        let pending = append(2, 0, (3, 2), &[2], 0);
        let _unanswered = referee.arrived(1, APPEND_ENTRIES, &pending).unwrap();
        deliver(&referee, (0, 1), 2, &append(2, 0, (3, 2), &[], 0), false, 1);
        assert_eq!(failure.get(), None);
        let (referee, failure) = s1_holds_three_entries();
        deliver(&referee, (0, 1), 2, &append(2, 0, (3, 2), &[], 0), false, 1);
        assert!(
            violation(&failure).contains("[keep-acknowledged]"),
            "{}",
            violation(&failure)
        );
    }

    #[test]
    fn a_leader_commit_beyond_a_quorum_of_acknowledgements_is_a_violation() {
        let (referee, failure) = s1_holds_three_entries();
        // S0 and S1 hold 1-3: a majority of three.
        referee.sent(0, APPEND_ENTRIES, &append(2, 0, (3, 2), &[], 3));
        assert_eq!(failure.get(), None);
        referee.sent(0, APPEND_ENTRIES, &append(2, 0, (3, 2), &[2], 4));
        assert!(
            violation(&failure).contains("[leader-commit]"),
            "{}",
            violation(&failure)
        );
    }

    #[test]
    fn entries_of_an_earlier_term_do_not_commit_by_counting() {
        let (referee, failure) = fresh();
        // S2 leads term 3 and gets S1 to acknowledge its log through 3,
        // entries of an earlier term: with none of term 3 acknowledged,
        // nothing commits by counting (Figure 8).
        grant(&referee, 1, 3, 2, true);
        let heartbeat = append(3, 2, (3, 2), &[], 0);
        deliver(&referee, (2, 1), 3, &heartbeat, true, 0);
        referee.sent(2, APPEND_ENTRIES, &append(3, 2, (3, 2), &[], 3));
        assert!(
            violation(&failure).contains("[leader-commit]"),
            "{}",
            violation(&failure)
        );
    }

    #[test]
    fn a_follower_that_applies_beyond_its_last_new_entry_is_a_violation() {
        let (referee, failure) = s1_holds_three_entries();
        // Commit 3, but the request carried entries through 2 only.
        deliver(
            &referee,
            (0, 2),
            2,
            &append(2, 0, (0, 0), &[2, 2], 0),
            true,
            0,
        );
        referee.sent(0, APPEND_ENTRIES, &append(2, 0, (2, 2), &[], 3));
        let heartbeat = append(2, 0, (2, 2), &[], 3);
        let _in_flight = referee.arrived(2, APPEND_ENTRIES, &heartbeat).unwrap();
        apply(&referee, 2, 1, 2);
        apply(&referee, 2, 2, 2);
        assert_eq!(failure.get(), None);
        apply(&referee, 2, 3, 2);
        assert!(
            violation(&failure).contains("[follower-commit]"),
            "{}",
            violation(&failure)
        );
    }

    #[test]
    fn applying_another_term_at_an_applied_index_is_a_violation() {
        let (referee, failure) = s1_holds_three_entries();
        referee.sent(0, APPEND_ENTRIES, &append(2, 0, (3, 2), &[], 3));
        apply(&referee, 0, 3, 2);
        referee.applied(
            1,
            &Applied::Snapshot {
                index: 3,
                term: 4,
                data: Vec::new(),
            },
        );
        assert!(
            violation(&failure).contains("[committed-entry]"),
            "{}",
            violation(&failure)
        );
    }

    #[test]
    fn a_snapshot_below_what_a_peer_applied_is_a_violation() {
        let (referee, failure) = s1_holds_three_entries();
        referee.sent(0, APPEND_ENTRIES, &append(2, 0, (3, 2), &[], 3));
        apply(&referee, 0, 3, 2);
        let snapshot = |index| Applied::Snapshot {
            index,
            term: 2,
            data: Vec::new(),
        };
        referee.applied(0, &snapshot(3));
        assert_eq!(failure.get(), None);
        referee.applied(0, &snapshot(2));
        assert!(
            violation(&failure).contains("[install-snapshot]"),
            "{}",
            violation(&failure)
        );
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
