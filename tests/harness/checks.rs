//! The checks tests make on a [`Config`]: leaders, terms, and agreement.
//! Each fails the test with a message saying what Raft did wrong.

use std::collections::BTreeMap;
use std::thread::sleep;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::fail;
use crate::rules::{self, likely_causes};
use crate::{Cmd, Config};

/// The rules whose violation puts two leaders in one term.
const TWO_LEADER_CAUSES: [rules::Rule; 3] =
    [rules::VOTE_ONCE, rules::PERSIST_VOTE, rules::MAJORITY];

/// The rules whose violation leaves a healthy majority without a leader.
const NO_LEADER_CAUSES: [rules::Rule; 3] = [
    rules::ELECTION_LIVENESS,
    rules::ADOPT_NEWER_TERM,
    rules::UP_TO_DATE_VOTE,
];

/// The rules whose violation keeps a command from committing.
const NO_AGREEMENT_CAUSES: [rules::Rule; 6] = [
    rules::REPLICATION,
    rules::CONSISTENCY_CHECK,
    rules::FOLLOWER_COMMIT,
    rules::COMMIT_CURRENT_TERM,
    rules::FAST_BACKUP,
    rules::ELECTION_LIVENESS,
];

/// How often [`Config::check_one_leader_per_term`] samples the peers.
const LEADER_SAMPLE: Duration = Duration::from_millis(10);

/// Rounds of [`Config::check_one_leader`], each 450-550 ms: a leader must
/// appear within about 5 s.
const LEADER_ROUNDS: usize = 10;

/// The mean length of one of those rounds.
const ROUND: Duration = Duration::from_millis(500);

/// [`Config::one`] gives up after this long in all ...
const ONE_TOTAL: Duration = Duration::from_secs(10);
/// ... and waits this long for each accepted `start` to be applied.
const ONE_ATTEMPT: Duration = Duration::from_secs(2);
/// How often [`Config::one`] polls the applied logs.
const ONE_POLL: Duration = Duration::from_millis(20);

/// [`Config::wait`] polls this many times, backing off from 10 ms and
/// doubling while under 1 s (about 31 s in all).
const WAIT_POLLS: usize = 30;

impl Config {
    /// Waits until exactly one connected peer leads its term, and returns
    /// it. Fails if two connected peers lead the same term, or if no leader
    /// appears within about 5 s.
    #[track_caller]
    pub fn check_one_leader(&self) -> usize {
        let mut rng = rand::rng();
        let mut unproven = None;
        for _ in 0..LEADER_ROUNDS {
            sleep(Duration::from_millis(rng.random_range(450..550)));
            self.check();
            let mut leaders: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for (i, raft) in self.connected_rafts() {
                if let (term, true) = raft.get_state() {
                    leaders.entry(term).or_default().push(i);
                }
            }
            for (term, ids) in &leaders {
                if ids.len() > 1 {
                    fail(format!(
                        "term {term} has {} (>1) leaders ({}): a peer may vote only once per \
                         term, and a candidate needs a majority of votes{}",
                        ids.len(),
                        peer_list(ids),
                        likely_causes(&TWO_LEADER_CAUSES)
                    ));
                }
            }
            // A leader proves it leads by acting as one: the judge has
            // seen it send AppendEntries in its term with a majority's
            // votes. A claim alone (get_state) is not enough.
            if let Some((&term, ids)) = leaders.last_key_value() {
                if self.referee().has_led(ids[0], term) {
                    return ids[0];
                }
                unproven = Some((ids[0], term));
            }
        }
        if let Some((peer, term)) = unproven {
            fail(format!(
                "S{peer} says (get_state) it leads term {term}, but the judge has seen it send \
                 no AppendEntries in term {term}: a leader sends heartbeats at once and then \
                 at least every 100-200 ms{}",
                likely_causes(&[rules::HEARTBEATS, rules::ELECTION_LIVENESS])
            ));
        }
        fail(format!(
            "expected one leader, got none: no connected peer became leader within about 5 s \
             (connected peers: {}){}",
            self.describe_connected(),
            likely_causes(&NO_LEADER_CAUSES)
        ))
    }

