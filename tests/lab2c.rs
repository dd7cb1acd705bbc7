//! Part 2C: persistence.
//!
//! Ports of the MIT 6.824 2C tests (`TestPersist12C` ...
//! `TestUnreliableChurn2C`), with their limits, the harsher 2025 variant
//! of Persist2, then scripted scenarios that drive the cluster into the
//! one situation where a rule matters (Figure 8, a vote across a crash,
//! saving before answering, fast backtracking), so that breaking the rule
//! fails every run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use harness::rules::{self, likely_causes};
use harness::{join_or_fail, random_int, Applier, Cmd, Config, Net, ELECTION_TIMEOUT};
use rand::Rng;

/// Time for a leader to hand new entries to a connected follower on a
/// reliable network: replication starts at once, and this is five
/// heartbeat periods besides. Scenarios wait it out where the public API
/// cannot show that a follower holds an entry; a correct Raft passes
/// whether or not the entry arrived.
const REPLICATION_GRACE: Duration = Duration::from_millis(500);

/// How many conflicting entries `fast_backtracking` puts on a follower.
const CONFLICTING: u64 = 300;

/// The RPCs a follower may receive while it catches up over
/// [`CONFLICTING`] conflicting entries: a leader that skips a term per
/// round trip needs a handful, one that backs up an entry at a time needs
/// one per entry.
const CATCH_UP_BUDGET: usize = 30;

/// Rounds of `persist_before_answering`.
const PERSIST_ROUNDS: usize = 5;

#[test]
fn persist1() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("basic persistence");

    cfg.one(11, servers, true);

    // Crash and restart everyone.
    for i in 0..servers {
        cfg.start1(i);
    }
    for i in 0..servers {
        cfg.disconnect(i);
        cfg.connect(i);
    }
    cfg.one(12, servers, true);

    // Restart the leader.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);
    cfg.start1(leader1);
    cfg.connect(leader1);
    cfg.one(13, servers, true);

    // Restart the next leader after the others move on without it.
    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);
    cfg.one(14, servers - 1, true);
    cfg.start1(leader2);
    cfg.connect(leader2);
    // Let leader2 catch up before a follower goes down.
    cfg.wait(4, servers, None);

    // Restart a follower around an agreement made without it.
    let i3 = (cfg.check_one_leader() + 1) % servers;
    cfg.disconnect(i3);
    cfg.one(15, servers - 1, true);
    cfg.start1(i3);
    cfg.connect(i3);
    cfg.one(16, servers, true);

    cfg.end();
}

#[test]
fn persist2() {
    persist2_rounds("more persistence", Rejoin::Reconnect);
}

#[test]
fn persist2_restart_all() {
    persist2_rounds("more persistence, every peer restarted", Rejoin::Restart);
}

/// How `persist2_rounds` brings back the peers it only cut off.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rejoin {
    /// Reconnect them (MIT's TestPersist2 until 2024).
    Reconnect,
    /// Restart them too, so every peer restarts every round (2025).
    Restart,
}

/// Five rounds of partitions and restarts in different orders.
fn persist2_rounds(desc: &str, rejoin: Rejoin) {
    let servers = 5;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin(desc);

    let mut next_cmd = 11;
    let mut one = |expected: usize| {
        cfg.one(next_cmd, expected, true);
        next_cmd += 1;
    };
    for _ in 0..5 {
        one(servers);

        let leader1 = cfg.check_one_leader();
        let peer = |k: usize| (leader1 + k) % servers;
        cfg.disconnect(peer(1));
        cfg.disconnect(peer(2));
        one(servers - 2);

        // Everyone is cut off; two of the peers that missed the last
        // command restart and rejoin, then a third that has it.
        cfg.disconnect(peer(0));
        cfg.disconnect(peer(3));
        cfg.disconnect(peer(4));
        cfg.start1(peer(1));
        cfg.start1(peer(2));
        cfg.connect(peer(1));
        cfg.connect(peer(2));
        sleep(ELECTION_TIMEOUT);
        cfg.start1(peer(3));
        cfg.connect(peer(3));
        one(servers - 2);

        for last in [peer(4), peer(0)] {
            if rejoin == Rejoin::Restart {
                cfg.start1(last);
            }
            cfg.connect(last);
        }
    }
    cfg.one(1000, servers, true);

    cfg.end();
}

