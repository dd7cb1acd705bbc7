//! Part 3A: the replicated KV service without snapshots.
//!
//! Ports of the MIT 6.824 KV tests (`TestBasic4A` ... 2024 names;
//! `TestBasic3A` ... earlier), with their limits. Every clerk operation is
//! recorded, and each test ends by checking the whole history for
//! linearizability.

use std::thread;
use std::time::{Duration, Instant};

use harness::kv::rules::{READ_THROUGH_LOG, REPLY_COMMITTED_OP, WRONG_LEADER};
use harness::kv::{
    append_value, check_concurrent_appends, generic_test, reply_only_to_committed_op, speed_test,
    Config, GenericTest,
};
use harness::rules::likely_causes;
use harness::{join_or_fail, Detached, Net, ELECTION_TIMEOUT};

/// After healing (and an election timeout), the minority's requests must
/// complete within this long.
const HEALED_COMPLETION: Duration = Duration::from_secs(3);

#[test]
fn basic() {
    generic_test(GenericTest::default());
}

#[test]
fn speed() {
    speed_test(None);
}

#[test]
fn concurrent() {
    generic_test(GenericTest {
        clients: 5,
        ..GenericTest::default()
    });
}

#[test]
fn unreliable() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        ..GenericTest::default()
    });
}

#[test]
fn unreliable_one_key() {
    const CLIENTS: usize = 5;
    const APPENDS: usize = 10;
    let cfg = Config::new(3, Net::Unreliable, None);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("concurrent append to same key, unreliable");
    ck.put("k", "");
    thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let cfg = &cfg;
                scope.spawn(move || {
                    let mut ck = cfg.make_client(&cfg.all());
                    for j in 0..APPENDS {
                        ck.append("k", &append_value(client, j));
                    }
                })
            })
            .collect();
        clients.into_iter().for_each(join_or_fail);
    });
    check_concurrent_appends(&ck.get("k"), &[APPENDS; CLIENTS]);
    cfg.end();
}

/// A partition with the leader in the minority: the majority makes
/// progress, the minority does not, and the minority's requests complete
/// once the partition heals.
#[test]
fn one_partition() {
    let cfg = Config::new(5, Net::Reliable, None);
    let mut ck = cfg.make_client(&cfg.all());
    ck.put("1", "13");

    cfg.begin("progress in majority");
    let (majority, minority) = cfg.make_partition();
    cfg.partition(&majority, &minority);
    let mut ck_majority = cfg.make_client(&majority);
    let mut ck_minority_put = cfg.make_client(&minority);
    let mut ck_minority_get = cfg.make_client(&minority);
    ck_majority.put("1", "14");
    ck_majority.check("1", "14");
    cfg.end();

    cfg.begin("no progress in minority");
    let minority_ends = [ck_minority_put.ends(), ck_minority_get.ends()];
    let mut put = Detached::spawn(move || ck_minority_put.put("1", "15"));
    let mut get = Detached::spawn(move || {
        ck_minority_get.get("1");
    });
    let deadline = Instant::now() + Duration::from_secs(1);
    for (what, call, causes) in [
        ("Put", &mut put, [REPLY_COMMITTED_OP, WRONG_LEADER]),
        ("Get", &mut get, [READ_THROUGH_LOG, WRONG_LEADER]),
    ] {
        if call.finished_by(deadline) {
            panic!(
                "a {what} in the minority completed: no server of a minority can commit it{}",
                likely_causes(&causes)
            );
        }
    }
    ck_majority.check("1", "14");
    ck_majority.put("1", "16");
    ck_majority.check("1", "16");
    cfg.end();

    cfg.begin("completion after heal");
    cfg.connect_all();
    for ends in &minority_ends {
        cfg.connect_client(ends, &cfg.all());
    }
    thread::sleep(ELECTION_TIMEOUT);
    // MIT waits 3 s for the Put only; the Get must complete as well.
    let deadline = Instant::now() + HEALED_COMPLETION;
    for (what, call) in [("Put", &mut put), ("Get", &mut get)] {
        if !call.finished_by(deadline) {
            panic!("the minority's {what} did not complete within 3 s of healing");
        }
    }
    ck.check("1", "15");
    cfg.end();
}

#[test]
fn many_partitions_one_client() {
    generic_test(GenericTest {
        partitions: true,
        ..GenericTest::default()
    });
}

#[test]
fn many_partitions_many_clients() {
    generic_test(GenericTest {
        clients: 5,
        partitions: true,
        ..GenericTest::default()
    });
}

#[test]
fn persist_one_client() {
    generic_test(GenericTest {
        crash: true,
        ..GenericTest::default()
    });
}

#[test]
fn persist_concurrent() {
    generic_test(GenericTest {
        clients: 5,
        crash: true,
        ..GenericTest::default()
    });
}

#[test]
fn persist_concurrent_unreliable() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        crash: true,
        ..GenericTest::default()
    });
}

#[test]
fn persist_partition() {
    generic_test(GenericTest {
        clients: 5,
        crash: true,
        partitions: true,
        ..GenericTest::default()
    });
}

#[test]
fn persist_partition_unreliable() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        crash: true,
        partitions: true,
        ..GenericTest::default()
    });
}

#[test]
fn persist_partition_unreliable_linearizable() {
    generic_test(GenericTest {
        clients: 15,
        servers: 7,
        net: Net::Unreliable,
        crash: true,
        partitions: true,
        random_keys: true,
        ..GenericTest::default()
    });
}

/// A leader that accepted a request, lost leadership in a minority and had
/// the request's index overwritten by the majority must not report success
/// for it.
#[test]
fn reply_only_to_committed_request() {
    reply_only_to_committed_op();
}
