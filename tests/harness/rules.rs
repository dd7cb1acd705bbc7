//! The rules of Raft a failure can point to. A symptom (two leaders in a
//! term, two values at one index, a follower that never catches up) has a
//! handful of usual causes; each failure message ends with them, so a
//! student learns which rule to reread, not only what went wrong.
//!
//! Every rule has a short id in brackets (`[vote-once]`); the mutant
//! catalogue (`mutants/catalogue.toml`) names the rule each mutant breaks
//! by that id, and checks that the failure it causes names it.

use std::fmt;

/// One rule of the protocol, as the paper (or the lab text) states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The id in failure messages and in the mutant catalogue.
    pub id: &'static str,
    /// What a correct peer does.
    pub statement: &'static str,
    /// Where the paper (or the lab text) says so.
    pub source: &'static str,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} ({})", self.id, self.statement, self.source)
    }
}

/// Formats the rules whose violation usually produces a symptom, one per
/// line, to end a failure message.
pub fn likely_causes(rules: &[Rule]) -> String {
    let mut text = String::from("\nlikely causes (rules whose violation produces this):");
    for rule in rules {
        text.push_str(&format!("\n  - {rule}"));
    }
    text
}

/// A peer grants at most one vote per term.
pub const VOTE_ONCE: Rule = Rule {
    id: "vote-once",
    statement: "a peer grants at most one vote per term: once votedFor is set in a term, it \
                refuses every other candidate of that term",
    source: "Figure 2, RequestVote receiver step 2; §5.2",
};

/// Elections and commits need a majority of all peers.
pub const MAJORITY: Rule = Rule {
    id: "majority",
    statement: "a candidate wins only with votes from a majority of all peers (more than half, \
                itself included), and a leader commits only what a majority holds",
    source: "§5.2 and §5.3; Figure 2, Rules for candidates and leaders",
};

/// Term and vote are saved before the vote is granted.
pub const PERSIST_VOTE: Rule = Rule {
    id: "persist-vote",
    statement: "currentTerm and votedFor are saved (Persister::save) before a RequestVote is \
                answered, and restored on restart, so a restarted peer cannot vote twice in a term",
    source: "Figure 2, Persistent state on all servers",
};

/// The log is saved before an AppendEntries is answered.
pub const PERSIST_LOG: Rule = Rule {
    id: "persist-log",
    statement: "the log is saved before an AppendEntries is answered with success (and a \
                leader's new entries before it counts itself toward their commit), and restored \
                on restart",
    source: "Figure 2, Persistent state on all servers",
};

/// The up-to-date check on votes.
pub const UP_TO_DATE_VOTE: Rule = Rule {
    id: "up-to-date-vote",
    statement: "a vote goes only to a candidate whose log is at least as up to date: a later \
                last term wins, and with equal last terms the longer log",
    source: "§5.4.1; Figure 2, RequestVote receiver step 2",
};

/// Any message with a newer term makes its receiver adopt it.
pub const ADOPT_NEWER_TERM: Rule = Rule {
    id: "adopt-newer-term",
    statement: "a peer that sees a newer term in any request or reply adopts it and becomes a \
                follower (a leader steps down)",
    source: "Figure 2, Rules for all servers; §5.1",
};

/// Stale requests are refused.
pub const REFUSE_STALE_TERM: Rule = Rule {
    id: "refuse-stale-term",
    statement: "a request from an older term is refused, with the receiver's term in the reply",
    source: "Figure 2, receiver step 1 of each RPC; §5.1",
};

/// A leader commits by counting replicas only entries of its own term.
pub const COMMIT_CURRENT_TERM: Rule = Rule {
    id: "commit-current-term",
    statement: "a leader advances commitIndex by counting replicas only to an entry of its \
                current term; older entries commit with it",
    source: "§5.4.2 and Figure 8; Figure 2, Rules for leaders",
};

/// A follower never truncates entries that match the leader's.
pub const KEEP_MATCHING_ENTRIES: Rule = Rule {
    id: "keep-matching-entries",
    statement: "a follower deletes its entries only from the first one that conflicts with the \
                leader's (same index, other term); a stale or repeated AppendEntries whose \
                entries it already holds leaves its log as it is",
    source: "Figure 2, AppendEntries receiver steps 3 and 4",
};

