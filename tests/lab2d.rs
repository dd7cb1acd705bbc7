//! Part 2D: log compaction (snapshots).
//!
//! Ports of the MIT 6.824 2D tests (`TestSnapshotBasic2D` ...
//! `TestSnapshotInit2D`), with their limits, and the 2025 variants of
//! the last two on an unreliable network. The harness's snapshotting
//! applier calls `Raft::snapshot` every `SNAPSHOT_INTERVAL` applied
//! commands.

use harness::rules::{self, likely_causes};
use harness::{random_int, Applier, Config, Net, SNAPSHOT_INTERVAL};
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
