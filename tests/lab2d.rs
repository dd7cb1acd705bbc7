//! Part 2D: log compaction (snapshots).
//!
//! Ports of the MIT 6.824 2D tests (`TestSnapshotBasic2D` ...
//! `TestSnapshotInit2D`), with their limits, and the 2025 variants of
//! the last two on an unreliable network, and tests of snapshots sent in
//! chunks (Figure 13). The harness's snapshotting applier calls
//! `Raft::snapshot` every `SNAPSHOT_INTERVAL` applied commands, with a
//! snapshot that holds every command applied so far.

use std::time::{Duration, Instant};

use harness::rules::{self, likely_causes};
use harness::{random_int, Applier, Cmd, Config, Net, SNAPSHOT_INTERVAL};
use rand::Rng;

/// The persisted Raft state must stay below this many bytes (MIT's
/// `MAXLOGSIZE`): Raft must trim its log at each snapshot.
const MAX_LOG_SIZE: usize = 2000;

#[test]
fn snapshot_basic() {
    snap_common("snapshots basic", Net::Reliable, Victim::StaysUp);
}

#[test]
fn snapshot_install() {
    snap_common(
        "install snapshots (disconnect)",
        Net::Reliable,
        Victim::Disconnected,
    );
}

#[test]
fn snapshot_install_unreliable() {
    snap_common(
        "install snapshots (disconnect+unreliable)",
        Net::Unreliable,
        Victim::Disconnected,
    );
}

#[test]
fn snapshot_install_crash() {
    snap_common("install snapshots (crash)", Net::Reliable, Victim::Crashed);
}

#[test]
fn snapshot_install_unreliable_crash() {
    snap_common(
        "install snapshots (unreliable+crash)",
        Net::Unreliable,
        Victim::Crashed,
    );
}

#[test]
fn snapshot_all_crash() {
    all_crash("crash and restart all servers", Net::Reliable);
}

#[test]
fn snapshot_all_crash_unreliable() {
    all_crash(
        "crash and restart all servers (unreliable)",
        Net::Unreliable,
    );
}

#[test]
fn snapshot_init() {
    init_after_crash("snapshot initialization after crash", Net::Reliable);
}

#[test]
fn snapshot_init_unreliable() {
    init_after_crash(
        "snapshot initialization after crash (unreliable)",
        Net::Unreliable,
    );
}

/// MIT's SnapshotAllCrash: rounds of enough commands for a snapshot, then
/// every peer restarts; indices must keep growing.
fn all_crash(desc: &str, net: Net) {
    let servers = 3;
    let cfg = Config::new(servers, net, Applier::Snapshotting);
    cfg.begin(desc);

    cfg.one(random_int(), servers, true);
    for _ in 0..5 {
        // Perhaps enough to get a snapshot.
        for _ in 0..commands_for_a_snapshot() {
            cfg.one(random_int(), servers, true);
        }
        let index1 = cfg.one(random_int(), servers, true);

        restart_all(&cfg);

        let index2 = cfg.one(random_int(), servers, true);
        assert!(
            index2 > index1,
            "index decreased from {index1} to {index2}: after a restart of every peer, a new \
             command must go after every entry committed before (the snapshot and the log after \
             it must both survive){}",
            likely_causes(&[
                rules::SNAPSHOT_SAVE,
                rules::SNAPSHOT_RESTORE,
                rules::PERSIST_LOG
            ])
        );
    }

    cfg.end();
}

/// MIT's SnapshotInit: a snapshot, a restart of every peer, one command
/// (so each persists again after loading its snapshot), another restart.
fn init_after_crash(desc: &str, net: Net) {
    let servers = 3;
    let cfg = Config::new(servers, net, Applier::Snapshotting);
    cfg.begin(desc);

    cfg.one(random_int(), servers, true);
    // Enough commands for a snapshot.
    for _ in 0..=SNAPSHOT_INTERVAL {
        cfg.one(random_int(), servers, true);
    }

    restart_all(&cfg);
    // One command, so every peer persists again after loading its snapshot.
    cfg.one(random_int(), servers, true);

    restart_all(&cfg);
    // A peer that forgot its snapshot when it persisted fails here.
    cfg.one(random_int(), servers, true);

    cfg.end();
}