/// The AppendEntries consistency check.
pub const CONSISTENCY_CHECK: Rule = Rule {
    id: "consistency-check",
    statement: "a follower refuses an AppendEntries whose prevLogIndex it lacks or holds with \
                another term than prevLogTerm",
    source: "Figure 2, AppendEntries receiver step 2; §5.3 (Log Matching)",
};

/// How a follower moves its commit index.
pub const FOLLOWER_COMMIT: Rule = Rule {
    id: "follower-commit",
    statement: "a follower sets commitIndex to min(leaderCommit, index of the last new entry) \
                only after the consistency check passed",
    source: "Figure 2, AppendEntries receiver step 5",
};

/// Committed entries are applied once each, in order.
pub const APPLY_IN_ORDER: Rule = Rule {
    id: "apply-in-order",
    statement: "only committed entries are sent on apply_ch, each once, in index order, with \
                no gap; a snapshot stands for every index it covers",
    source: "Figure 2, Rules for all servers (lastApplied)",
};

/// Followers reset their election timer when they hear from the leader.
pub const RESET_ELECTION_TIMER: Rule = Rule {
    id: "reset-election-timer",
    statement: "a follower resets its election timer on every AppendEntries from the current \
                leader and when it grants a vote, so a healthy leader is never challenged",
    source: "Figure 2, Rules for followers; §5.2",
};

/// A leader sends heartbeats while idle, often enough and not too often.
pub const HEARTBEATS: Rule = Rule {
    id: "heartbeats",
    statement: "a leader sends AppendEntries to every follower when idle, often enough to hold \
                its followers and at most ten times a second",
    source: "Figure 2, Rules for leaders; §5.2; lab 2A",
};

/// Elections end: randomized timeouts and a new election on timeout.
pub const ELECTION_LIVENESS: Rule = Rule {
    id: "election-liveness",
    statement: "a follower that hears no leader within its randomized election timeout stands \
                for election in a new term; a candidate that neither wins nor loses starts \
                another election; a majority of votes makes a leader",
    source: "§5.2; Figure 2, Rules for followers and candidates",
};

/// A leader replicates at once and retries until followers catch up.
pub const REPLICATION: Rule = Rule {
    id: "replication",
    statement: "a leader sends a follower every entry from nextIndex on, at once after \
                start(), retries after a rejection with a lower nextIndex, and moves \
                matchIndex and nextIndex on success",
    source: "Figure 2, Rules for leaders; §5.3",
};

/// Fast log backtracking.
pub const FAST_BACKUP: Rule = Rule {
    id: "fast-backup",
    statement: "a rejecting follower reports its conflicting term, the first index of that \
                term and its log length, and the leader skips a whole term per round trip \
                instead of one entry",
    source: "§5.3, end; lab 2C",
};

/// Snapshots are saved with the Raft state, atomically.
pub const SNAPSHOT_SAVE: Rule = Rule {
    id: "snapshot-save",
    statement: "Raft::snapshot discards only the entries the snapshot covers, and saves the \
                snapshot and the Raft state in one Persister::save",
    source: "§7; lab 2D",
};

/// InstallSnapshot handling.
pub const INSTALL_SNAPSHOT: Rule = Rule {
    id: "install-snapshot",
    statement: "a follower behind the leader's log start gets InstallSnapshot: it keeps the \
                entries after the snapshot if its log matches there, else discards its log, \
                saves the snapshot and delivers it on apply_ch before any later entry",
    source: "Figure 13, receiver steps 6-8; §7",
};

/// A snapshot travels in chunks.
pub const SNAPSHOT_CHUNKS: Rule = Rule {
    id: "snapshot-chunks",
    statement:
        "InstallSnapshot carries at most one chunk of the snapshot (raft::snapshot_chunk_size \
                bytes) at its offset; the follower starts a snapshot at offset 0, adds only the \
                chunk at the offset it has reached of that same snapshot (same leader term, same \
                last index), ignores chunks of older snapshots, and saves and applies nothing \
                until the last chunk (done) arrives",
    source: "Figure 13, receiver steps 2-5",
};

/// A restarted peer delivers its saved snapshot first.
pub const SNAPSHOT_RESTORE: Rule = Rule {
    id: "snapshot-restore",
    statement: "a restarted peer with a saved snapshot delivers it as its first ApplyMsg and \
                starts its log, commit index and last applied index after it",
    source: "§7; lab 2D",
};

