//! Part 2A: leader election.
//!
//! Ports of the MIT 6.824 2A tests (`TestInitialElection2A`,
//! `TestReElection2A`, `TestManyElections2A`), with their limits.

use harness::{Applier, Config, Net, ELECTION_TIMEOUT};
use rand::Rng;
use std::thread::sleep;
use std::time::Duration;

#[test]
fn initial_election() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("initial election");

    cfg.check_one_leader();

    // Give followers a moment to learn of the election, then all connected
    // peers must agree on the term.
    sleep(Duration::from_millis(50));
    let term1 = cfg.check_terms();
    assert!(
        term1 >= 1,
        "the term is {term1} after an election; it should be at least 1 (a candidate \
         increments its term before asking for votes)"
    );

    // With no failures, the leader and term should stay put.
    sleep(2 * ELECTION_TIMEOUT);
    let term2 = cfg.check_terms();
    if term1 != term2 {
        cfg.warn(&format!(
            "term changed even though there were no failures ({term1} -> {term2}): are \
             heartbeats sent often enough, and do they reset followers' election timers?"
        ));
    }

    // There should still be a leader.
    cfg.check_one_leader();
    cfg.end();
}

#[test]
fn re_election() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("election after network failure");

    let leader1 = cfg.check_one_leader();

    // If the leader disconnects, a new one should be elected.
    cfg.disconnect(leader1);
    cfg.check_one_leader();

    // The old leader rejoining must not disturb the new leader; it should
    // step down to follower.
    cfg.connect(leader1);
    let leader2 = cfg.check_one_leader();

    // Without a quorum, no leader should be elected.
    cfg.disconnect(leader2);
    cfg.disconnect((leader2 + 1) % servers);
    sleep(2 * ELECTION_TIMEOUT);
    cfg.check_no_leader();

    // Once a quorum forms again, it should elect a leader.
    cfg.connect((leader2 + 1) % servers);
    cfg.check_one_leader();

    // The last peer rejoining should not prevent a leader from existing.
    cfg.connect(leader2);
    cfg.check_one_leader();

    cfg.end();
}

#[test]
fn many_elections() {
    let servers = 7;
    let rounds = 10;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("multiple elections");

    cfg.check_one_leader();

    let mut rng = rand::rng();
    for _ in 0..rounds {
        // Disconnect three peers (possibly fewer: picks may repeat).
        let picked: Vec<usize> = (0..3).map(|_| rng.random_range(0..servers)).collect();
        for &i in &picked {
            cfg.disconnect(i);
        }
        // Either the current leader is still up, or the remaining four or
        // more elect a new one.
        cfg.check_one_leader();
        for &i in &picked {
            cfg.connect(i);
        }
    }

    cfg.check_one_leader();
    cfg.end();
}