#[test]
fn snapshot_crash_right_after() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Snapshotting);
    cfg.begin("every peer crashes right after its snapshot");

    // Commit up to an index where every peer snapshots, and start nothing
    // after it: what a peer saves with its snapshot is the last thing it
    // saves before the crash, so that save alone must hold the trimmed log.
    let mut index = cfg.one(random_int(), servers, true);
    while !index.is_multiple_of(SNAPSHOT_INTERVAL) {
        index = cfg.one(random_int(), servers, true);
    }
    let began = Instant::now();
    while let Some(peer) = (0..servers).find(|&i| cfg.saved_snapshot_index(i) != Some(index)) {
        if began.elapsed() > Duration::from_secs(5) {
            panic!(
                "S{peer} saved no snapshot through {index} within 5 s of the service's \
                 Raft::snapshot({index}, ..){}",
                likely_causes(&[rules::SNAPSHOT_SAVE])
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    restart_all(&cfg);
    let after = cfg.one(random_int(), servers, true);
    assert!(
        after > index,
        "after a restart right after the snapshot through {index}, a new command went to \
         index {after}{}",
        likely_causes(&[rules::SNAPSHOT_SAVE, rules::SNAPSHOT_RESTORE])
    );
    cfg.end();
}

/// What happens to the peer that falls behind in a [`snap_common`] round.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Victim {
    /// Nothing: every peer keeps up, so no InstallSnapshot is needed.
    StaysUp,
    /// Disconnected for the round: it must catch up by InstallSnapshot.
    Disconnected,
    /// Crashed for the round: it restarts from its snapshot, then catches
    /// up.
    Crashed,
}

/// MIT's `snapcommon`: 30 rounds in which one peer (the leader's successor,
/// or the leader itself every third round) misses a batch of commands
/// large enough for snapshots, then catches up. The persisted Raft state
/// must stay below [`MAX_LOG_SIZE`] throughout.
fn snap_common(desc: &str, net: Net, victim_fault: Victim) {
    let servers = 3;
    let cfg = Config::new(servers, net, Applier::Snapshotting);
    cfg.begin(desc);

    cfg.one(random_int(), servers, true);
    let mut leader1 = cfg.check_one_leader();

    for round in 0..30 {
        let (sender, victim) = if round % 3 == 1 {
            ((leader1 + 1) % servers, leader1)
        } else {
            (leader1, (leader1 + 1) % servers)
        };

        match victim_fault {
            Victim::StaysUp => {}
            Victim::Disconnected => cfg.disconnect(victim),
            Victim::Crashed => cfg.crash1(victim),
        }
        if victim_fault != Victim::StaysUp {
            cfg.one(random_int(), servers - 1, true);
        }

        // Perhaps enough to get a snapshot.
        for _ in 0..commands_for_a_snapshot() {
            cfg.start(sender, random_int());
        }

        // Let the appliers catch up with the starts. With every peer up,
        // wait for all, so that no InstallSnapshot is needed.
        let expected = match victim_fault {
            Victim::StaysUp => servers,
            _ => servers - 1,
        };
        cfg.one(random_int(), expected, true);

        let size = cfg.log_size();
        assert!(
            size < MAX_LOG_SIZE,
            "Log size too large: a peer's persisted Raft state is {size} bytes, the limit is \
             {MAX_LOG_SIZE}: Raft::snapshot(index, ..) must discard the log up to index{}",
            likely_causes(&[rules::SNAPSHOT_SAVE, rules::INSTALL_SNAPSHOT])
        );

        if victim_fault != Victim::StaysUp {
            // The victim may be behind the leader's log start and need a
            // snapshot to catch up.
            if victim_fault == Victim::Crashed {
                cfg.start1(victim);
            }
            cfg.connect(victim);
            cfg.one(random_int(), servers, true);
            leader1 = cfg.check_one_leader();
        }
    }

    cfg.end();
}

#[test]
fn snapshot_chunks_unreliable() {
    let chunk = 64 * 1024;
    let (cfg, lag) = lagging(
        "a 1 MiB snapshot in 64 KiB chunks (unreliable, long reordering)",
        chunk,
        MIB,
    );
    cfg.set_unreliable(true);
    cfg.set_long_reordering(true);
    cfg.restart(lag.victim);
    // A new snapshot while the first is on its way: the transfer starts
    // again, and replies about the old one still arrive.
    start_a_snapshot_interval(&cfg, lag.leader);
    catch_up(&cfg, &lag, Duration::from_secs(60));
    check_chunk_limit(&cfg, chunk);
    cfg.end();
}

#[test]
fn snapshot_chunk_size() {
    let chunk = 4096;
    let (cfg, lag) = lagging("a 256 KiB snapshot in 4 KiB chunks", chunk, MIB / 4);
    cfg.restart(lag.victim);
    catch_up(&cfg, &lag, Duration::from_secs(20));
    check_chunk_limit(&cfg, chunk);
    cfg.end();
}

#[test]
fn snapshot_crash_mid_transfer() {
    let (cfg, lag) = lagging(
        "a follower crashes halfway through a snapshot",
        4096,
        MIB / 4,
    );
    part_way(&cfg, &lag);
    // What it saved must not be a partial snapshot: the restart delivers
    // whatever snapshot it saved, and the tester checks it.
    cfg.crash1(lag.victim);
    hold_into(&cfg, lag.victim, false);
    cfg.restart(lag.victim);
    catch_up(&cfg, &lag, Duration::from_secs(20));
    cfg.end();
}

#[test]
fn snapshot_leader_change_mid_transfer() {
    let (cfg, lag) = lagging(
        "the leader changes halfway through a snapshot",
        4096,
        MIB / 4,
    );
    part_way(&cfg, &lag);
    let old = cfg.check_one_leader();
    cfg.disconnect(old);
    // The new leader can only be the third peer (the follower's log is
    // behind); its snapshot moves on, so its bytes differ from the old one's.
    let third = 3 - old - lag.victim;
    cfg.hold_link(third, lag.victim, false);
    cfg.deliver_held(third, lag.victim);
    cfg.wait_leader_among(&[third]);
    start_a_snapshot_interval(&cfg, third);
    let index = cfg.one(random_int(), 2, true);
    catch_up(&cfg, &Lag { index, ..lag }, Duration::from_secs(20));
    // The old leader's held chunks, of an older term, arrive last.
    cfg.hold_link(old, lag.victim, false);
    cfg.deliver_held(old, lag.victim);
    cfg.connect(old);
    cfg.one(random_int(), 3, true);
    cfg.end();
}

#[test]
fn snapshot_stale_chunk() {
    let (cfg, lag) = lagging(
        "a chunk of an older snapshot arrives after the newer one began",
        4096,
        MIB / 4,
    );
    hold_into(&cfg, lag.victim, true);
    cfg.start1(lag.victim);
    cfg.connect(lag.victim);
    await_held(&cfg, lag.victim, 1);
    // The leader's snapshot moves on; whatever it sends from now on is the
    // first chunk of the new one.
    start_a_snapshot_interval(&cfg, lag.leader);
    let index = cfg.one(random_int(), 2, true);
    await_held(&cfg, lag.victim, held_into(&cfg, lag.victim) + 1);
    // Newest first: the new snapshot's first chunk, then the old one's.
    deliver_into(&cfg, lag.victim, Config::deliver_held_newest_first);
    hold_into(&cfg, lag.victim, false);
    deliver_into(&cfg, lag.victim, Config::deliver_held);
    catch_up(&cfg, &Lag { index, ..lag }, Duration::from_secs(20));
    cfg.end();
}

#[test]
fn snapshot_arrives_after_the_follower_passed_it() {
    let (cfg, lag) = lagging(
        "a whole snapshot the follower has already passed arrives late",
        MIB,
        MIB / 16,
    );
    hold_into(&cfg, lag.victim, true);
    cfg.restart(lag.victim);
    // Let the requests through, one round at a time, until the leader
    // sends the snapshot; take that one off the network.
    let deadline = Instant::now() + Duration::from_secs(10);
    let late = loop {
        assert!(
            Instant::now() < deadline,
            "the leader S{} sent no InstallSnapshot for 10 s to S{}, which lags behind its \
             snapshot{}",
            lag.leader,
            lag.victim,
            likely_causes(&[rules::INSTALL_SNAPSHOT])
        );
        await_held(&cfg, lag.victim, 1);
        let taken = cfg.take_held(lag.leader, lag.victim);
        if taken
            .requests()
            .any(|(method, _)| method == raft_messages::INSTALL_SNAPSHOT)
        {
            break taken;
        }
        cfg.deliver_taken(lag.leader, lag.victim, taken);
        deliver_into(&cfg, lag.victim, Config::deliver_held);
    };
    hold_into(&cfg, lag.victim, false);
    deliver_into(&cfg, lag.victim, Config::deliver_held);
    // It installs a resent copy and commits past it; then the first copy
    // arrives, and must change nothing.
    catch_up(&cfg, &lag, Duration::from_secs(20));
    cfg.deliver_taken(lag.leader, lag.victim, late);
    cfg.one(random_int(), 3, true);
    cfg.end();
}

#[test]
fn snapshot_of_an_entry_from_an_earlier_term() {
    let cfg = Config::new(5, Net::Reliable, Applier::Snapshotting);
    cfg.begin("a snapshot ends at an entry of an earlier term than the current one");
    for _ in 1..SNAPSHOT_INTERVAL {
        cfg.one(random_int(), 5, true);
    }
    // The entry a snapshot will end at reaches one follower, `heir`, in
    // the first leader's term, and no majority: it commits only once
    // `heir` leads a later term (the two others it can reach are behind
    // it, so only it can win).
    let old = cfg.check_one_leader();
    let [heir, behind, also_behind, away] = [1, 2, 3, 4].map(|k| (old + k) % 5);
    for i in [behind, also_behind, away] {
        cfg.disconnect(i);
    }
    cfg.hold_link(old, heir, true);
    cfg.start(old, random_int());
    deliver_until_entry(&cfg, old, heir, SNAPSHOT_INTERVAL);
    cfg.disconnect(old);
    cfg.hold_link(old, heir, false);
    cfg.connect(behind);
    cfg.connect(also_behind);
    cfg.one(random_int(), 3, true);
    cfg.connect(old);
    cfg.connect(away);
    cfg.one(random_int(), 5, true);
    // The peers that applied the entry snapshotted at it; each restarts
    // from its snapshot, which must name the entry's own term.
    for i in 0..5 {
        cfg.restart(i);
        cfg.one(random_int(), 5, true);
    }
    cfg.end();
}

/// Delivers the requests held from `from` to `to`, one round at a time,
/// until one carries the entry at `index`.
fn deliver_until_entry(cfg: &Config, from: usize, to: usize, index: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(
            Instant::now() < deadline,
            "S{from} sent S{to} no AppendEntries with entry {index} for 5 s after start(){}",
            likely_causes(&[rules::REPLICATION])
        );
        if cfg.held_count(from, to) == 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let taken = cfg.take_held(from, to);
        let carries = taken.requests().any(|(method, bytes)| {
            method == raft_messages::APPEND_ENTRIES
                && postcard::from_bytes::<raft_messages::AppendEntriesArgs>(bytes)
                    .is_ok_and(|args| args.prev_log_index + (args.entries.len() as u64) >= index)
        });
        cfg.deliver_taken(from, to, taken);
        if carries {
            return;
        }
    }
}

