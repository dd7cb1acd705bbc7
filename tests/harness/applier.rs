//! The appliers: one thread per peer reads that peer's `apply_ch` and
//! checks every message against what every peer applied before it. A
//! violation is recorded, not raised here: the next harness call of the
//! test raises it, so one bad test never aborts the whole run.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::judged::{ApplyEvent, Judged};
use crate::protocol::{Applied, ToPeer};

use crate::rules::{self, likely_causes};
use crate::Cmd;

/// The rules whose violation makes peers apply different commands at one
/// index.
const DIVERGENCE_CAUSES: [rules::Rule; 9] = [
    rules::UP_TO_DATE_VOTE,
    rules::COMMIT_CURRENT_TERM,
    rules::KEEP_MATCHING_ENTRIES,
    rules::CONSISTENCY_CHECK,
    rules::REFUSE_STALE_TERM,
    rules::FOLLOWER_COMMIT,
    rules::APPLY_IN_ORDER,
    rules::PERSIST_LOG,
    rules::VOTE_ONCE,
];

/// A `Raft::snapshot` call that has not returned after this long is taken
/// for a deadlock: the apply channel is a rendezvous channel, so a peer
/// that sends on it while holding its lock blocks the applier, which
/// waits for that lock inside `Raft::snapshot`.
const SNAPSHOT_PATIENCE: Duration = Duration::from_secs(3);

/// The snapshotting applier calls `Raft::snapshot` at every index that is
/// a multiple of this (MIT's `SnapShotInterval`).
pub const SNAPSHOT_INTERVAL: u64 = 10;

/// What the snapshotting applier hands to `Raft::snapshot`: every command
/// applied up to `last_included`, so a peer restored from it knows the
/// whole log, as a KV server restored from its snapshot knows the store.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    last_included: u64,
    /// `log[k]` is the command at index `k + 1`.
    log: Vec<Cmd>,
}

/// The index a snapshot that the harness's applier made runs
/// through, or `None` for bytes that are no such snapshot.
pub(crate) fn snapshot_index(data: &[u8]) -> Option<u64> {
    postcard::from_bytes::<SnapshotData>(data)
        .ok()
        .map(|snapshot| snapshot.last_included)
}

/// What every peer has applied: the state the appliers check against and
/// the checks (`n_committed`, `one`, `wait`) read.
pub(crate) struct AppliedLogs {
    peers: Vec<PeerLog>,
    /// The highest index any peer applied (the `cmds` of the Passed line).
    max_index: u64,
    /// The first violation any applier saw, raised by the next check.
    violation: Option<String>,
    /// When each peer's applier entered a `Raft::snapshot` call that has
    /// not returned yet.
    in_snapshot: Vec<Option<Instant>>,
}

#[derive(Default)]
struct PeerLog {
    /// `entries[k]` is the command this peer applied at index `k`. Kept
    /// across restarts, like MIT's, so a restarted peer that applies a
    /// different command at an index it applied before is caught.
    entries: Vec<Option<Cmd>>,
    /// The index the current instance applied last (its snapshot's index
    /// right after a restart from a snapshot).
    last_applied: u64,
}

impl PeerLog {
    fn get(&self, index: u64) -> Option<&Cmd> {
        self.entries.get(index as usize)?.as_ref()
    }

    fn put(&mut self, index: u64, cmd: Cmd) {
        let at = index as usize;
        if self.entries.len() <= at {
            self.entries.resize(at + 1, None);
        }
        self.entries[at] = Some(cmd);
    }
}

impl AppliedLogs {
    pub(crate) fn new(peers: usize) -> AppliedLogs {
        AppliedLogs {
            peers: (0..peers).map(|_| PeerLog::default()).collect(),
            max_index: 0,
            violation: None,
            in_snapshot: vec![None; peers],
        }
    }