#[test]
fn persist3() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("partitioned leader and one follower crash, leader restarts");

    cfg.one(101, 3, true);

    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 2) % servers);
    cfg.one(102, 2, true);

    // The two peers that hold 102 crash; the one without it returns.
    cfg.crash1(leader);
    cfg.crash1((leader + 1) % servers);
    cfg.connect((leader + 2) % servers);
    cfg.start1(leader);
    cfg.connect(leader);
    cfg.one(103, 2, true);

    cfg.start1((leader + 1) % servers);
    cfg.connect((leader + 1) % servers);
    cfg.one(104, servers, true);

    cfg.end();
}

#[test]
fn figure8() {
    let servers = 5;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("Figure 8");
    run_figure8(&cfg, LeaderFault::Crash);
    cfg.end();
}

#[test]
fn unreliable_agree() {
    let servers = 5;
    let cfg = Config::new(servers, Net::Unreliable, Applier::Checking);
    cfg.begin("unreliable agreement");

    let cfg = &cfg;
    thread::scope(|s| {
        for round in 1..50 {
            for j in 0..4 {
                s.spawn(move || cfg.one(100 * round + j, 1, true));
            }
            cfg.one(round, 1, true);
        }
        cfg.set_unreliable(false);
    });
    cfg.one(100, servers, true);

    cfg.end();
}

#[test]
fn figure8_unreliable() {
    let servers = 5;
    let cfg = Config::new(servers, Net::Unreliable, Applier::Checking);
    cfg.begin("Figure 8 (unreliable)");
    run_figure8(&cfg, LeaderFault::Disconnect);
    cfg.end();
}

#[test]
fn reliable_churn() {
    let cfg = Config::new(5, Net::Reliable, Applier::Checking);
    cfg.begin("churn");
    churn(&cfg);
    cfg.end();
}

#[test]
fn unreliable_churn() {
    let cfg = Config::new(5, Net::Unreliable, Applier::Checking);
    cfg.begin("unreliable churn");
    churn(&cfg);
    cfg.end();
}

/// How the Figure 8 scenarios take a leader down.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LeaderFault {
    /// Crash every leader found; restart a crashed peer when fewer than
    /// three are up.
    Crash,
    /// Disconnect a leader found with probability 1/2, and switch long
    /// reordering on at iteration 200; reconnect a peer when fewer than
    /// three are connected.
    Disconnect,
}

/// Figure 8 of the Raft paper, many times over: start commands on every
/// peer, let a leader get some way into replicating them, take it down,
/// bring others back, and check at the end that the peers still agree.
fn run_figure8(cfg: &Config, fault: LeaderFault) {
    let servers = cfg.n();
    let mut rng = rand::rng();
    cfg.one(random_int(), 1, true);

    let mut up = servers;
    for iteration in 0..1000 {
        if fault == LeaderFault::Disconnect && iteration == 200 {
            cfg.set_long_reordering(true);
        }

        let mut leader = None;
        for i in 0..servers {
            if cfg.start(i, random_int()).is_some() && cfg.is_connected(i) {
                leader = Some(i);
            }
        }

        let pause = if rng.random_bool(0.1) {
            rng.random_range(0..ELECTION_TIMEOUT.as_millis() as u64 / 2)
        } else {
            rng.random_range(0..13)
        };
        sleep(Duration::from_millis(pause));

        if let Some(leader) = leader {
            match fault {
                LeaderFault::Crash => {
                    cfg.crash1(leader);
                    up -= 1;
                }
                LeaderFault::Disconnect if rng.random_bool(0.5) => {
                    cfg.disconnect(leader);
                    up -= 1;
                }
                LeaderFault::Disconnect => {}
            }
        }

        if up < 3 {
            let s = rng.random_range(0..servers);
            if !cfg.is_connected(s) {
                bring_back(cfg, s);
                up += 1;
            }
        }
    }

    for i in 0..servers {
        if !cfg.is_connected(i) {
            bring_back(cfg, i);
        }
    }
    cfg.one(random_int(), servers, true);
}

/// Restarts peer `i` if it crashed, and connects it.
fn bring_back(cfg: &Config, i: usize) {
    if !cfg.is_up(i) {
        cfg.start1(i);
    }
    cfg.connect(i);
}