const MIB: usize = 1 << 20;

/// Characters in each command of the chunk tests: the snapshot, which holds
/// every command applied, grows by about this much per command.
const BIG_COMMAND: usize = 4000;

/// What an InstallSnapshot may carry besides its chunk of data: terms,
/// indices, offset, flags.
const CHUNK_HEADER: usize = 512;

/// A follower behind the leader's snapshot.
#[derive(Clone, Copy)]
struct Lag {
    /// The leader while the follower was down.
    leader: usize,
    victim: usize,
    /// The last index the others committed while it was down.
    index: u64,
}

/// Starts a test `desc` of 3 peers that send snapshots in chunks of
/// `chunk` bytes, with a follower behind a snapshot of at least `bytes`
/// (see [`fall_behind`]).
#[track_caller]
fn lagging(desc: &str, chunk: usize, bytes: usize) -> (Config, Lag) {
    let cfg = Config::with_snapshot_chunk(3, Net::Reliable, Applier::Snapshotting, chunk);
    cfg.begin(desc);
    let lag = fall_behind(&cfg, bytes);
    (cfg, lag)
}

/// Starts enough commands on `leader` for its snapshot to move on.
fn start_a_snapshot_interval(cfg: &Config, leader: usize) {
    for _ in 0..=SNAPSHOT_INTERVAL {
        cfg.start(leader, random_int());
    }
}