    /// The first violation an applier saw, or a `Raft::snapshot` call stuck
    /// for longer than [`SNAPSHOT_PATIENCE`].
    pub(crate) fn violation(&self) -> Option<String> {
        if let Some(violation) = &self.violation {
            return Some(violation.clone());
        }
        let (peer, since) = self
            .in_snapshot
            .iter()
            .enumerate()
            .find_map(|(peer, since)| Some((peer, (*since)?)))?;
        (since.elapsed() > SNAPSHOT_PATIENCE).then(|| {
            format!(
                "S{peer}'s Raft::snapshot, called by the tester's applier, has not returned \
                 for {} s: does the peer hold its lock while it sends on apply_ch? (The \
                 tests' apply_ch has no buffer, as in MIT's labs: each send waits for the \
                 applier, which is waiting for the lock.){}",
                since.elapsed().as_secs(),
                likely_causes(&[rules::NO_LOCK_WHILE_APPLYING])
            )
        })
    }

    /// Keeps `violation` unless an earlier one is kept: the first is the
    /// one worth reading.
    fn record_violation(&mut self, violation: String) {
        self.violation.get_or_insert(violation);
    }

    pub(crate) fn last_applied(&self, peer: usize) -> u64 {
        self.peers[peer].last_applied
    }

    /// The highest index at which `peer` applied `cmd`, if it did.
    pub(crate) fn applied_index_of(&self, peer: usize, cmd: &Cmd) -> Option<u64> {
        let entries = &self.peers[peer].entries;
        let at = entries
            .iter()
            .rposition(|entry| entry.as_ref() == Some(cmd))?;
        Some(at as u64)
    }

    pub(crate) fn max_index(&self) -> u64 {
        self.max_index
    }

    /// A new instance of `peer` starts: it has applied nothing yet, unless
    /// its persister holds a snapshot, which the harness restores first as
    /// a KV server would.
    pub(crate) fn restart(&mut self, peer: usize, saved_snapshot: &[u8]) -> Result<(), String> {
        self.peers[peer].last_applied = 0;
        if saved_snapshot.is_empty() {
            return Ok(());
        }
        self.install(peer, None, saved_snapshot, "saved in its Persister")
    }

    /// How many peers applied `index`, and the command they applied.
    pub(crate) fn committed(&self, index: u64) -> Result<(usize, Option<Cmd>), String> {
        let mut count = 0;
        let mut first: Option<(usize, &Cmd)> = None;
        for (peer, log) in self.peers.iter().enumerate() {
            let Some(cmd) = log.get(index) else { continue };
            if let Some((other, seen)) = first {
                if seen != cmd {
                    return Err(format!(
                        "committed values do not match at index {index}: \
                         S{other} applied {seen}, S{peer} applied {cmd}{}",
                        likely_causes(&DIVERGENCE_CAUSES)
                    ));
                }
            }
            count += 1;
            first.get_or_insert((peer, cmd));
        }
        Ok((count, first.map(|(_, cmd)| cmd.clone())))
    }

    fn apply_command(&mut self, peer: usize, index: u64, bytes: &[u8]) -> Result<(), String> {
        let Some(cmd) = Cmd::decode(bytes) else {
            return Err(format!(
                "S{peer} applied index {index} with bytes {bytes:?}, which no test submitted: \
                 an ApplyMsg::Command must carry the bytes given to Raft::start"
            ));
        };
        self.apply_entry(peer, index, cmd)
    }

    /// Takes in `peer`'s entry `cmd` (a command, or a configuration) at
    /// `index`: the next index it must apply, and what the others applied.
    fn apply_entry(&mut self, peer: usize, index: u64, cmd: Cmd) -> Result<(), String> {
        let last = self.peers[peer].last_applied;
        if index <= last {
            return Err(format!(
                "S{peer} applied index {index} after it had applied up to index {last}: \
                 apply_ch must deliver each index once, in increasing order{}",
                likely_causes(&[
                    rules::APPLY_IN_ORDER,
                    rules::SNAPSHOT_RESTORE,
                    rules::SNAPSHOT_SAVE
                ])
            ));
        }
        if index > last + 1 {
            return Err(format!(
                "S{peer} applied index {index} right after index {last}, skipping {}: \
                 apply_ch must deliver every index in order, without gaps{}",
                if index == last + 2 {
                    format!("index {}", last + 1)
                } else {
                    format!("indices {}..={}", last + 1, index - 1)
                },
                likely_causes(&[rules::APPLY_IN_ORDER, rules::INSTALL_SNAPSHOT])
            ));
        }
        self.agree(peer, index, &cmd)?;
        self.record(peer, index, cmd);
        Ok(())
    }