/// Nothing blocks while holding the lock.
pub const NO_LOCK_WHILE_APPLYING: Rule = Rule {
    id: "no-lock-while-applying",
    statement: "a peer does not hold its lock while it sends on apply_ch: the service may call \
                back into Raft (e.g. Raft::snapshot) before it reads the next message",
    source: "lab 2D",
};

/// A joint configuration decides by two majorities.
pub const JOINT_MAJORITY: Rule = Rule {
    id: "joint-majority",
    statement: "while C_old,new is in force, a candidate wins and an entry commits only with a \
                majority of C_old and, counted separately, a majority of C_new; in a stable \
                configuration, a majority of its members (and only of them)",
    source: "§6 of the extended paper",
};

/// The latest configuration in the log is the one in force.
pub const LATEST_CONFIG: Rule = Rule {
    id: "latest-config",
    statement: "a server uses the latest configuration in its log, whether committed or not; \
                when a conflicting suffix is cut, a configuration entry in it is undone and the \
                one before is in force again",
    source: "§6 of the extended paper",
};

/// A change runs to its end.
pub const CONFIG_PROGRESS: Rule = Rule {
    id: "config-progress",
    statement: "once C_old,new commits the leader appends C_new; a leader outside C_new steps \
                down once C_new commits (leading without counting itself until then); a new \
                leader that finds a change unfinished in its log finishes it",
    source: "§6 of the extended paper",
};

/// New servers catch up before they vote.
pub const LEARNER_CATCH_UP: Rule = Rule {
    id: "learner-catch-up",
    statement: "servers being added first receive the log as non-voting learners; the leader \
                appends C_old,new only once they hold every committed entry, so adding them \
                does not stall commits",
    source: "§6 of the extended paper; lab 2E",
};

/// A removed server cannot depose a working leader.
pub const REMOVED_NO_DISRUPT: Rule = Rule {
    id: "removed-no-disrupt",
    statement: "a follower that heard from a current leader within the minimum election \
                timeout ignores a RequestVote and does not adopt its term, and a leader ignores \
                a RequestVote from a server outside its configuration, so a removed server that \
                keeps campaigning cannot disrupt the cluster",
    source: "§6 of the extended paper",
};

/// One change at a time.
pub const ONE_CHANGE: Rule = Rule {
    id: "one-change-at-a-time",
    statement: "change_membership is refused (ChangeInProgress) while an earlier change has \
                not finished: its learners are catching up, or C_old,new or C_new has not \
                committed",
    source: "lab 2E",
};

/// Snapshots carry the configuration.
pub const SNAPSHOT_CONFIG: Rule = Rule {
    id: "snapshot-config",
    statement: "a snapshot records the configuration in force at its last index; a server that \
                restarts from a snapshot or installs one from the leader uses it",
    source: "Figure 13, receiver step 8; lab 2E",
};

/// Only the given messages go on the Raft service.
pub const GIVEN_MESSAGES: Rule = Rule {
    id: "given-messages",
    statement: "peers call each other only with the messages of the raft_messages crate \
                (Raft.RequestVote, Raft.AppendEntries, Raft.InstallSnapshot), as they are \
                defined there, naming themselves as candidate or leader",
    source: "lab 2A; Figures 2 and 13",
};

/// A peer keeps every entry it acknowledged.
pub const KEEP_ACKNOWLEDGED: Rule = Rule {
    id: "keep-acknowledged",
    statement: "a peer never loses an entry it acknowledged (an AppendEntries answered with \
                success, an InstallSnapshot answered as installed) unless a leader of a later \
                term replaces it: not on restart (the log was saved first), not on a stale or \
                repeated AppendEntries, not on an InstallSnapshot whose last entry it holds",
    source: "Figure 2, Persistent state and AppendEntries receiver steps 3-4; Figure 13, \
             receiver step 6",
};

/// A leader commits only what a majority of its term acknowledged.
pub const LEADER_COMMIT: Rule = Rule {
    id: "leader-commit",
    statement: "a leader sets commitIndex to N only when the voters of its configuration that \
                acknowledged N in its current term (itself among them) are a majority, and entry \
                N is of its current term; learners and acknowledgements from an earlier \
                leadership do not count",
    source: "Figure 2, Rules for leaders (last bullet); §5.3 and §5.4.2",
};