/// Three clients keep starting commands on every peer while peers are
/// disconnected, crashed and restarted at random; every command a client
/// saw committed must be in the final log, which all peers must share.
fn churn(cfg: &Config) {
    let servers = cfg.n();
    let clients = 3;
    let stop = AtomicBool::new(false);

    let seen: Vec<u64> = thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|me| {
                let stop = &stop;
                s.spawn(move || churn_client(cfg, me, stop))
            })
            .collect();
        // Stop the clients even if this thread fails, so the scope ends.
        let _stop_clients = StopOnDrop(&stop);

        let mut rng = rand::rng();
        for _ in 0..20 {
            if rng.random_bool(0.2) {
                cfg.disconnect(rng.random_range(0..servers));
            }
            if rng.random_bool(0.5) {
                bring_back(cfg, rng.random_range(0..servers));
            }
            if rng.random_bool(0.2) {
                let i = rng.random_range(0..servers);
                if cfg.is_up(i) {
                    cfg.crash1(i);
                }
            }
            // Shorter than an election timeout, so changes come before
            // everything settles, but not hugely shorter.
            sleep(ELECTION_TIMEOUT * 7 / 10);
        }

        sleep(ELECTION_TIMEOUT);
        cfg.set_unreliable(false);
        for i in 0..servers {
            bring_back(cfg, i);
        }
        stop.store(true, Ordering::SeqCst);

        handles.into_iter().flat_map(join_or_fail).collect()
    });

    sleep(ELECTION_TIMEOUT);
    let last_index = cfg.one(random_int(), servers, true);

    let log: Vec<Cmd> = (1..=last_index)
        .map(|index| {
            cfg.wait(index, servers, None)
                .expect("wait without a start term always returns the command")
        })
        .collect();
    for value in seen {
        assert!(
            log.contains(&Cmd::Int(value)),
            "didn't find a value: {value} was committed (a client saw it applied) but is not in \
             the final log of {last_index} entries: a committed entry was lost{}",
            likely_causes(&[
                rules::PERSIST_LOG,
                rules::UP_TO_DATE_VOTE,
                rules::COMMIT_CURRENT_TERM,
                rules::KEEP_MATCHING_ENTRIES
            ])
        );
    }
}

/// One churn client: starts random values on every peer, and reports
/// those it saw committed.
fn churn_client(cfg: &Config, me: usize, stop: &AtomicBool) -> Vec<u64> {
    let mut seen = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let value = random_int();
        let mut index = None;
        for i in 0..cfg.n() {
            if let Some((at, _)) = cfg.start(i, value) {
                index = Some(at);
            }
        }
        let Some(index) = index else {
            sleep(Duration::from_millis(79 + me as u64 * 17));
            continue;
        };
        // Maybe the leader commits the value, maybe not; don't wait long.
        for pause in [10, 20, 50, 100, 200] {
            let (committed, cmd) = cfg.n_committed(index);
            if committed > 0 {
                if cmd == Some(Cmd::Int(value)) {
                    seen.push(value);
                }
                break;
            }
            sleep(Duration::from_millis(pause));
        }
    }
    seen
}

/// Sets its flag when dropped, panicking or not.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn reelected_leader_counts_only_its_new_term() {
    let servers = 5;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("a leader elected again counts only acknowledgements of its new term");
    cfg.one(random_int(), servers, true);

    // A leads; B alone takes three of its entries, which never commit.
    let a = cfg.check_one_leader();
    let b = (a + 1) % servers;
    let rest: Vec<usize> = (0..servers).filter(|&i| i != a && i != b).collect();
    for &i in &rest {
        cfg.disconnect(i);
    }
    for _ in 0..3 {
        cfg.start(a, random_int());
    }
    sleep(REPLICATION_GRACE);

    // The other three elect L, whose one new entry reaches A alone: A's
    // log is now shorter than what B acknowledged to it, and newer than
    // the other two's.
    cfg.disconnect(a);
    cfg.disconnect(b);
    for &i in &rest {
        cfg.connect(i);
    }
    let l = cfg.check_one_leader();
    let others: Vec<usize> = rest.iter().copied().filter(|&i| i != l).collect();
    for &i in &others {
        cfg.disconnect(i);
    }
    cfg.connect(a);
    cfg.start(l, random_int());
    sleep(REPLICATION_GRACE);

    // Without L, only A can win the other two's votes. With one of them it
    // is two of five: whatever it takes now must not commit, whatever B
    // acknowledged in A's earlier term.
    cfg.disconnect(l);
    for &i in &others {
        cfg.connect(i);
    }
    let leader = cfg.check_one_leader();
    let away = *others.iter().find(|&&i| i != leader).expect("two others");
    cfg.disconnect(away);
    let mut indices = Vec::new();
    for _ in 0..2 {
        indices.extend(cfg.start(leader, random_int()).map(|(index, _)| index));
    }
    sleep(REPLICATION_GRACE);
    for index in indices {
        let (count, _) = cfg.n_committed(index);
        assert_eq!(
            count,
            0,
            "S{leader} leads with one follower of five, yet {count} peers committed index \
             {index}{}",
            likely_causes(&[rules::LEADER_COMMIT, rules::MAJORITY])
        );
    }

    cfg.connect_all();
    cfg.one(random_int(), servers, true);
    cfg.end();
}

