//! What the Raft messages seen so far prove, for the referee
//! ([`crate::referee`]) to judge the next one by: each voter's grants per
//! term, each peer's saves, the configurations seen, which peers led which
//! terms, what each peer is known to hold in its log (from what it
//! acknowledged), what each leadership's acknowledgements prove committed,
//! and the term of every applied index.
//!
//! Every claim here is a lower bound a correct peer cannot fall below, so a
//! rule that compares a message with it fails only a peer that broke the
//! rule. Where the order in which a peer handled two requests is not known
//! (it answers concurrently, out of order), what depends on it is not
//! judged.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use raft_messages::{AppendEntriesReply, Membership, RequestVoteReply};

use crate::rules::{self, LogPoint};

/// What the messages so far prove.
#[derive(Default)]
pub(crate) struct Proof {
    /// `(voter, term)` -> the candidate it granted its vote to.
    grants: HashMap<(usize, u64), usize>,
    /// The saves each peer made, counted across its restarts.
    saves: HashMap<usize, u64>,
    /// Every configuration seen: the initial one, each one a message
    /// carried, and the `C_new` of each committed `C_old,new`. A leader's
    /// grants, and the acknowledgements that commit, must be a quorum of
    /// one of them.
    configs: Vec<Membership>,
    /// The `C_new` of each `C_old,new` seen, with the index of its entry,
    /// until that entry is committed.
    pending_new: Vec<(u64, Membership)>,
    /// `(leader, term)` pairs already shown to hold a quorum's grants.
    leaders: HashSet<(usize, u64)>,
    /// Each leadership's entries and acknowledgements.
    leaderships: HashMap<(usize, u64), Leadership>,
    /// Each peer's log, as far as its messages show it.
    peers: HashMap<usize, PeerLog>,
    /// The highest index the acknowledgements prove committed.
    committed: u64,
    /// Each applied index's entry: see [`AppliedEntry`].
    applied_entries: Vec<AppliedEntry>,
    /// The latest term a leader was seen to lead.
    latest_leader_term: u64,
    /// The ids given to requests as they arrive.
    next_arrival: u64,
}

/// One leader's term, as its messages show it.
#[derive(Default)]
struct Leadership {
    /// The first index of an entry of its own term it sent, if any: only
    /// such an entry commits by counting.
    first_own: Option<u64>,
    /// The last index it sent (its log holds at least that far).
    last_sent: u64,
    /// Each follower's highest acknowledged index in this term.
    acks: HashMap<usize, u64>,
}

/// What is known of one peer's log.
#[derive(Default)]
struct PeerLog {
    /// The AppendEntries and InstallSnapshot requests it got and has not
    /// answered: arrival id -> the commit index the request allows it.
    in_flight: HashMap<u64, u64>,
    /// How many AppendEntries and InstallSnapshot requests reached it.
    arrivals: u64,
    /// What it is known to hold: see [`Held`].
    held: Option<Held>,
    /// The highest commit index the requests it accepted allow it.
    commit_allowed: u64,
    /// The last index it applied since it started.
    applied: u64,
    /// The highest index it ever applied: its log (or snapshot) holds the
    /// entries applied up to there for good.
    applied_ever: u64,
    /// When the last AppendEntries it accepted reached it (before it
    /// handled it, so a slow judge can only make this earlier).
    accepted_append: Option<Instant>,
    /// Its last election: its term, and when it began.
    campaign: Option<(u64, Instant)>,
    /// Its last election timeouts, one after the other, with no leader
    /// heard in between.
    timeouts: Vec<Duration>,
}

/// A prefix of a leader's log a peer holds: it acknowledged it in `term`.
/// Of two acknowledgements, the one of the later term was handled last (a
/// peer refuses the earlier term after it), and of one term the longer one
/// (a leader's log only grows in its term): so the latest such prefix is
/// one the peer holds however it ordered its requests, until a request of
/// a later term replaces it.
#[derive(Clone, Copy)]
struct Held {
    term: u64,
    last: LogPoint,
}