    /// Watches every running peer, connected or not, for `watch`, and fails
    /// if two of them lead the same term at any time (Election Safety,
    /// Figure 3). Returns the terms seen, with their leader.
    #[track_caller]
    pub fn check_one_leader_per_term(&self, watch: Duration) -> BTreeMap<u64, usize> {
        let began = Instant::now();
        let mut leaders: BTreeMap<u64, usize> = BTreeMap::new();
        while began.elapsed() < watch {
            self.check();
            for (i, raft) in self.up_rafts() {
                let (term, true) = raft.get_state() else {
                    continue;
                };
                match leaders.get(&term) {
                    Some(&other) if other != i => fail(format!(
                        "term {term} has two leaders, S{other} and S{i}: at most one peer may \
                         win the election of a term (Election Safety){}",
                        likely_causes(&TWO_LEADER_CAUSES)
                    )),
                    _ => {
                        leaders.insert(term, i);
                    }
                }
            }
            sleep(LEADER_SAMPLE);
        }
        leaders
    }

    /// Waits up to about 5 s until each of `candidates` stands for election
    /// (not leading) in one and the same term, with a request to `voter`
    /// held at the network (see [`hold_link`](Config::hold_link)). A test
    /// holding vote requests uses it to hand the voter competing requests
    /// of one term. If the candidates' terms never meet, it returns when
    /// time is up: a correct Raft passes whatever is then delivered, and
    /// the test checks less.
    #[track_caller]
    pub fn await_held_candidates(&self, candidates: &[usize], voter: usize) {
        let began = Instant::now();
        loop {
            self.check();
            let states: Vec<_> = candidates.iter().map(|&c| self.state(c)).collect();
            let first_term = states.first().copied().flatten().map(|(term, _)| term);
            let all_held = candidates.iter().all(|&c| self.held_count(c, voter) > 0);
            let one_term = states.iter().all(|&state| {
                state.is_some_and(|(term, leads)| !leads && Some(term) == first_term)
            });
            match first_term {
                Some(_) if all_held && one_term => return,
                Some(_) if began.elapsed() > LEADER_ROUNDS as u32 * ROUND => return,
                None if began.elapsed() > LEADER_ROUNDS as u32 * ROUND => fail(format!(
                    "S{} is down: it cannot stand for election",
                    candidates[0]
                )),
                _ => sleep(LEADER_SAMPLE),
            }
        }
    }

    /// Waits up to about 5 s until one of `candidates` (running, connected
    /// or not) believes it leads, and returns it with its term.
    #[track_caller]
    pub fn wait_leader_among(&self, candidates: &[usize]) -> (usize, u64) {
        let began = Instant::now();
        while began.elapsed() < LEADER_ROUNDS as u32 * ROUND {
            self.check();
            for &i in candidates {
                if let Some((term, true)) = self.state(i) {
                    return (i, term);
                }
            }
            sleep(LEADER_SAMPLE);
        }
        fail(format!(
            "none of {} became leader within about 5 s, though each could reach a majority \
             of voters{}",
            peer_list(candidates),
            likely_causes(&NO_LEADER_CAUSES)
        ))
    }

    /// Checks that every connected peer is in the same term, and returns it.
    #[track_caller]
    pub fn check_terms(&self) -> u64 {
        self.check();
        let mut first: Option<(usize, u64)> = None;
        for (i, raft) in self.connected_rafts() {
            let (term, _) = raft.get_state();
            match first {
                None => first = Some((i, term)),
                Some((j, seen)) if seen != term => fail(format!(
                    "servers disagree on term: S{j} is in term {seen}, S{i} in term {term}, \
                     though the network is healthy (a peer that sees a higher term must adopt \
                     it){}",
                    likely_causes(&[rules::ADOPT_NEWER_TERM, rules::HEARTBEATS])
                )),
                Some(_) => {}
            }
        }
        match first {
            Some((_, term)) => term,
            None => fail("check_terms: no peer is connected"),
        }
    }

    /// Checks that no connected peer believes it is leader.
    #[track_caller]
    pub fn check_no_leader(&self) {
        self.check();
        for (i, raft) in self.connected_rafts() {
            if let (term, true) = raft.get_state() {
                fail(format!(
                    "expected no leader among connected servers, but S{i} claims to be leader \
                     in term {term}: without a majority no peer may win an election{}",
                    likely_causes(&[rules::MAJORITY, rules::VOTE_ONCE])
                ));
            }
        }
    }