    fn apply_snapshot(&mut self, peer: usize, index: u64, data: &[u8]) -> Result<(), String> {
        let last = self.peers[peer].last_applied;
        if index < last {
            return Err(format!(
                "S{peer} delivered a snapshot up to index {index} after it had applied up to \
                 index {last}: apply_ch went backwards (never deliver a snapshot older than \
                 what was applied){}",
                likely_causes(&[
                    rules::INSTALL_SNAPSHOT,
                    rules::SNAPSHOT_SAVE,
                    rules::SNAPSHOT_RESTORE,
                    rules::APPLY_IN_ORDER
                ])
            ));
        }
        self.install(peer, Some(index), data, "delivered on apply_ch")
    }

    /// Restores `peer`'s applied log from a snapshot the snapshotting
    /// applier made, checking it against every peer's applied commands.
    fn install(
        &mut self,
        peer: usize,
        claimed_index: Option<u64>,
        data: &[u8],
        source: &str,
    ) -> Result<(), String> {
        let snapshot: SnapshotData = postcard::from_bytes(data)
            .ok()
            .filter(|s: &SnapshotData| s.log.len() as u64 == s.last_included)
            .ok_or_else(|| {
                format!(
                    "S{peer}: the snapshot {source} ({} bytes) is not one the tester made: \
                     Raft must keep and return exactly the bytes given to Raft::snapshot{}",
                    data.len(),
                    likely_causes(&[
                        rules::SNAPSHOT_SAVE,
                        rules::INSTALL_SNAPSHOT,
                        rules::SNAPSHOT_CHUNKS
                    ])
                )
            })?;
        if let Some(index) = claimed_index.filter(|&i| i != snapshot.last_included) {
            return Err(format!(
                "S{peer} delivered a snapshot with index {index}, but that snapshot holds the \
                 commands up to index {}: ApplyMsg::Snapshot must carry the index that was \
                 given to Raft::snapshot with those bytes{}",
                snapshot.last_included,
                likely_causes(&[rules::INSTALL_SNAPSHOT, rules::SNAPSHOT_SAVE])
            ));
        }
        for (at, cmd) in (1..).zip(&snapshot.log) {
            self.agree(peer, at, cmd)?;
        }
        for (at, cmd) in (1..).zip(snapshot.log) {
            self.record(peer, at, cmd);
        }
        self.peers[peer].last_applied = snapshot.last_included;
        Ok(())
    }

