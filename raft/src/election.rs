// @solution-file 2A
//! Leader election: standing as a candidate, voting, and winning.

use std::time::Instant;

use crate::rpc::{Outgoing, Request, RequestVoteArgs, RequestVoteReply};
use crate::rules::{grants_vote, is_quorum};
use crate::state::{Core, Leadership, Role};
use crate::timing::MIN_ELECTION_TIMEOUT;

impl Core {
    /// The election timeout passed: stand for election in a new term.
    pub fn start_election(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        self.term += 1;
        self.voted_for = Some(self.me);
        self.dirty = true;
        let mut votes = vec![false; self.peer_count];
        votes[self.me] = true;
        self.role = Role::Candidate { votes };
        self.reset_election_deadline(now);
        peer_log!(
            debug,
            self,
            "stands for election, log {}@T{}",
            self.log.last_index(),
            self.log.last_term()
        );
        if self.has_won() {
            self.become_leader(now);
            return;
        }
        let args = RequestVoteArgs {
            term: self.term,
            candidate: self.me,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        out.extend(self.others().into_iter().map(|to| Outgoing {
            to,
            seq: 0,
            request: Request::Vote(args.clone()),
        }));
    }

    /// A candidate asks for our vote (Figure 2, RequestVote RPC).
    ///
    /// A request that cannot be a fair election is ignored, its term not
    /// adopted (see [`disrupts`](Core::disrupts)). A peer outside its own
    /// configuration still votes: a server being added may hold a vote
    /// that `C_new` needs before the entry that makes it a member reaches
    /// it (Ongaro's thesis, §4.1: servers answer whatever their
    /// configuration).
    pub fn handle_request_vote(&mut self, args: RequestVoteArgs, now: Instant) -> RequestVoteReply {
        if self.disrupts(args.candidate, now) {
            peer_log!(
                trace,
                self,
                "vote request of S{} (T{}) ignored: a leader is in touch",
                args.candidate,
                args.term
            );
            return RequestVoteReply {
                term: self.term,
                vote_granted: false,
            };
        }
        self.observe_term(args.term, now);
        let granted = grants_vote(self.term, self.voted_for, &self.log, &args);
        if granted {
            if self.voted_for.is_none() {
                self.voted_for = Some(args.candidate);
                self.dirty = true;
            }
            self.reset_election_deadline(now);
        }
        peer_log!(
            trace,
            self,
            "vote for S{} (T{}, log {}@T{}): {}",
            args.candidate,
            args.term,
            args.last_log_index,
            args.last_log_term,
            if granted { "granted" } else { "refused" }
        );
        RequestVoteReply {
            term: self.term,
            vote_granted: granted,
        }
    }

    /// A peer answered the vote request of our election in `election_term`.
    pub fn on_vote_reply(
        &mut self,
        from: usize,
        election_term: u64,
        reply: RequestVoteReply,
        now: Instant,
    ) {
        self.observe_term(reply.term, now);
        if self.term != election_term || !reply.vote_granted {
            return;
        }
        let Role::Candidate { votes } = &mut self.role else {
            return;
        };
        votes[from] = true;
        if self.has_won() {
            self.become_leader(now);
        }
    }

    /// Whether a quorum of our configuration has voted for us.
    fn has_won(&self) -> bool {
        let Role::Candidate { votes } = &self.role else {
            return false;
        };
        is_quorum(self.membership(), |peer| votes[peer])
    }

    /// Whether `candidate`'s election could only disrupt a working leader
    /// (§6 of the extended paper, removed servers): a follower heard from a
    /// leader within the minimum election timeout, or a leader is asked by
    /// a peer outside its configuration.
    fn disrupts(&self, candidate: usize, now: Instant) -> bool {
        if self.is_leader() {
            return !self.membership().contains(candidate);
        }
        self.leader_contact
            .is_some_and(|at| now.duration_since(at) < MIN_ELECTION_TIMEOUT)
    }

    fn become_leader(&mut self, now: Instant) {
        peer_log!(
            debug,
            self,
            "becomes leader, log {}..={}",
            self.log.snapshot_index(),
            self.log.last_index()
        );
        self.role = Role::Leader(Leadership::new(self.peer_count, self.log.last_index(), now));
        self.resume_membership_change();
    }
}