#[test]
fn figure8_scripted() {
    let servers = 5;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("Figure 8, scripted: an older term's entry is not committed by counting");

    cfg.one(random_int(), servers, true);

    // (a) S1 leads; its entry `a` reaches S2 alone.
    let s1 = cfg.check_one_leader();
    let s2 = (s1 + 1) % servers;
    let rest: Vec<usize> = (0..servers).filter(|&i| i != s1 && i != s2).collect();
    for &i in &rest {
        cfg.disconnect(i);
    }
    let (index, _) = cfg.start(s1, random_int()).unwrap_or_else(|| {
        panic!("the leader S{s1} refused start() just after two followers left")
    });
    sleep(REPLICATION_GRACE);
    cfg.crash1(s1);
    cfg.crash1(s2);

    // (b) The other three elect S5, which takes an entry `b` at the same
    // index in a newer term, and keeps it to itself. It stays up, cut off:
    // a leader need not save an entry no commit has counted its copy for,
    // so a crash could lose `b`.
    for &i in &rest {
        cfg.connect(i);
    }
    let s5 = cfg.check_one_leader();
    cfg.disconnect(s5);
    if cfg.start(s5, random_int()).is_none() {
        panic!("the leader S{s5} refused start() just after it was cut off");
    }
    // Of the two voters left, S3 stays and S4 sits out (c).
    let s4 = *rest.iter().find(|&&i| i != s5).expect("S5 is one of three");

    // (c) S1 and S2 return with S3: one of them leads a newer term and
    // copies `a`, an entry of an older term, to S3, so a majority holds
    // it. It must not commit it by counting: S5 can still be elected and
    // overwrite it. A leader that does commits within a heartbeat or two.
    cfg.disconnect(s4);
    for i in [s1, s2] {
        cfg.restart(i);
    }
    let leader = cfg.check_one_leader();
    let began = Instant::now();
    while cfg.n_committed(index).0 == 0 && began.elapsed() < 2 * REPLICATION_GRACE {
        sleep(Duration::from_millis(20));
    }

    // (d) Without that leader and the other of S1 and S2, S5 returns: its
    // last term is newer than S3's and S4's, it alone can win, and it
    // commits `b` at the index where a leader that counted committed `a`.
    cfg.crash1(leader);
    let other = if leader == s1 { s2 } else { s1 };
    cfg.disconnect(other);
    cfg.connect(s5);
    cfg.connect(s4);
    cfg.one(random_int(), 3, true);

    cfg.restart(leader);
    cfg.connect(other);
    cfg.one(random_int(), servers, true);
    cfg.end();
}

#[test]
fn vote_survives_crash() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("a vote survives a crash");

    let voter = cfg.check_one_leader();
    let term = cfg.check_terms();
    let first = (voter + 1) % servers;
    let second = (voter + 2) % servers;

    // The voter, leader of `term`, keeps `second` in that term with its
    // heartbeats; `first` hears nothing, stands for a newer term, and can
    // reach only the voter, whose vote makes it leader.
    cfg.disconnect_all();
    cfg.link(voter, second);
    cfg.link(first, voter);
    cfg.link(second, voter);
    cfg.hold_link(second, voter, true);
    let (_, new_term) = cfg.wait_leader_among(&[first]);
    assert!(
        new_term > term,
        "S{first} leads term {new_term}, not newer than {term}"
    );

    // The voter no longer leads, so `second` misses its heartbeats and
    // stands in that same newer term; the network holds its request to the
    // voter. The voter crashes and restarts, and at once, before it hears
    // from any leader, the request arrives: a voter that forgot its vote,
    // or its term, makes two leaders of the term.
    cfg.await_held_candidates(&[second], voter);
    let request = cfg.take_held(second, voter);
    cfg.crash1(voter);
    cfg.start1(voter);
    cfg.link(second, voter);
    cfg.deliver_taken(second, voter, request);
    cfg.check_one_leader_per_term(ELECTION_TIMEOUT);

    cfg.hold_link(second, voter, false);
    cfg.deliver_held(second, voter);
    cfg.connect_all();
    cfg.one(random_int(), servers, true);
    cfg.end();
}

