//! Part 3C: Gets that write nothing to the log (ReadIndex, §8 of the
//! extended paper). Puts and Appends go through the log as in 3A; a Get is
//! answered by the leader once a majority has confirmed, after the Get
//! arrived, that it still leads, and its state machine has applied the
//! read index. The `raft_` tests call `Raft::read_index` directly; the
//! scripted KV tests drive the service where each rule matters; the
//! generic ones run 3A's and 3B's scenarios with mostly Gets, every history
//! checked for linearizability.

use std::thread;
use std::time::{Duration, Instant};

use harness::kv::rules::{
    READ_AFTER_APPLY, READ_INDEX_CONFIRMED, READ_INDEX_OWN_TERM, READ_ROUNDS_SHARED,
    READ_WRITES_NOTHING,
};
use harness::kv::{append_value, generic_test, Config, GenericTest, TestClerk};
use harness::rules::likely_causes;
use harness::{join_or_fail, Applier, Config as RaftConfig, Detached, Net, ELECTION_TIMEOUT};

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

/// How long `get_as_the_log_commits` waits for each step of its script
/// before going on without it (followers campaign after about 300 ms
/// without a leader's messages, which the script holds).
const SCRIPT_STEP: Duration = Duration::from_millis(150);

/// Tries at a read on a leader whose term has a committed entry, before
/// the test gives up on `read_index` answering.
const READ_TRIES: usize = 3;

/// Reads asked of one leader at once in `raft_reads_share_rounds`.
const CONCURRENT_READS: usize = 30;

/// How long `raft_reads_share_rounds` holds the leader's messages, well
/// under the half second a read may wait for its round.
const ROUND_HOLD: Duration = Duration::from_millis(200);

/// Commits `cmd` in the current leader's term, then asks that leader for a
/// read index, which must cover the command. Retries if leadership moves
/// meanwhile; fails if a leader of a term with a committed entry keeps
/// answering `None`. Returns the leader and the read index.
#[track_caller]
fn confirmed_read(cfg: &RaftConfig, cmd: u64, voters: usize) -> (usize, u64) {
    let mut last = String::new();
    for _ in 0..READ_TRIES {
        let leader = cfg.check_one_leader();
        let Some((index, term)) = cfg.start(leader, cmd) else {
            continue;
        };
        if cfg.wait(index, voters, Some(term)).is_none() {
            continue;
        }
        match cfg.read_index(leader) {
            Some(read) if read >= index => return (leader, read),
            Some(read) => panic!(
                "S{leader}, leader of term {term}, answered read_index with {read} after \
                 index {index} had committed: a read index is the leader's commit index, \
                 which covers every committed entry{}",
                likely_causes(&[READ_INDEX_CONFIRMED])
            ),
            None if cfg.state(leader) == Some((term, true)) => {
                last = format!(
                    "S{leader} still led term {term} with index {index} of its term \
                     committed, and read_index answered None"
                );
            }
            None => {}
        }
    }
    panic!(
        "no read_index answered in {READ_TRIES} tries: {last}{}",
        likely_causes(&[READ_INDEX_CONFIRMED, READ_INDEX_OWN_TERM])
    )
}

#[test]
fn raft_read_index_needs_a_majority() {
    let servers = 3;
    let cfg = RaftConfig::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("Raft: read_index needs a majority, and only a leader answers");
    let (leader, _) = confirmed_read(&cfg, 101, servers);
    for follower in (0..servers).filter(|&i| i != leader) {
        if let Some(read) = cfg.read_index(follower) {
            panic!(
                "S{follower}, a follower, answered read_index with {read}: only a leader \
                 that a majority confirms may answer{}",
                likely_causes(&[READ_INDEX_CONFIRMED])
            );
        }
    }
    // Cut off, the leader still believes it leads; it must not answer,
    // whether asked at once (its followers acknowledged it a moment ago)
    // or later.
    cfg.disconnect(leader);
    let cut_off = Instant::now();
    while cut_off.elapsed() < MINORITY_WAIT {
        if let Some(read) = cfg.read_index(leader) {
            panic!(
                "S{leader}, cut off from every other peer {} ms before, answered read_index \
                 with {read}: acknowledgements from before a read began confirm nothing{}",
                cut_off.elapsed().as_millis(),
                likely_causes(&[READ_INDEX_CONFIRMED])
            );
        }
    }
    // The others elect a leader, which answers once its term has an entry.
    confirmed_read(&cfg, 102, servers - 1);
    cfg.end();
}

