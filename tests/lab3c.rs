//! Part 3C: Gets that write nothing to the log (ReadIndex, §8 of the
//! extended paper). Puts and Appends go through the log as in 3A; a Get is
//! answered by the leader once a majority has confirmed, after the Get
//! arrived, that it still leads, and its state machine has applied the
//! read index. The scripted tests drive the service where each of those
//! rules matters; the generic ones run 3A's and 3B's scenarios with mostly
//! Gets, every history checked for linearizability.

use std::thread;
use std::time::{Duration, Instant};

use harness::kv::rules::{
    READ_AFTER_APPLY, READ_INDEX_CONFIRMED, READ_INDEX_OWN_TERM, READ_WRITES_NOTHING,
};
use harness::kv::{append_value, generic_test, Config, GenericTest};
use harness::rules::likely_causes;
use harness::{Detached, Net, ELECTION_TIMEOUT};

/// 3B's bound on the persisted Raft state.
const MAX_RAFT_STATE: usize = 1000;

/// How many Gets the quiet cluster serves in `reads_grow_nothing`.
const QUIET_GETS: usize = 1000;

/// Tries at a stretch of `QUIET_GETS` in one term, in `reads_grow_nothing`.
const QUIET_TRIES: usize = 3;

/// A deposed leader's Get must not complete within this long.
const MINORITY_WAIT: Duration = Duration::from_secs(2);

/// After healing (and an election timeout), the minority's Get must
/// complete within this long.
const HEALED_COMPLETION: Duration = Duration::from_secs(3);

/// Leader changes in `read_after_leader_change`, and the Appends committed
/// before each: enough that a restarted server has a long log to apply.
const LEADER_CHANGES: usize = 4;
const APPENDS_PER_CHANGE: usize = 50;

#[test]
fn reads_grow_nothing() {
    let cfg = Config::new(3, Net::Reliable, None);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("reads write nothing to the log");
    ck.put("k", "v");
    for _ in 0..QUIET_TRIES {
        // The term's first Get may commit the leader's no-op; give it a few
        // heartbeats to reach every follower's disk.
        ck.check("k", "v");
        thread::sleep(ELECTION_TIMEOUT);
        let term = cfg.newest_term();
        let before = cfg.log_sizes();
        for _ in 0..QUIET_GETS {
            ck.check("k", "v");
        }
        let after = cfg.log_sizes();
        if cfg.newest_term() != term {
            // A new leader may write its one no-op: measure a stretch
            // without an election.
            cfg.warn("an election began during the Gets; measuring again");
            continue;
        }
        if before != after {
            panic!(
                "{QUIET_GETS} Gets on a quiet cluster changed the persisted Raft state of the \
                 servers from {before:?} to {after:?} bytes: a Get must not write to the log{}",
                likely_causes(&[READ_WRITES_NOTHING])
            );
        }
        cfg.end();
        return;
    }
    panic!(
        "an election began during each of {QUIET_TRIES} stretches of {QUIET_GETS} Gets on a \
         reliable network without failures: leaders must hold (heartbeats every 100 ms, election \
         timeouts well above them)"
    );
}

#[test]
fn deposed_leader_answers_no_read() {
    let cfg = Config::new(5, Net::Reliable, None);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("a leader cut off in a minority answers no Get");
    ck.put("k", "old");
    ck.check("k", "old");
    let (majority, minority) = cfg.make_partition();
    let deposed = *minority.last().expect("the leader is in the minority");
    cfg.partition(&majority, &minority);
    let mut ck_deposed = cfg.make_client(&[deposed]);
    let deposed_ends = ck_deposed.ends();
    let (read_tx, read) = crossbeam_channel::bounded(1);
    let mut get = Detached::spawn(move || {
        let _ = read_tx.send(ck_deposed.get("k"));
    });
    let mut ck_majority = cfg.make_client(&majority);
    ck_majority.put("k", "new");
    if get.finished_by(Instant::now() + MINORITY_WAIT) {
        panic!(
            "S{deposed}, the leader cut off in a minority, answered a Get with {:?} while the \
             majority had written \"new\": it must confirm with a majority that it still leads{}",
            read.try_recv().unwrap_or_default(),
            likely_causes(&[READ_INDEX_CONFIRMED])
        );
    }
    cfg.connect_all();
    cfg.connect_client(&deposed_ends, &cfg.all());
    thread::sleep(ELECTION_TIMEOUT);
    if !get.finished_by(Instant::now() + HEALED_COMPLETION) {
        panic!("the minority's Get did not complete within 3 s of healing");
    }
    let value = read.try_recv().expect("the Get sent its value");
    if value != "new" {
        panic!(
            "after healing, the minority's Get returned {value:?}, but \"new\" was written \
             before it returned{}",
            likely_causes(&[READ_INDEX_CONFIRMED, READ_INDEX_OWN_TERM])
        );
    }
    cfg.end();
}

#[test]
fn read_after_leader_change() {
    let cfg = Config::new(3, Net::Reliable, None);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("a Get right after a leader change sees every committed write");
    let mut expected = String::new();
    for change in 0..LEADER_CHANGES {
        for j in 0..APPENDS_PER_CHANGE {
            let value = append_value(0, change * APPENDS_PER_CHANGE + j);
            ck.append("k", &value);
            expected.push_str(&value);
        }
        // Alternately: the leader is cut off and the others elect one of
        // them; or every server restarts, knowing nothing committed.
        let how = if change % 2 == 0 {
            let Some(leader) = cfg.leader() else {
                panic!("no leader after {APPENDS_PER_CHANGE} Appends committed")
            };
            cfg.disconnect(leader, &cfg.all());
            "the leader was cut off"
        } else {
            cfg.restart_all();
            "every server restarted"
        };
        let read = ck.get("k");
        if read != expected {
            panic!(
                "after {how}, a Get returned {} bytes where {} bytes of Appends had committed \
                 (it read ...{:?}, expected ...{:?}){}",
                read.len(),
                expected.len(),
                tail(&read),
                tail(&expected),
                likely_causes(&[READ_INDEX_OWN_TERM, READ_AFTER_APPLY, READ_INDEX_CONFIRMED])
            );
        }
        cfg.connect_all();
    }
    cfg.end();
}

/// The last few Appends of a value, for a failure message.
fn tail(value: &str) -> &str {
    let start = value.len().saturating_sub(40);
    value.get(start..).unwrap_or(value)
}

#[test]
fn reads_unreliable_many_clients() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        read_heavy: true,
        ..GenericTest::default()
    });
}

#[test]
fn reads_partitions_many_clients() {
    generic_test(GenericTest {
        clients: 5,
        partitions: true,
        read_heavy: true,
        ..GenericTest::default()
    });
}

#[test]
fn reads_persist_partition_unreliable() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        crash: true,
        partitions: true,
        read_heavy: true,
        ..GenericTest::default()
    });
}

#[test]
fn reads_persist_partition_unreliable_linearizable() {
    generic_test(GenericTest {
        clients: 15,
        servers: 7,
        net: Net::Unreliable,
        crash: true,
        partitions: true,
        random_keys: true,
        read_heavy: true,
        ..GenericTest::default()
    });
}

#[test]
fn reads_snapshots_persist_partition_unreliable() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        crash: true,
        partitions: true,
        max_raft_state: Some(MAX_RAFT_STATE),
        read_heavy: true,
        ..GenericTest::default()
    });
}
