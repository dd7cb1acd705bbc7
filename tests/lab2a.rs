//! Part 2A: leader election.
//!
//! Ports of the MIT 6.824 2A tests (`TestInitialElection2A`,
//! `TestReElection2A`, `TestManyElections2A`), with their limits, then
//! scripted scenarios that drive the cluster into the one situation where
//! a rule of election matters, so that breaking the rule fails every run.

use harness::rules::{self, likely_causes};
use harness::{Applier, Config, Net, ELECTION_TIMEOUT};
use rand::Rng;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long `leader_holds` watches a quiet cluster.
const QUIET: Duration = Duration::from_secs(5);

/// The most elections a quiet, healthy cluster may hold in [`QUIET`]: a
/// correct Raft holds none, but a heartbeat delayed by a loaded machine may
/// cost one; a follower that ignores heartbeats holds one or two a second.
const QUIET_TERM_CHANGES: u64 = 2;

/// The most heartbeats a second a follower may receive (lab 2A), and the
/// slack for the heartbeats at either end of the window.
const HEARTBEATS_PER_SECOND: f64 = 10.0;
const HEARTBEAT_SLACK: usize = 3;

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

#[test]
fn leader_holds() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("heartbeats hold the leader, at most ten a second");

    cfg.check_one_leader();
    let term1 = cfg.check_terms();
    let rpcs1: Vec<usize> = (0..servers).map(|i| cfg.rpc_count(i)).collect();
    let began = Instant::now();

    // Nothing fails and nothing is submitted: only heartbeats flow.
    sleep(QUIET);
    let rpcs2: Vec<usize> = (0..servers).map(|i| cfg.rpc_count(i)).collect();
    let seconds = began.elapsed().as_secs_f64();
    let term2 = cfg.check_terms();

    if term2 - term1 > QUIET_TERM_CHANGES {
        panic!(
            "the term went from {term1} to {term2} in {seconds:.1} s on a healthy, quiet \
             cluster: followers keep starting elections although the leader is up{}",
            likely_causes(&[rules::RESET_ELECTION_TIMER, rules::HEARTBEATS])
        );
    }
    let allowed = (HEARTBEATS_PER_SECOND * seconds).ceil() as usize + HEARTBEAT_SLACK;
    for i in 0..servers {
        let received = rpcs2[i] - rpcs1[i];
        if received > allowed {
            panic!(
                "S{i} received {received} RPCs in {seconds:.1} s on a quiet cluster; at most \
                 {allowed} heartbeats are allowed (ten a second){}",
                likely_causes(&[rules::HEARTBEATS])
            );
        }
    }
    cfg.check_one_leader();
    cfg.end();
}

#[test]
fn one_vote_per_term() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("one vote per term: two candidates, one voter");

    // S0 and S1 reach only S2, which reaches no one; the network holds
    // what they send S2. Once both stand in one term, S2 gets S0's vote
    // request, then S1's. Only S2's vote can make either a leader, so a
    // voter that grants two votes in a term makes two leaders of it. S0's
    // heartbeats stay held: S2 has heard from no leader when S1 asks (a
    // peer that just heard from a leader may ignore a candidate, which
    // would hide the bug).
    cfg.disconnect_all();
    for candidate in [0, 1] {
        cfg.link(candidate, 2);
        cfg.hold_link(candidate, 2, true);
    }
    cfg.await_held_candidates(&[0, 1], 2);
    cfg.deliver_held(0, 2);
    cfg.deliver_held(1, 2);
    cfg.check_one_leader_per_term(ELECTION_TIMEOUT);

    for candidate in [0, 1] {
        cfg.hold_link(candidate, 2, false);
        cfg.deliver_held(candidate, 2);
    }
    cfg.connect_all();
    cfg.check_one_leader();
    cfg.end();
}

#[test]
fn stale_leader_steps_down() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("a stale leader steps down on a newer term seen only in replies");

    let old = cfg.check_one_leader();
    let (old_term, _) = cfg.state(old).expect("the leader is up");
    cfg.disconnect(old);
    let new = cfg.check_one_leader();

    // The old leader's heartbeats reach the others, whose replies carry
    // the newer term; nothing else reaches it.
    for j in (0..servers).filter(|&j| j != old) {
        cfg.link(old, j);
    }
    let began = Instant::now();
    while cfg.state(old) == Some((old_term, true)) {
        if began.elapsed() > ELECTION_TIMEOUT {
            panic!(
                "S{old} still leads term {old_term} 1 s after its heartbeats began to reach \
                 peers of a newer term (S{new} leads it): their replies carry that term, and a \
                 leader that sees a newer term must step down{}",
                likely_causes(&[rules::ADOPT_NEWER_TERM])
            );
        }
        sleep(Duration::from_millis(10));
    }

    cfg.connect(old);
    cfg.check_one_leader();
    cfg.end();
}