/// The entry applied at an index, as the first peer to apply it said:
/// its term, and the latest term a leader had led then. The leader that
/// committed it led no later term than that, so every leader of a later
/// term holds it (Leader Completeness). A zero term: nothing applied there
/// yet.
#[derive(Clone, Copy, Default)]
struct AppliedEntry {
    term: u64,
    led_then: u64,
}

/// A request that may change the receiver's log, as it arrived.
#[derive(Clone, Copy)]
pub(crate) struct Ticket {
    id: u64,
    /// When it arrived.
    at: Instant,
    /// Whether no other such request was in flight at its receiver.
    alone: bool,
    /// The receiver's arrivals once this one arrived.
    arrivals: u64,
}

impl Proof {
    /// The proof at the start of a cluster whose voters are `members`.
    pub(crate) fn new(members: Vec<usize>) -> Proof {
        Proof {
            configs: vec![Membership::Stable(members)],
            ..Proof::default()
        }
    }

    pub(crate) fn saves_of(&self, peer: usize) -> u64 {
        self.saves.get(&peer).copied().unwrap_or(0)
    }

    pub(crate) fn saved(&mut self, peer: usize) {
        *self.saves.entry(peer).or_default() += 1;
    }

    pub(crate) fn has_led(&self, peer: usize, term: u64) -> bool {
        self.leaders.contains(&(peer, term))
    }

    /// Learns the configurations messages carried, each with the index
    /// of its entry.
    pub(crate) fn learn_configs<'a>(
        &mut self,
        configs: impl IntoIterator<Item = (u64, &'a Membership)>,
    ) {
        for (index, config) in configs {
            if let Membership::Joint { new, .. } = config {
                self.pending_new
                    .push((index, Membership::Stable(new.clone())));
            }
            self.add_config(config.clone());
        }
        self.release_new();
    }

    fn add_config(&mut self, config: Membership) {
        if !self.configs.contains(&config) {
            self.configs.push(config);
        }
    }

    /// Once a `C_old,new` is committed, its leader may append `C_new` and
    /// count by it before any message shows the entry: from then on it is
    /// a configuration seen.
    fn release_new(&mut self) {
        let committed = self.committed;
        let (due, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_new)
            .into_iter()
            .partition(|&(index, _)| index <= committed);
        self.pending_new = pending;
        for (_, config) in due {
            self.add_config(config);
        }
    }

    /// Peer `peer` started (again): it has applied nothing yet, and its
    /// timers start afresh. Requests of its earlier run that were never
    /// answered may have changed its log.
    pub(crate) fn started(&mut self, peer: usize) {
        let log = self.peers.entry(peer).or_default();
        log.applied = 0;
        log.accepted_append = None;
        log.campaign = None;
        log.timeouts.clear();
        if !log.in_flight.is_empty() {
            log.in_flight.clear();
            log.held = None;
        }
    }

    /// Peer `leader` acts as the leader of `term` by sending `what`.
    pub(crate) fn check_leader(
        &mut self,
        leader: usize,
        term: u64,
        what: &str,
    ) -> Result<(), String> {
        if self.leaders.contains(&(leader, term)) {
            return Ok(());
        }
        let own_vote = self.grants.get(&(leader, term)).copied();
        let granted = |p: usize| p == leader || self.grants.get(&(p, term)) == Some(&leader);
        rules::leader_has_quorum(leader, term, what, own_vote, &granted, &self.configs)?;
        self.leaders.insert((leader, term));
        self.latest_leader_term = self.latest_leader_term.max(term);
        Ok(())
    }

    /// Peer `leader`, proven leader of `term`, sent entries through `end`
    /// after `prev` (the terms of the entries in `entry_terms`), saying
    /// entries up to `leader_commit` are committed.
    pub(crate) fn sent_entries(
        &mut self,
        leader: usize,
        term: u64,
        prev: LogPoint,
        entry_terms: &[u64],
        leader_commit: u64,
    ) -> Result<(), String> {
        self.holds_applied(leader, Some(term), "an AppendEntries", prev, entry_terms)?;
        let end = end_of(prev, entry_terms);
        let leadership = self.leaderships.entry((leader, term)).or_default();
        leadership.last_sent = leadership.last_sent.max(end.index);
        if let Some(own) = entry_terms.iter().position(|&t| t == term) {
            let own = prev.index + 1 + own as u64;
            leadership.first_own = Some(leadership.first_own.map_or(own, |first| first.min(own)));
        }
        // Its own log is not held: a leader may send its entries before it
        // saves them (it only may not count itself toward their commit).
        rules::commit_proven(leader, term, leader_commit, self.committed)?;
        let log = self.peers.entry(leader).or_default();
        log.commit_allowed = log.commit_allowed.max(leader_commit);
        Ok(())
    }