/// A committed entry never changes.
pub const COMMITTED_ENTRY: Rule = Rule {
    id: "committed-entry",
    statement: "an entry once applied keeps its index and its term in every log, every message \
                and every snapshot: a snapshot's last included term is the term of the entry at \
                its last included index, not the current term",
    source: "§5.4 (Leader Completeness, State Machine Safety); Figure 13; lab 2D",
};

/// The protocol checks: pure decisions on what the messages seen so far
/// prove, each returning the violation it finds, worded for the failure
/// (the rule's id first, then the message that broke it).
fn violation(rule: Rule, what: String) -> Result<(), String> {
    Err(format!("{what}\n  breaks {rule}"))
}

/// A message on the Raft service that is not one of the given ones.
pub(crate) fn unknown_method(method: &str) -> String {
    format!("called {method}, which the Raft service does not define\n  breaks {GIVEN_MESSAGES}")
}

/// Bytes that do not decode as the given type of `method`.
pub(crate) fn undecodable(method: &str, what: &str, error: &str) -> String {
    format!(
        "sent a {method} {what} that does not decode as raft_messages defines it ({error})\n  \
         breaks {GIVEN_MESSAGES}"
    )
}

/// A request sent by `from` names `named` as its candidate or leader.
pub(crate) fn sender_is_named(from: usize, named: usize, what: &str) -> Result<(), String> {
    if from == named {
        return Ok(());
    }
    violation(
        GIVEN_MESSAGES,
        format!("S{from} sent a {what} that names S{named} as its sender"),
    )
}

/// `peer` answered a request of term `request_term` with a grant or a
/// success (`accepted`) carrying `reply_term`: it may only accept in its
/// current term, so the two must be equal.
pub(crate) fn success_in_request_term(
    peer: usize,
    request_term: u64,
    reply_term: u64,
    accepted: bool,
) -> Result<(), String> {
    if !accepted || request_term == reply_term {
        return Ok(());
    }
    violation(
        REFUSE_STALE_TERM,
        format!(
            "S{peer} accepted a request of term {request_term} while in term {reply_term} (its \
             reply says so)"
        ),
    )
}

/// `voter` grants its vote in `term` to `candidate`, having granted it
/// to `earlier` before in that term (or acted as its leader).
pub(crate) fn grant_once(
    voter: usize,
    term: u64,
    candidate: usize,
    earlier: Option<usize>,
) -> Result<(), String> {
    match earlier {
        Some(earlier) if earlier != candidate => violation(
            VOTE_ONCE,
            format!(
                "S{voter} granted its vote in term {term} to S{candidate}, after granting it \
                 to S{earlier} in that term"
            ),
        ),
        _ => Ok(()),
    }
}

/// `voter` grants its first vote of `term`; `saved` says whether it
/// called Persister::save after the request reached it.
pub(crate) fn grant_saved(
    voter: usize,
    term: u64,
    candidate: usize,
    saved: bool,
) -> Result<(), String> {
    if saved {
        return Ok(());
    }
    violation(
        PERSIST_VOTE,
        format!(
            "S{voter} granted its vote in term {term} to S{candidate} without saving anything \
             since the request arrived"
        ),
    )
}

/// `leader` sends `what` in `term`, which only a leader of `term` does:
/// the peers for which `granted` holds (itself among them) must decide in
/// one of `configs`, and it must not have voted for another (`own_vote`).
pub(crate) fn leader_has_quorum(
    leader: usize,
    term: u64,
    what: &str,
    own_vote: Option<usize>,
    granted: &dyn Fn(usize) -> bool,
    configs: &[raft_messages::Membership],
) -> Result<(), String> {
    if let Some(other) = own_vote.filter(|&other| other != leader) {
        return violation(
            VOTE_ONCE,
            format!("S{leader} sent {what} as the leader of term {term}, having voted for S{other} in it"),
        );
    }
    if configs.iter().any(|config| config.is_quorum(granted)) {
        return Ok(());
    }
    let voters: Vec<usize> = configs
        .iter()
        .flat_map(|config| config.voters())
        .filter(|&p| granted(p))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let names: Vec<String> = voters.iter().map(|p| format!("S{p}")).collect();
    violation(
        MAJORITY,
        format!(
            "S{leader} sent {what} as the leader of term {term}, but only {} granted it a vote \
             in term {term}: no majority",
            names.join(", ")
        ),
    )
}