/// Crashes a follower while the others commit commands of [`BIG_COMMAND`]
/// characters, until the leader's snapshot holds at least `bytes`. Down,
/// not cut off: a cut-off follower would campaign in ever higher terms,
/// and its first reply after it rejoins would depose the leader.
fn fall_behind(cfg: &Config, bytes: usize) -> Lag {
    cfg.one(random_int(), 3, true);
    let leader = cfg.check_one_leader();
    let victim = (leader + 1) % 3;
    cfg.crash1(victim);
    let text = "s".repeat(BIG_COMMAND);
    for _ in 0..bytes / BIG_COMMAND + SNAPSHOT_INTERVAL as usize {
        cfg.start(leader, Cmd::Text(text.clone()));
    }
    let index = cfg.one(random_int(), 2, true);
    let size = cfg.snapshot_size(leader);
    assert!(
        size >= bytes,
        "the leader S{leader} saved a snapshot of {size} bytes after index {index}, but the \
         tester asked Raft::snapshot to save one of at least {bytes}{}",
        likely_causes(&[rules::SNAPSHOT_SAVE])
    );
    Lag {
        leader,
        victim,
        index,
    }
}

/// The peers other than `victim`.
fn others(cfg: &Config, victim: usize) -> impl Iterator<Item = usize> {
    (0..cfg.n()).filter(move |&i| i != victim)
}