    /// Peer `leader`, proven leader of `term`, sent a chunk of its snapshot
    /// through `last`.
    pub(crate) fn sent_snapshot(
        &mut self,
        leader: usize,
        term: u64,
        last: LogPoint,
    ) -> Result<(), String> {
        self.holds_applied(leader, Some(term), "an InstallSnapshot", last, &[])
    }

    /// Peer `candidate` asks for votes in `term`, its log ending at `last`.
    pub(crate) fn sent_vote(
        &mut self,
        candidate: usize,
        term: u64,
        last: LogPoint,
    ) -> Result<(), String> {
        self.holds_applied(candidate, None, "its RequestVote", last, &[])?;
        let log = self.peers.entry(candidate).or_default();
        if log.campaign.is_none_or(|(began, _)| term > began) {
            log.campaigned(candidate, term, Instant::now())?;
        }
        match log.held {
            Some(held) if log.in_flight.is_empty() => {
                rules::claim_keeps_acknowledged(candidate, "its RequestVote", last, held.last)
            }
            _ => Ok(()),
        }
    }

    /// A request that may change `to`'s log arrived; it allows a commit up
    /// to `allows` if accepted.
    pub(crate) fn arrive(&mut self, to: usize, allows: u64) -> Ticket {
        let id = self.next_arrival;
        self.next_arrival += 1;
        let log = self.peers.entry(to).or_default();
        let alone = log.in_flight.is_empty();
        log.in_flight.insert(id, allows);
        log.arrivals += 1;
        Ticket {
            id,
            at: Instant::now(),
            alone,
            arrivals: log.arrivals,
        }
    }

    /// A RequestVote arrived at `to`: what a later answer can be judged
    /// against (the ticket's id is unused).
    pub(crate) fn arrive_vote(&mut self, to: usize) -> Ticket {
        let log = self.peers.entry(to).or_default();
        Ticket {
            id: u64::MAX,
            at: Instant::now(),
            alone: log.in_flight.is_empty(),
            arrivals: log.arrivals,
        }
    }

    /// What `peer` surely held while it handled the request of `ticket`:
    /// nothing is known if another request that may change its log was in
    /// flight then.
    fn surely_held(&self, peer: usize, ticket: Ticket) -> Option<LogPoint> {
        let log = self.peers.get(&peer)?;
        let quiet = ticket.alone && log.arrivals == ticket.arrivals;
        log.held.filter(|_| quiet).map(|held| held.last)
    }

    /// `to` will never answer the request of `ticket` (it died): its log
    /// may have changed unseen.
    pub(crate) fn unanswered(&mut self, to: usize, ticket: Ticket) {
        let log = self.peers.entry(to).or_default();
        if log.in_flight.remove(&ticket.id).is_some() {
            log.held = None;
        }
    }

