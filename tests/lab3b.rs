//! Part 3B: the replicated KV service with snapshots (`max_raft_state`
//! 1000 bytes).
//!
//! Ports of the MIT 6.824 KV snapshot tests (`TestSnapshotRPC4B` ... 2024
//! names), with their limits. Whenever the servers have caught up (after
//! each round of clients, and at the end of every test) each persisted
//! Raft state must be within 8 x `max_raft_state`, and each test ends by
//! checking the whole history for linearizability.

use std::thread;

use harness::kv::rules::SNAPSHOT_WHEN_FULL;
use harness::kv::{
    dedup_survives_snapshot_and_restart, generic_test, speed_test, Config, GenericTest,
};
use harness::rules::likely_causes;
use harness::{Net, ELECTION_TIMEOUT};

/// The servers' `max_raft_state` in every 3B test.
const MAX_RAFT_STATE: usize = 1000;
/// The largest snapshot the snapshot size test accepts (MIT's
/// `maxsnapshotstate`).
const MAX_SNAPSHOT_SIZE: usize = 500;

/// A server that missed many operations while the others trimmed their
/// logs must catch up through InstallSnapshot.
#[test]
fn snapshot_rpc() {
    let cfg = Config::new(3, Net::Reliable, Some(MAX_RAFT_STATE));
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("InstallSnapshot RPC");
    ck.put("a", "A");
    ck.check("a", "A");

    // Many puts into the majority partition.
    cfg.partition(&[0, 1], &[2]);
    let mut ck_01 = cfg.make_client(&[0, 1]);
    for i in 0..50 {
        ck_01.put(&i.to_string(), &i.to_string());
    }
    thread::sleep(ELECTION_TIMEOUT);
    ck_01.put("b", "B");
    // The majority must have thrown away most of its log.
    cfg.check_log_size();

    // A majority that needs the lagging server 2, so it must catch up.
    cfg.partition(&[0, 2], &[1]);
    let mut ck_02 = cfg.make_client(&[0, 2]);
    ck_02.put("c", "C");
    ck_02.put("d", "D");
    ck_02.check("a", "A");
    ck_02.check("b", "B");
    ck_02.check("1", "1");
    ck_02.check("49", "49");

    // Everybody.
    cfg.partition(&cfg.all(), &[]);
    ck.put("e", "E");
    ck.check("c", "C");
    ck.check("e", "E");
    ck.check("1", "1");
    cfg.end();
}

/// Many operations on one key: logs are trimmed, and the snapshot holds
/// the state, not the history.
#[test]
fn snapshot_size() {
    let cfg = Config::new(3, Net::Reliable, Some(MAX_RAFT_STATE));
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("snapshot size is reasonable");
    for _ in 0..200 {
        ck.put("x", "0");
        ck.check("x", "0");
        ck.put("x", "1");
        ck.check("x", "1");
    }
    cfg.check_log_size();
    let snapshot_size = cfg.snapshot_size();
    // 400 Puts are several times max_raft_state (Gets no longer reach the
    // log once 3C's reads are in, so the log alone may stay under the bound).
    assert!(
        snapshot_size > 0,
        "no server saved a snapshot after 400 Puts with max_raft_state = {MAX_RAFT_STATE}{}",
        likely_causes(&[SNAPSHOT_WHEN_FULL])
    );
    assert!(
        snapshot_size <= MAX_SNAPSHOT_SIZE,
        "snapshot too large ({snapshot_size} > {MAX_SNAPSHOT_SIZE} bytes): a snapshot should \
         hold the key/value state and the duplicate table, not the operations"
    );
    cfg.end();
}

#[test]
fn speed() {
    speed_test(Some(MAX_RAFT_STATE));
}

#[test]
fn snapshot_recover() {
    generic_test(GenericTest {
        crash: true,
        max_raft_state: Some(MAX_RAFT_STATE),
        ..GenericTest::default()
    });
}

#[test]
fn snapshot_recover_many_clients() {
    generic_test(GenericTest {
        clients: 20,
        crash: true,
        max_raft_state: Some(MAX_RAFT_STATE),
        ..GenericTest::default()
    });
}

#[test]
fn snapshot_unreliable() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        max_raft_state: Some(MAX_RAFT_STATE),
        ..GenericTest::default()
    });
}

#[test]
fn snapshot_unreliable_recover() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        crash: true,
        max_raft_state: Some(MAX_RAFT_STATE),
        ..GenericTest::default()
    });
}

#[test]
fn snapshot_unreliable_recover_concurrent_partition() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        crash: true,
        partitions: true,
        max_raft_state: Some(MAX_RAFT_STATE),
        ..GenericTest::default()
    });
}

#[test]
fn snapshot_unreliable_recover_concurrent_partition_linearizable() {
    generic_test(GenericTest {
        clients: 15,
        servers: 7,
        net: Net::Unreliable,
        crash: true,
        partitions: true,
        max_raft_state: Some(MAX_RAFT_STATE),
        random_keys: true,
        ..GenericTest::default()
    });
}

/// An Append whose reply was lost, retried after every server snapshotted
/// and restarted, must not take effect twice.
#[test]
fn duplicate_table_survives_snapshot_and_restart() {
    dedup_survives_snapshot_and_restart(MAX_RAFT_STATE);
}