/// Holds every other peer's requests to `victim`, or stops holding them.
fn hold_into(cfg: &Config, victim: usize, on: bool) {
    for from in others(cfg, victim) {
        cfg.hold_link(from, victim, on);
    }
}

/// Delivers every other peer's held requests to `victim` with `deliver`
/// (one of [`Config::deliver_held`] and its newest-first twin).
fn deliver_into(cfg: &Config, victim: usize, deliver: fn(&Config, usize, usize) -> usize) {
    for from in others(cfg, victim) {
        deliver(cfg, from, victim);
    }
}

/// How many requests to `victim` are held.
fn held_into(cfg: &Config, victim: usize) -> usize {
    others(cfg, victim)
        .map(|from| cfg.held_count(from, victim))
        .sum()
}

/// Restarts the follower with the requests to it held, and lets a few of
/// them through, one round at a time: the follower has some chunks of the
/// snapshot, not all.
fn part_way(cfg: &Config, lag: &Lag) {
    hold_into(cfg, lag.victim, true);
    cfg.restart(lag.victim);
    for _ in 0..4 {
        await_held(cfg, lag.victim, 1);
        deliver_into(cfg, lag.victim, Config::deliver_held);
    }
    let applied = cfg.applied_through(lag.victim);
    assert!(
        applied < lag.index,
        "S{} applied through {applied} from a few chunks of a {} byte snapshot through {}: a \
         snapshot must be applied only once its last chunk arrives{}",
        lag.victim,
        cfg.snapshot_size(lag.leader),
        lag.index,
        likely_causes(&[rules::SNAPSHOT_CHUNKS])
    );
}

/// Waits until at least `count` requests to `victim` are held.
fn await_held(cfg: &Config, victim: usize, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while held_into(cfg, victim) < count {
        assert!(
            Instant::now() < deadline,
            "no peer sent S{victim} anything for 5 s while it lagged behind the leader's \
             snapshot{}",
            likely_causes(&[rules::INSTALL_SNAPSHOT, rules::HEARTBEATS])
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits, at most `within`, until the follower has applied through the
/// lag's index (by installing the snapshot), then commits one more command
/// on every connected peer.
fn catch_up(cfg: &Config, lag: &Lag, within: Duration) {
    let deadline = Instant::now() + within;
    while cfg.applied_through(lag.victim) < lag.index {
        assert!(
            Instant::now() < deadline,
            "S{} applied only through {} in {} s after it came back: it never installed the \
             {} byte snapshot through {}{}",
            lag.victim,
            cfg.applied_through(lag.victim),
            within.as_secs(),
            cfg.snapshot_size(lag.leader),
            lag.index,
            likely_causes(&[rules::INSTALL_SNAPSHOT, rules::SNAPSHOT_CHUNKS])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let connected = (0..cfg.n()).filter(|&i| cfg.is_connected(i)).count();
    cfg.one(random_int(), connected, true);
}

/// Fails unless some InstallSnapshot was sent, and none carried more than
/// a chunk of `chunk` bytes and its header.
fn check_chunk_limit(cfg: &Config, chunk: usize) {
    let largest = cfg.largest_snapshot_message();
    assert!(
        largest > 0,
        "no InstallSnapshot RPC was carried, yet a follower behind the snapshot caught up: \
         register the handler as \"InstallSnapshot\" in the \"Raft\" service{}",
        likely_causes(&[rules::INSTALL_SNAPSHOT])
    );
    assert!(
        largest <= chunk + CHUNK_HEADER,
        "an InstallSnapshot message was {largest} bytes, but the chunk size was {chunk}: \
         send the snapshot in chunks of at most raft::snapshot_chunk_size() bytes (a chunk \
         and its header may take {} bytes){}",
        chunk + CHUNK_HEADER,
        likely_causes(&[rules::SNAPSHOT_CHUNKS])
    );
}

/// A batch size (5 to 14) that may or may not cross a snapshot point.
fn commands_for_a_snapshot() -> u64 {
    SNAPSHOT_INTERVAL / 2 + rand::rng().random_range(0..SNAPSHOT_INTERVAL)
}

/// Crashes every peer, then restarts and connects them all.
fn restart_all(cfg: &Config) {
    for i in 0..cfg.n() {
        cfg.crash1(i);
    }
    for i in 0..cfg.n() {
        cfg.start1(i);
        cfg.connect(i);
    }
}