#[test]
fn raft_read_index_waits_for_an_entry_of_its_term() {
    let servers = 3;
    let cfg = RaftConfig::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("Raft: a new leader answers no read before an entry of its term commits");
    let committed = cfg.one(201, servers, false);
    // Whoever leads now has no entry of its term above `committed`; nor
    // will the leader the others elect once it is cut off.
    let old_leader = cfg.check_one_leader();
    cfg.disconnect(old_leader);
    let leader = cfg.check_one_leader();
    let (term, _) = cfg.state(leader).unwrap_or_default();
    if let Some(read) = cfg.read_index(leader).filter(|&read| read <= committed) {
        panic!(
            "S{leader}, new leader of term {term}, answered read_index with {read} before any \
             entry of its term committed (index {committed} had committed under S{old_leader}, \
             and nothing was started since){}",
            likely_causes(&[READ_INDEX_OWN_TERM])
        );
    }
    confirmed_read(&cfg, 202, servers - 1);
    cfg.end();
}

#[test]
fn raft_reads_share_rounds() {
    let servers = 3;
    let cfg = RaftConfig::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("Raft: reads waiting at once share heartbeat rounds");
    let (leader, committed) = confirmed_read(&cfg, 301, servers);
    let followers: Vec<usize> = (0..servers).filter(|&i| i != leader).collect();
    for &f in &followers {
        cfg.hold_link(leader, f, true);
    }
    let (sent, reads) = thread::scope(|scope| {
        let readers: Vec<_> = (0..CONCURRENT_READS)
            .map(|_| scope.spawn(|| cfg.read_index(leader)))
            .collect();
        thread::sleep(ROUND_HOLD);
        let sent: Vec<usize> = followers
            .iter()
            .map(|&f| {
                cfg.hold_link(leader, f, false);
                cfg.held_count(leader, f)
            })
            .collect();
        for &f in &followers {
            cfg.deliver_held(leader, f);
        }
        let reads: Vec<Option<u64>> = readers.into_iter().map(join_or_fail).collect();
        (sent, reads)
    });
    if let Some(other) = reads
        .iter()
        .find(|read| !read.is_some_and(|read| read >= committed))
    {
        panic!(
            "S{leader} led throughout, but a read answered {other:?} (index {committed} had \
             committed){}",
            likely_causes(&[READ_INDEX_CONFIRMED])
        );
    }
    if let Some(&most) = sent
        .iter()
        .max()
        .filter(|&&most| most > CONCURRENT_READS / 2)
    {
        panic!(
            "{CONCURRENT_READS} reads waiting at once made the leader send {most} messages to \
             one follower in {} ms, its replies held: reads that wait together share one \
             round of heartbeats{}",
            ROUND_HOLD.as_millis(),
            likely_causes(&[READ_ROUNDS_SHARED])
        );
    }
    cfg.end();
}

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
        let (how, read) = if change % 2 == 0 {
            let Some(leader) = cfg.leader() else {
                panic!("no leader after {APPENDS_PER_CHANGE} Appends committed")
            };
            cfg.disconnect(leader, &cfg.all());
            ("the leader was cut off", ck.get("k"))
        } else {
            cfg.restart_all();
            let (read, clerk) = get_as_the_log_commits(&cfg, ck);
            ck = clerk;
            ("every server restarted", read)
        };
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

/// A Get of "k" on a cluster that has just restarted, so that nothing is
/// known committed, scripted so that the one reply that commits the log
/// also confirms the Get's round: the new leader's messages to its
/// followers are held from before the Get until the Get's no-op is saved
/// and one more message has followed it, then the newest is delivered
/// first. The leader must then apply its whole log before it answers. A
/// step that does not come within [`SCRIPT_STEP`] is skipped: the Get
/// still completes, just without that timing.
fn get_as_the_log_commits(cfg: &Config, mut ck: TestClerk) -> (String, TestClerk) {
    let mut leader = None;
    poll_until(5 * ELECTION_TIMEOUT, || {
        leader = cfg.leader();
        leader.is_some()
    });
    let Some(leader) = leader else {
        panic!(
            "no leader within {:?} of every server restarting",
            5 * ELECTION_TIMEOUT
        )
    };
    let followers: Vec<usize> = cfg.all().into_iter().filter(|&i| i != leader).collect();
    for &f in &followers {
        cfg.hold_link(leader, f, true);
    }
    let unsaved_size = cfg.log_sizes()[leader];
    let get = thread::spawn(move || (ck.get("k"), ck));
    let saved_noop = || cfg.log_sizes()[leader] > unsaved_size;
    if poll_until(SCRIPT_STEP, saved_noop) {
        let held: Vec<usize> = followers
            .iter()
            .map(|&f| cfg.held_count(leader, f))
            .collect();
        poll_until(SCRIPT_STEP, || {
            followers
                .iter()
                .zip(&held)
                .all(|(&f, &before)| cfg.held_count(leader, f) > before)
        });
    }
    for &f in &followers {
        cfg.hold_link(leader, f, false);
        cfg.deliver_held_newest_first(leader, f);
    }
    join_or_fail(get)
}

/// Waits up to `within` for `done`; whether it came.
fn poll_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
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