    /// How many peers have applied `index`, and the command there. Fails if
    /// two peers applied different commands.
    #[track_caller]
    pub fn n_committed(&self, index: u64) -> (usize, Option<Cmd>) {
        self.check();
        let committed = self.logs().lock().committed(index);
        committed.unwrap_or_else(|problem| fail(problem))
    }

    /// Waits, backing off, until at least `n` peers applied `index`, and
    /// returns the command there. With `start_term`, gives up and returns
    /// `None` as soon as some peer's term moves past it (the command may
    /// then rightly never commit). Fails if fewer than `n` peers applied it
    /// within about 30 s.
    #[track_caller]
    pub fn wait(&self, index: u64, n: usize, start_term: Option<u64>) -> Option<Cmd> {
        let mut pause = Duration::from_millis(10);
        for _ in 0..WAIT_POLLS {
            if self.n_committed(index).0 >= n {
                break;
            }
            sleep(pause);
            if pause < Duration::from_secs(1) {
                pause *= 2;
            }
            if let Some(start_term) = start_term {
                let moved_on = self
                    .up_rafts()
                    .iter()
                    .any(|(_, raft)| raft.get_state().0 > start_term);
                if moved_on {
                    return None;
                }
            }
        }
        let (count, cmd) = self.n_committed(index);
        if count < n {
            fail(format!(
                "only {count} decided for index {index}; wanted {n} (waited about 30 s){}",
                likely_causes(&NO_AGREEMENT_CAUSES)
            ));
        }
        cmd
    }

    /// Submits `cmd` until `expected` peers apply it, and returns its index.
    ///
    /// Tries `start` on each connected peer in turn; after one accepts,
    /// polls for up to 2 s for `expected` peers to apply `cmd` at that
    /// index. Without `retry`, the first miss fails the test; with it, the
    /// command is submitted again, for up to 10 s in all.
    #[track_caller]
    pub fn one(&self, cmd: impl Into<Cmd>, expected: usize, retry: bool) -> u64 {
        let cmd = cmd.into();
        let bytes = cmd.encode();
        let began = Instant::now();
        let mut next = 0;
        let mut last_miss = None;
        while began.elapsed() < ONE_TOTAL {
            self.check();
            let accepted = (0..self.n()).find_map(|_| {
                next = (next + 1) % self.n();
                let raft = self.connected_raft(next)?;
                Some((next, raft.start(bytes.clone())?.0))
            });
            let Some((leader, index)) = accepted else {
                sleep(Duration::from_millis(50));
                continue;
            };
            let attempt = Instant::now();
            while attempt.elapsed() < ONE_ATTEMPT {
                let (count, applied) = self.n_committed(index);
                if count > 0 && count >= expected && applied.as_ref() == Some(&cmd) {
                    return index;
                }
                sleep(ONE_POLL);
            }
            let (count, applied) = self.n_committed(index);
            let instead = match applied {
                Some(other) if other != cmd => format!(", and they applied {other} there instead"),
                _ => String::new(),
            };
            let miss = format!(
                "S{leader} accepted it as leader at index {index}, but 2 s later {count} \
                 peer(s) had applied that index, {expected} expected{instead}"
            );
            if !retry {
                fail(format!(
                    "one({cmd}) failed to reach agreement: {miss}{}",
                    likely_causes(&NO_AGREEMENT_CAUSES)
                ));
            }
            last_miss = Some(miss);
        }
        fail(format!(
            "one({cmd}) failed to reach agreement within 10 s: {}{}",
            last_miss.unwrap_or_else(|| "no connected peer accepted start() as leader".into()),
            likely_causes(&NO_AGREEMENT_CAUSES)
        ))
    }

    /// `S0 term 3 follower, S2 term 4 leader, ...` for the connected peers.
    fn describe_connected(&self) -> String {
        let states: Vec<String> = self
            .connected_rafts()
            .into_iter()
            .map(|(i, raft)| {
                let (term, leader) = raft.get_state();
                let role = if leader { "leader" } else { "not leader" };
                format!("S{i} term {term} {role}")
            })
            .collect();
        if states.is_empty() {
            "none".into()
        } else {
            states.join(", ")
        }
    }
}

/// `S1, S3` for peers `[1, 3]`.
fn peer_list(ids: &[usize]) -> String {
    let names: Vec<String> = ids.iter().map(|i| format!("S{i}")).collect();
    names.join(", ")
}
