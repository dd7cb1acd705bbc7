//! Part 2C: persistence.
//!
//! Ports of the MIT 6.824 2C tests (`TestPersist12C` ...
//! `TestUnreliableChurn2C`), with their limits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, sleep};
use std::time::Duration;

use harness::{random_int, Applier, Cmd, Config, Net, ELECTION_TIMEOUT};
use rand::Rng;

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
    let servers = 5;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("more persistence");

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

        cfg.connect(peer(4));
        cfg.connect(peer(0));
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

        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a churn client failed"))
            .collect()
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
             the final log of {last_index} entries: a committed entry was lost"
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