/// A point of a log: its last entry's term and index. The derived order is
/// §5.4.1's: a later last term is more up to date, and with equal terms the
/// longer log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LogPoint {
    /// The term of the entry at `index` (0 for an empty log).
    pub(crate) term: u64,
    /// The last index.
    pub(crate) index: u64,
}

impl fmt::Display for LogPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "index {} of term {}", self.index, self.term)
    }
}

/// `voter` granted `candidate` its vote in `term`; the candidate's log ends
/// at `claim`, and the voter is known to hold `held` (what it acknowledged).
pub(crate) fn grant_up_to_date(
    voter: usize,
    term: u64,
    candidate: usize,
    claim: LogPoint,
    held: LogPoint,
) -> Result<(), String> {
    if claim >= held {
        return Ok(());
    }
    violation(
        UP_TO_DATE_VOTE,
        format!(
            "S{voter} granted its vote in term {term} to S{candidate}, whose log ends at \
             {claim}, but S{voter} had acknowledged entries up to {held}: its log is more up to \
             date"
        ),
    )
}

/// A lost acknowledged entry, with the rules whose violation loses one.
fn lost_acknowledged(what: String) -> Result<(), String> {
    violation(KEEP_ACKNOWLEDGED, what).map_err(|text| {
        text + &likely_causes(&[
            PERSIST_LOG,
            KEEP_MATCHING_ENTRIES,
            INSTALL_SNAPSHOT,
            SNAPSHOT_SAVE,
            COMMITTED_ENTRY,
        ])
    })
}

/// `peer` says its log ends at `claim` (in `what`), having acknowledged
/// entries up to `held`.
pub(crate) fn claim_keeps_acknowledged(
    peer: usize,
    what: &str,
    claim: LogPoint,
    held: LogPoint,
) -> Result<(), String> {
    if claim >= held {
        return Ok(());
    }
    lost_acknowledged(format!(
        "S{peer} says in {what} that its log ends at {claim}, but it had acknowledged \
             entries up to {held}: it lost acknowledged entries"
    ))
}

/// `follower` refused the AppendEntries of `term` whose previous entry is
/// `prev`, saying its log ends at index `log_len`; it is known to hold
/// `held`.
pub(crate) fn refusal_keeps_acknowledged(
    follower: usize,
    term: u64,
    prev: LogPoint,
    log_len: u64,
    held: LogPoint,
) -> Result<(), String> {
    if prev == held {
        return lost_acknowledged(format!(
            "S{follower} refused an AppendEntries of term {term} whose previous entry is \
                 {prev}, an entry it had acknowledged"
        ));
    }
    if log_len < held.index {
        return lost_acknowledged(format!(
            "S{follower} refused an AppendEntries of term {term} saying its log ends at \
                 index {log_len}, but it had acknowledged entries up to {held}"
        ));
    }
    Ok(())
}

/// `leader` of `term` advertised `advertised` as committed (leaderCommit)
/// when the acknowledgements seen prove entries committed only up to
/// `proven`.
pub(crate) fn commit_proven(
    leader: usize,
    term: u64,
    advertised: u64,
    proven: u64,
) -> Result<(), String> {
    if advertised <= proven {
        return Ok(());
    }
    violation(
        LEADER_COMMIT,
        format!(
            "S{leader}, leader of term {term}, said entries up to {advertised} are committed \
             (leaderCommit), but the acknowledgements prove only up to {proven}"
        ),
    )
}

/// `peer` applied `index`, when the messages it got allow it to commit only
/// up to `allowed`; `led` says whether it was ever a leader (whose
/// commits the acknowledgements prove).
pub(crate) fn apply_allowed(
    peer: usize,
    index: u64,
    allowed: u64,
    led: bool,
) -> Result<(), String> {
    if index <= allowed {
        return Ok(());
    }
    let (rule, source) = if led {
        (LEADER_COMMIT, "the acknowledgements of its terms as leader")
    } else {
        (
            FOLLOWER_COMMIT,
            "the AppendEntries it accepted (min(leaderCommit, last new entry))",
        )
    };
    violation(
        rule,
        format!(
            "S{peer} applied index {index}, but {source} allow it to commit only up to {allowed}"
        ),
    )
}

/// `peer` says in `what` that the entry at `index` has `term`, where the
/// entry applied there has `committed`.
pub(crate) fn same_committed_term(
    peer: usize,
    what: &str,
    index: u64,
    term: u64,
    committed: u64,
) -> Result<(), String> {
    if term == committed {
        return Ok(());
    }
    violation(
        COMMITTED_ENTRY,
        format!(
            "S{peer} says in {what} that the entry at index {index} has term {term}, but the \
             entry applied at {index} has term {committed}"
        ),
    )
}