    /// `voter` answered `candidate`'s vote request of `term` (whose log ends
    /// at `last`) with `reply`, having made `saves` saves before the
    /// request reached it.
    pub(crate) fn answered_vote(
        &mut self,
        voter: usize,
        (term, candidate, last): (u64, usize, LogPoint),
        reply: &RequestVoteReply,
        saves: u64,
        ticket: Ticket,
    ) -> Result<(), String> {
        if !reply.vote_granted {
            return Ok(());
        }
        rules::success_in_request_term(voter, term, reply.term, true)?;
        if let Some(held) = self.surely_held(voter, ticket) {
            rules::grant_up_to_date(voter, term, candidate, last, held)?;
        }
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

    /// `follower` answered `leader`'s AppendEntries of `term` (entries after
    /// `prev` through `end`, committed up to `leader_commit`) with `reply`.
    pub(crate) fn answered_append(
        &mut self,
        follower: usize,
        (term, leader): (u64, usize),
        (prev, end, leader_commit): (LogPoint, LogPoint, u64),
        reply: &AppendEntriesReply,
        ticket: Ticket,
    ) -> Result<(), String> {
        let held = self.surely_held(follower, ticket);
        if let Some(log) = self.peers.get_mut(&follower) {
            log.in_flight.remove(&ticket.id);
        }
        rules::success_in_request_term(follower, term, reply.term, reply.success)?;
        if reply.term != term {
            return Ok(());
        }
        if !reply.success {
            return match (held, reply.conflict) {
                (Some(held), Some(conflict)) => {
                    rules::refusal_keeps_acknowledged(follower, term, prev, conflict.log_len, held)
                }
                _ => Ok(()),
            };
        }
        self.accepted(follower, (term, leader), end, leader_commit.min(end.index));
        let log = self.peers.entry(follower).or_default();
        log.accepted_append = log.accepted_append.max(Some(ticket.at));
        Ok(())
    }

    /// `follower` answered `leader`'s InstallSnapshot chunk of `term`
    /// (a snapshot through `last`) saying whether it now holds it all.
    pub(crate) fn answered_snapshot(
        &mut self,
        follower: usize,
        (term, leader): (u64, usize),
        last: LogPoint,
        (reply_term, installed): (u64, bool),
        ticket: Ticket,
    ) {
        if let Some(log) = self.peers.get_mut(&follower) {
            log.in_flight.remove(&ticket.id);
        }
        if !installed || reply_term != term {
            return;
        }
        self.accepted(follower, (term, leader), last, last.index);
    }

    /// `follower` accepted a request of `leader`'s `term`: it holds the
    /// leader's log through `last`, and may commit up to `commit`.
    fn accepted(
        &mut self,
        follower: usize,
        (term, leader): (u64, usize),
        last: LogPoint,
        commit: u64,
    ) {
        self.hold(follower, term, last);
        let log = self.peers.entry(follower).or_default();
        log.commit_allowed = log.commit_allowed.max(commit);
        self.acknowledged(leader, term, follower, last.index);
    }

    /// `peer` applied index `index` of `term` (a snapshot through it, if
    /// `snapshot`).
    pub(crate) fn applied(
        &mut self,
        peer: usize,
        index: u64,
        term: u64,
        snapshot: bool,
    ) -> Result<(), String> {
        self.same_applied_entry(peer, index, term, snapshot)?;
        let log = self.peers.entry(peer).or_default();
        let in_flight = log.in_flight.values().copied().max().unwrap_or(0);
        let allowed = log.commit_allowed.max(in_flight);
        if index > allowed {
            // Only then is it worth asking whether it led (its own commits
            // are what its leaderships' acknowledgements prove) or is the
            // sole voter of a configuration (it commits alone).
            let led = self.leaders.iter().any(|&(leader, _)| leader == peer);
            let alone = self.configs.iter().any(|config| config.voters() == [peer]);
            let allowed = if led {
                allowed.max(self.committed)
            } else {
                allowed
            };
            if !alone {
                rules::apply_allowed(peer, index, allowed, led)?;
            }
        }
        let log = self.peers.entry(peer).or_default();
        if snapshot {
            rules::install_moves_forward(peer, index, log.applied)?;
        }
        log.applied = index;
        log.applied_ever = log.applied_ever.max(index);
        let slot = index as usize;
        if self.applied_entries.len() <= slot {
            self.applied_entries
                .resize(slot + 1, AppliedEntry::default());
        }
        if self.applied_entries[slot].term == 0 {
            self.applied_entries[slot] = AppliedEntry {
                term,
                led_then: self.latest_leader_term,
            };
        }
        Ok(())
    }

    /// `peer` applied the entry at `index` of `term`: every peer applies
    /// the same entry at an index (State Machine Safety).
    fn same_applied_entry(
        &self,
        peer: usize,
        index: u64,
        term: u64,
        snapshot: bool,
    ) -> Result<(), String> {
        let what = if snapshot {
            "an ApplyMsg::Snapshot"
        } else {
            "an ApplyMsg"
        };
        match self.applied_entries.get(index as usize) {
            Some(applied) if applied.term != 0 => {
                rules::same_committed_term(peer, what, index, term, applied.term)
            }
            _ => Ok(()),
        }
    }

    /// `peer`, leading `term` if it is `Some`, says in `what` that its log
    /// holds `point` and, after it, entries of `entry_terms`: none may
    /// contradict an entry it applied itself, or, from a leader, one applied
    /// before its term began.
    fn holds_applied(
        &self,
        peer: usize,
        leading: Option<u64>,
        what: &str,
        point: LogPoint,
        entry_terms: &[u64],
    ) -> Result<(), String> {
        let own = self.peers.get(&peer).map_or(0, |log| log.applied_ever);
        let claims = std::iter::once((point.index, point.term)).chain(
            entry_terms
                .iter()
                .enumerate()
                .map(|(i, &t)| (point.index + 1 + i as u64, t)),
        );
        for (index, claimed) in claims {
            let Some(applied) = self.applied_entries.get(index as usize) else {
                break;
            };
            let binding = index <= own || leading.is_some_and(|term| applied.led_then < term);
            if index > 0 && applied.term != 0 && binding {
                rules::same_committed_term(peer, what, index, claimed, applied.term)?;
            }
        }
        Ok(())
    }

    /// `peer` holds the prefix through `last` of the log of the leader of
    /// `term`.
    fn hold(&mut self, peer: usize, term: u64, last: LogPoint) {
        let log = self.peers.entry(peer).or_default();
        let newer = log
            .held
            .is_none_or(|held| (term, last.index) > (held.term, held.last.index));
        if newer {
            log.held = Some(Held { term, last });
        }
    }

    /// `follower` acknowledged `leader`'s entries of `term` through `index`:
    /// what does the leadership's quorum now prove committed?
    fn acknowledged(&mut self, leader: usize, term: u64, follower: usize, index: u64) {
        let Some(leadership) = self.leaderships.get_mut(&(leader, term)) else {
            return;
        };
        let ack = leadership.acks.entry(follower).or_default();
        *ack = (*ack).max(index);
        let Some(first_own) = leadership.first_own else {
            return;
        };
        let matched = |p: usize| {
            if p == leader {
                leadership.last_sent
            } else {
                leadership.acks.get(&p).copied().unwrap_or(0)
            }
        };
        for config in &self.configs {
            let mut candidates: Vec<u64> = config.voters().into_iter().map(matched).collect();
            candidates.sort_unstable_by(|a, b| b.cmp(a));
            let quorum = candidates
                .into_iter()
                .find(|&n| config.is_quorum(|p| matched(p) >= n))
                .unwrap_or(0);
            if quorum >= first_own {
                self.committed = self.committed.max(quorum);
            }
        }
        self.release_new();
    }
}

impl PeerLog {
    /// The peer began an election in `term` at `now`.
    fn campaigned(&mut self, peer: usize, term: u64, now: Instant) -> Result<(), String> {
        if let Some(heard) = self.accepted_append {
            rules::campaign_after_heartbeat(peer, term, now.duration_since(heard))?;
        }
        let heard_since = |at: Instant| self.accepted_append.is_some_and(|heard| heard > at);
        match self.campaign {
            // Its timer ran out again, with no leader heard since.
            Some((began, at)) if term == began + 1 && !heard_since(at) => {
                self.timeouts.push(now.duration_since(at));
                if self.timeouts.len() > rules::TIMEOUTS_COMPARED {
                    self.timeouts.remove(0);
                }
            }
            _ => self.timeouts.clear(),
        }
        self.campaign = Some((term, now));
        rules::timeouts_randomized(peer, &self.timeouts)
    }
}

/// The last entry of a request whose entries, of `entry_terms`, follow
/// `prev`.
pub(crate) fn end_of(prev: LogPoint, entry_terms: &[u64]) -> LogPoint {
    match entry_terms.last() {
        Some(&term) => LogPoint {
            term,
            index: prev.index + entry_terms.len() as u64,
        },
        None => prev,
    }
}