#[test]
fn persist_before_answering() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("entries are saved before they are acknowledged");

    cfg.one(random_int(), servers, true);
    for _ in 0..PERSIST_ROUNDS {
        // A command commits on the leader and one follower, which then
        // crash at once: the follower's acknowledgement counted, so it
        // must come back with the entry.
        let leader = cfg.check_one_leader();
        let follower = (leader + 1) % servers;
        let third = (leader + 2) % servers;
        cfg.disconnect(third);
        cfg.one(random_int(), 2, true);
        cfg.crash1(leader);
        cfg.crash1(follower);

        // Only the follower and the third peer are up: a follower that lost
        // the entry lets a leader put another command at its index.
        cfg.restart(follower);
        cfg.connect(third);
        cfg.one(random_int(), 2, true);

        cfg.restart(leader);
        cfg.one(random_int(), servers, true);
    }
    cfg.end();
}

#[test]
fn fast_backtracking() {
    let servers = 5;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("fast backtracking over hundreds of conflicting entries");

    cfg.one(random_int(), servers, true);

    // An old leader and one follower, cut off from the other three, take
    // entries that never commit.
    let old = cfg.check_one_leader();
    let follower = (old + 1) % servers;
    let majority: Vec<usize> = (0..servers)
        .filter(|&i| i != old && i != follower)
        .collect();
    for &i in &majority {
        cfg.disconnect(i);
    }
    // A leader may decline commands once it has heard no majority for a
    // while (the reference does after 400 ms): on a slow machine it takes
    // fewer than CONFLICTING, which still conflict from index 2 on.
    let taken = (0..CONFLICTING)
        .take_while(|_| cfg.start(old, random_int()).is_some())
        .count();
    assert!(
        taken > 0,
        "the leader S{old} refused start() just after three followers left"
    );
    sleep(REPLICATION_GRACE);
    // The follower keeps hearing the old leader, so it holds an old term
    // and never campaigns.
    cfg.disconnect(old);
    cfg.disconnect(follower);
    cfg.link(old, follower);

    // The other three commit as many entries of a newer term, then elect
    // a leader anew, whose nextIndex for every follower is past its log.
    for &i in &majority {
        cfg.connect(i);
    }
    commit_many(&cfg, CONFLICTING, majority.len());
    let leader = cfg.check_one_leader();
    cfg.restart(leader);
    // One entry of the new leader's term, so that it commits what it holds
    // (a restarted leader has not yet learned the commit index).
    let last = cfg.one(random_int(), majority.len(), true);

    // The follower returns: it conflicts with the leader from index 2 on.
    cfg.disconnect(old);
    let before = cfg.rpc_count(follower);
    cfg.connect(follower);
    let began = Instant::now();
    while cfg.applied_through(follower) < last {
        if began.elapsed() > 10 * ELECTION_TIMEOUT {
            panic!(
                "S{follower} applied only through index {} of {last} 10 s after it rejoined{}",
                cfg.applied_through(follower),
                likely_causes(&[rules::FAST_BACKUP, rules::REPLICATION])
            );
        }
        sleep(Duration::from_millis(10));
    }
    let used = cfg.rpc_count(follower) - before;
    if used > CATCH_UP_BUDGET {
        panic!(
            "S{follower} needed {used} RPCs to catch up over {CONFLICTING} conflicting entries \
             in two terms; the budget is {CATCH_UP_BUDGET}: the leader backs nextIndex up too \
             slowly{}",
            likely_causes(&[rules::FAST_BACKUP])
        );
    }

    cfg.connect(old);
    cfg.one(random_int(), servers, true);
    cfg.end();
}

/// Starts `count` commands on the leader of the connected peers, and waits
/// until `expected` peers applied the last.
fn commit_many(cfg: &Config, count: u64, expected: usize) {
    let leader = cfg.check_one_leader();
    let mut last = 0;
    for _ in 0..count {
        match cfg.start(leader, random_int()) {
            Some((index, _)) => last = index,
            None => panic!("the leader S{leader} refused start() while a majority was connected"),
        }
    }
    cfg.wait(last, expected, None);
}