/// The least time a correct peer waits, after it accepted an
/// AppendEntries from the leader of its term, before it stands for
/// election: well under the lab's 150 ms floor for election timeouts, so
/// a slow judge cannot make a correct peer look hasty.
pub(crate) const HEARD_LEADER_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

/// `peer` stood for election in `term`, `since` after it accepted an
/// AppendEntries from a leader.
pub(crate) fn campaign_after_heartbeat(
    peer: usize,
    term: u64,
    since: std::time::Duration,
) -> Result<(), String> {
    if since >= HEARD_LEADER_GRACE {
        return Ok(());
    }
    violation(
        RESET_ELECTION_TIMER,
        format!(
            "S{peer} stood for election in term {term} {} ms after it accepted an AppendEntries \
             from the leader: hearing from the leader restarts the election timeout (of at \
             least 150 ms), and a candidate that hears the leader of its term becomes a follower",
            since.as_millis()
        ),
    )
}

/// How many successive election timeouts of one peer the judge compares.
pub(crate) const TIMEOUTS_COMPARED: usize = 4;

/// The spread below which successive election timeouts are the same one,
/// not drawn at random (timer jitter stays well below it).
pub(crate) const SAME_TIMEOUT_SPREAD: std::time::Duration = std::time::Duration::from_millis(2);

/// `peer` stood for election again and again, hearing no leader, after
/// each of `gaps` (its last [`TIMEOUTS_COMPARED`] election timeouts).
pub(crate) fn timeouts_randomized(peer: usize, gaps: &[std::time::Duration]) -> Result<(), String> {
    let (Some(least), Some(most)) = (gaps.iter().min(), gaps.iter().max()) else {
        return Ok(());
    };
    if gaps.len() < TIMEOUTS_COMPARED || *most - *least >= SAME_TIMEOUT_SPREAD {
        return Ok(());
    }
    violation(
        ELECTION_LIVENESS,
        format!(
            "S{peer}'s last {} election timeouts were all {} ms (within {} ms): election \
             timeouts are drawn at random, each time, or split votes repeat for ever",
            gaps.len(),
            least.as_millis(),
            SAME_TIMEOUT_SPREAD.as_millis()
        ),
    )
}

/// `peer` applied a snapshot through `index` after applying up to
/// `applied` since it started.
pub(crate) fn install_moves_forward(peer: usize, index: u64, applied: u64) -> Result<(), String> {
    if index >= applied {
        return Ok(());
    }
    violation(
        INSTALL_SNAPSHOT,
        format!(
            "S{peer} applied a snapshot through index {index} after applying up to {applied}: \
             its state went back (a snapshot at or below the commit index is not installed)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_list_each_rule_with_its_id_and_source() {
        let text = likely_causes(&[VOTE_ONCE, PERSIST_VOTE]);
        assert!(text.contains("\n  - [vote-once] a peer grants at most one vote"));
        assert!(text.contains("[persist-vote]"));
        assert!(text.contains("(Figure 2, RequestVote receiver step 2; §5.2)"));
    }

    #[test]
    fn equal_election_timeouts_break_the_liveness_rule_and_random_ones_do_not() {
        let ms = |values: &[u64]| -> Vec<std::time::Duration> {
            values
                .iter()
                .map(|&v| std::time::Duration::from_micros(v))
                .collect()
        };
        let fixed = timeouts_randomized(1, &ms(&[400_100, 400_900, 400_300, 401_000]));
        assert!(fixed.unwrap_err().contains("[election-liveness]"));
        assert!(timeouts_randomized(1, &ms(&[400_100, 455_000, 312_000, 590_000])).is_ok());
        // Too few to tell.
        assert!(timeouts_randomized(1, &ms(&[400_000, 400_000, 400_000])).is_ok());
    }

    #[test]
    fn an_election_right_after_hearing_the_leader_breaks_the_timer_rule() {
        let soon = campaign_after_heartbeat(2, 5, std::time::Duration::from_millis(20));
        assert!(soon.unwrap_err().contains("[reset-election-timer]"));
        assert!(campaign_after_heartbeat(2, 5, std::time::Duration::from_millis(300)).is_ok());
    }
}