    /// Checks that no peer (`peer` itself included, before a restart)
    /// applied a different command at `index`.
    fn agree(&self, peer: usize, index: u64, cmd: &Cmd) -> Result<(), String> {
        for (other, log) in self.peers.iter().enumerate() {
            match log.get(index) {
                Some(seen) if seen != cmd => {
                    let who = if other == peer {
                        format!("S{peer} itself had applied {seen} there before")
                    } else {
                        format!("S{other} applied {seen} there")
                    };
                    return Err(format!(
                        "S{peer} applied {cmd} at index {index}, but {who}: a committed entry \
                         must be the same on every peer{}",
                        likely_causes(&DIVERGENCE_CAUSES)
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn record(&mut self, peer: usize, index: u64, cmd: Cmd) {
        let log = &mut self.peers[peer];
        log.put(index, cmd);
        log.last_applied = index;
        self.max_index = self.max_index.max(index);
    }

    /// The snapshot of `peer`'s state after applying `index`.
    fn snapshot_of(&self, peer: usize, index: u64) -> Vec<u8> {
        let log = (1..=index)
            .map(|at| {
                self.peers[peer]
                    .get(at)
                    .cloned()
                    .expect("a peer's applied log has no gaps up to its last applied index")
            })
            .collect();
        let snapshot = SnapshotData {
            last_included: index,
            log,
        };
        postcard::to_allocvec(&snapshot).expect("a snapshot always encodes")
    }
}

/// The thread that checks what one instance applied, as its process
/// hands the messages over, one at a time.
pub(crate) struct ApplierThread {
    /// Dropping it tells the thread the instance was killed.
    stop: Sender<()>,
    /// Disconnects when the thread has exited.
    exited: Receiver<()>,
}

impl ApplierThread {
    /// Starts checking what the instance of `peer` in `process` applies,
    /// as `events` brings it. With `snapshots`, it also has the peer call
    /// `Raft::snapshot` every [`SNAPSHOT_INTERVAL`] indices.
    pub(crate) fn spawn(
        peer: usize,
        process: Arc<Judged>,
        events: Receiver<ApplyEvent>,
        logs: Arc<Mutex<AppliedLogs>>,
        snapshots: bool,
    ) -> ApplierThread {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let (exit_signal, exited) = crossbeam_channel::bounded::<()>(0);
        thread::Builder::new()
            .name(format!("applier-S{peer}"))
            .spawn(move || {
                let _exit_signal = exit_signal;
                let applier = Applier {
                    peer,
                    process,
                    logs,
                    snapshots,
                };
                loop {
                    crossbeam_channel::select! {
                        recv(events) -> event => match event {
                            Ok(event) => applier.handle(event, true),
                            Err(_) => break,
                        },
                        recv(stopped) -> _ => {
                            // Killed: check what it applied before, make no
                            // more snapshots.
                            for event in events.try_iter() {
                                applier.handle(event, false);
                            }
                            break;
                        }
                    }
                }
                applier.logs.lock().in_snapshot[peer] = None;
            })
            .expect("cannot start an applier thread");
        ApplierThread { stop, exited }
    }

    /// Call once the instance's process is dead and its messages are read:
    /// checks the messages not yet checked, then ends the thread.
    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.exited.recv();
    }
}

struct Applier {
    peer: usize,
    process: Arc<Judged>,
    logs: Arc<Mutex<AppliedLogs>>,
    snapshots: bool,
}

impl Applier {
    fn handle(&self, event: ApplyEvent, alive: bool) {
        let mut logs = self.logs.lock();
        let msg = match event {
            ApplyEvent::Applied(msg) => msg,
            ApplyEvent::SnapshotTaken => {
                logs.in_snapshot[self.peer] = None;
                return;
            }
        };
        let (result, snapshot_at) = match msg {
            Applied::Command { index, command, .. } => (
                logs.apply_command(self.peer, index, &command),
                Some(index).filter(|i| i % SNAPSHOT_INTERVAL == 0),
            ),
            Applied::Snapshot { index, data, .. } => {
                (logs.apply_snapshot(self.peer, index, &data), None)
            }
            Applied::Membership { index, members, .. } => (
                logs.apply_entry(self.peer, index, Cmd::Membership(members)),
                Some(index).filter(|i| i % SNAPSHOT_INTERVAL == 0),
            ),
        };
        let snapshot = match (result, snapshot_at) {
            (Err(violation), _) => {
                logs.record_violation(violation);
                None
            }
            (Ok(()), Some(index)) if self.snapshots && alive => {
                logs.in_snapshot[self.peer] = Some(Instant::now());
                Some((index, logs.snapshot_of(self.peer, index)))
            }
            _ => None,
        };
        drop(logs);
        if alive {
            self.process.tell(ToPeer::ApplyDone { snapshot });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(value: u64) -> Vec<u8> {
        Cmd::Int(value).encode()
    }

    /// Peers 0 and 1 have applied 10, 20, 30 at indices 1..=3.
    fn three_applied() -> AppliedLogs {
        let mut logs = AppliedLogs::new(3);
        for peer in 0..2 {
            for index in 1..=3 {
                logs.apply_command(peer, index, &int(index * 10)).unwrap();
            }
        }
        logs
    }

    #[test]
    fn in_order_agreeing_commands_are_counted() {
        let logs = three_applied();
        assert_eq!(logs.committed(2).unwrap(), (2, Some(Cmd::Int(20))));
        assert_eq!(logs.committed(4).unwrap(), (0, None));
        assert_eq!(logs.max_index(), 3);
    }

    #[test]
    fn a_gap_names_the_skipped_index() {
        let mut logs = three_applied();
        let err = logs.apply_command(2, 2, &int(20)).unwrap_err();
        assert!(
            err.contains("S2 applied index 2 right after index 0, skipping index 1"),
            "{err}"
        );
    }

    #[test]
    fn applying_an_index_twice_is_a_violation() {
        let mut logs = three_applied();
        let err = logs.apply_command(0, 3, &int(30)).unwrap_err();
        assert!(
            err.contains("S0 applied index 3 after it had applied up to index 3"),
            "{err}"
        );
    }

    #[test]
    fn a_different_command_at_an_index_names_both_peers_and_values() {
        let mut logs = three_applied();
        logs.apply_command(2, 1, &int(10)).unwrap();
        let err = logs.apply_command(2, 2, &int(21)).unwrap_err();
        assert!(
            err.contains("S2 applied 21 at index 2, but S0 applied 20 there"),
            "{err}"
        );
    }

    #[test]
    fn a_restarted_peer_must_apply_what_it_applied_before() {
        let mut logs = AppliedLogs::new(1);
        logs.apply_command(0, 1, &int(10)).unwrap();
        logs.restart(0, &[]).unwrap();
        let err = logs.apply_command(0, 1, &int(11)).unwrap_err();
        assert!(
            err.contains("S0 itself had applied 10 there before"),
            "{err}"
        );
    }

    #[test]
    fn bytes_no_test_submitted_are_a_violation() {
        let mut logs = AppliedLogs::new(1);
        let err = logs.apply_command(0, 1, &[0xff, 0xff]).unwrap_err();
        assert!(err.contains("which no test submitted"), "{err}");
    }

    #[test]
    fn a_snapshot_restores_a_lagging_peer() {
        let mut logs = three_applied();
        let snapshot = logs.snapshot_of(0, 3);
        logs.apply_snapshot(2, 3, &snapshot).unwrap();
        assert_eq!(logs.committed(3).unwrap(), (3, Some(Cmd::Int(30))));
        logs.apply_command(2, 4, &int(40)).unwrap();
    }

    #[test]
    fn a_snapshot_must_carry_its_own_index() {
        let mut logs = three_applied();
        let snapshot = logs.snapshot_of(0, 2);
        let err = logs.apply_snapshot(2, 3, &snapshot).unwrap_err();
        assert!(
            err.contains(
                "snapshot with index 3, but that snapshot holds the commands up to index 2"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_snapshot_older_than_what_was_applied_is_a_violation() {
        let mut logs = three_applied();
        let snapshot = logs.snapshot_of(0, 2);
        let err = logs.apply_snapshot(1, 2, &snapshot).unwrap_err();
        assert!(err.contains("apply_ch went backwards"), "{err}");
    }

    #[test]
    fn a_corrupt_saved_snapshot_fails_the_restart() {
        let mut logs = AppliedLogs::new(1);
        let err = logs.restart(0, b"not a snapshot").unwrap_err();
        assert!(err.contains("saved in its Persister"), "{err}");
    }

    #[test]
    fn a_restart_from_a_snapshot_resumes_after_it() {
        let mut logs = three_applied();
        let snapshot = logs.snapshot_of(1, 3);
        logs.restart(1, &snapshot).unwrap();
        // Raft redelivers the snapshot it loaded, then goes on after it.
        logs.apply_snapshot(1, 3, &snapshot).unwrap();
        logs.apply_command(1, 4, &int(40)).unwrap();
    }
}
