//! The Raft test configuration: n peers over one labrpc network, and the
//! faults tests inflict on them (partitions, crashes, restarts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use labrpc::{HeldOrder, Network, TakenRequests};
use parking_lot::Mutex;
use runlog::Kind;

use crate::applier::{AppliedLogs, ApplierThread};
use crate::ends::{fresh_ends, server_name};
use crate::judged::{Disk, FirstDeath, Judged, Wiring};
use crate::protocol::{Members, Refusal, Role};
use crate::referee::Referee;
use crate::remote_raft::RemoteRaft;
use crate::{runrecord, Cmd, Session};

/// MIT's `RaftElectionTimeout`: tests allow this long for an election.
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// The environment variable that sets a peer's snapshot chunk size; the
/// `raft` crate reads it as `raft::SNAPSHOT_CHUNK_VAR` (the judge does not
/// link that crate, so it names the variable itself).
const SNAPSHOT_CHUNK_VAR: &str = "RAFT_SNAPSHOT_CHUNK_BYTES";

/// The labrpc method that carries snapshot chunks: 2D.md asks students to
/// register their handler under this name.
pub const INSTALL_SNAPSHOT_METHOD: &str = "Raft.InstallSnapshot";

/// Whether the network loses, delays and reorders messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// Every message arrives, at once.
    Reliable,
    /// Messages are delayed 0-26 ms, and requests and replies are each
    /// lost with probability 0.1.
    Unreliable,
}

/// What the harness does with each peer's applied messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applier {
    /// Check order and cross-peer agreement (2A-2C).
    Checking,
    /// Check as well, and call `Raft::snapshot` every
    /// [`SNAPSHOT_INTERVAL`](crate::SNAPSHOT_INTERVAL) indices (2D).
    Snapshotting,
}

/// A Raft cluster under test: `n` peers on one labrpc network with long
/// delays on (a call to a disconnected peer takes up to 7 s to fail, so a
/// peer that waits on RPCs synchronously is too slow).
///
/// Creating it starts the test's [`Session`] (one test at a time, a 120 s
/// limit, a failure report), then starts and connects every peer. Every
/// method takes `&self`, so client threads of a test can share it. Check
/// methods panic with a message for the student when Raft misbehaves,
/// including violations the appliers recorded since the last call.
/// Dropping it kills every peer and stops the network.
pub struct Config {
    n: usize,
    net: Network,
    snapshots: bool,
    /// The snapshot chunk size the peers are started with, if the test set one.
    snapshot_chunk: Option<usize>,
    /// The initial voting members, if not every peer (2E).
    initial_members: Option<Vec<usize>>,
    peers: Mutex<Vec<Peer>>,
    logs: Arc<Mutex<AppliedLogs>>,
    /// The first death of a peer's process that the harness did not cause,
    /// or the first protocol violation.
    death: FirstDeath,
    /// The judge of every Raft message the peers send and answer.
    referee: Arc<Referee>,
    mark: Mutex<Mark>,
    /// The last field, so it is dropped (and the next test may start)
    /// only after the peers are dead.
    session: Session,
}

/// One peer slot: the current instance, if up, and what outlives it.
struct Peer {
    raft: Option<RemoteRaft>,
    applier: Option<ApplierThread>,
    /// The judge's copy of what the peer saved: what a restart gets.
    disk: Arc<Mutex<Disk>>,
    /// The current instance's outgoing ends, `end_names[j]` reaching peer j;
    /// fresh random names at every start, so a crashed instance's ends
    /// reach nobody.
    end_names: Vec<String>,
    connected: bool,
}

/// The counters at `begin`, for the Passed line.
struct Mark {
    at: Instant,
    rpcs: usize,
    bytes: u64,
    cmds: u64,
}

/// Fails the test with `message`, blaming the test line that called the
/// harness.
#[track_caller]
pub(crate) fn fail(message: impl std::fmt::Display) -> ! {
    panic!("{message}")
}

impl Config {
    /// Starts a test with `n` connected peers.
    #[track_caller]
    pub fn new(n: usize, net: Net, applier: Applier) -> Config {
        Config::build(n, net, applier, None, None)
    }

    /// Starts a test with `n` connected peers of which only `members` vote
    /// at first (`Raft::with_members`, 2E); the others wait to be added.
    #[track_caller]
    pub fn with_members(n: usize, net: Net, applier: Applier, members: &[usize]) -> Config {
        Config::build(n, net, applier, None, Some(members.to_vec()))
    }

    /// Starts a test with `n` connected peers that send snapshots in chunks
    /// of at most `chunk_bytes` bytes.
    #[track_caller]
    pub fn with_snapshot_chunk(n: usize, net: Net, applier: Applier, chunk_bytes: usize) -> Config {
        Config::build(n, net, applier, Some(chunk_bytes), None)
    }

    #[track_caller]
    fn build(
        n: usize,
        net: Net,
        applier: Applier,
        snapshot_chunk: Option<usize>,
        initial_members: Option<Vec<usize>>,
    ) -> Config {
        let session = Session::start();
        let network = Network::new();
        session.set_seed(network.seed());
        if net != Net::Reliable {
            runrecord::network_change(None, "unreliable: true");
        }
        network.set_reliable(net == Net::Reliable);
        network.set_long_delays(true);
        let death = FirstDeath::default();
        let members = initial_members.clone().unwrap_or_else(|| (0..n).collect());
        let referee = Arc::new(Referee::new(members, death.clone()));
        let cfg = Config {
            n,
            net: network,
            snapshots: applier == Applier::Snapshotting,
            snapshot_chunk,
            initial_members,
            peers: Mutex::new(
                (0..n)
                    .map(|_| Peer {
                        raft: None,
                        applier: None,
                        disk: Arc::default(),
                        end_names: Vec::new(),
                        connected: false,
                    })
                    .collect(),
            ),
            logs: Arc::new(Mutex::new(AppliedLogs::new(n))),
            death,
            referee,
            mark: Mutex::new(Mark {
                at: Instant::now(),
                rpcs: 0,
                bytes: 0,
                cmds: 0,
            }),
            session,
        };
        let (logs, death) = (Arc::clone(&cfg.logs), cfg.death.clone());
        cfg.session
            .watch(move || death.get().or_else(|| logs.lock().violation()));
        for i in 0..n {
            cfg.start1(i);
        }
        for i in 0..n {
            cfg.connect(i);
        }
        cfg
    }

    /// The number of peers.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Prints `Test (2X): <desc> ...` and starts the counters of the
    /// Passed line.
    pub fn begin(&self, desc: &str) {
        self.session.begin(desc);
        *self.mark.lock() = Mark {
            at: Instant::now(),
            rpcs: self.rpc_total(),
            bytes: self.bytes_total(),
            cmds: self.logs.lock().max_index(),
        };
    }

    /// Declares the test passed, after a last check, and prints
    /// `  ... Passed --  time  peers  rpcs  bytes  cmds  cpu` (since `begin`;
    /// `cpu` is the seconds of CPU the peers used).
    #[track_caller]
    pub fn end(&self) {
        self.check();
        let summary = {
            let mark = self.mark.lock();
            format!(
                "{:4.1}  {} {:4} {:7} {:4}",
                mark.at.elapsed().as_secs_f64(),
                self.n,
                self.rpc_total() - mark.rpcs,
                self.bytes_total() - mark.bytes,
                self.logs.lock().max_index() - mark.cmds,
            )
        };
        self.session.passed(&summary);
    }

    /// Prints a warning that does not fail the test.
    pub fn warn(&self, message: &str) {
        self.session.warn(message);
    }

    /// Fails the test if it is over its time limit, a peer's process died,
    /// or an applier recorded a violation. Every check calls it first.
    #[track_caller]
    pub(crate) fn check(&self) {
        self.session.check_time();
        self.death.check();
        if let Some(violation) = self.logs.lock().violation() {
            fail(format!("apply error: {violation}"));
        }
    }

    /// Connects peer `i`: enables its ends to the connected peers and
    /// theirs to it.
    pub fn connect(&self, i: usize) {
        runrecord::harness_action(i, Kind::Connected, "connected");
        let mut peers = self.peers.lock();
        peers[i].connected = true;
        for j in 0..self.n {
            if peers[j].connected {
                self.enable_ends(&peers, i, j, true);
            }
        }
    }

    /// Disconnects peer `i` from every other peer, both directions.
    pub fn disconnect(&self, i: usize) {
        runrecord::harness_action(i, Kind::Disconnected, "disconnected");
        self.cut_off(i);
    }

    /// Enables the one-way link from peer `from` to peer `to`: `from`'s
    /// requests reach `to` and `to`'s replies come back, but `to`'s own
    /// requests do not reach `from`. It leaves both peers' connected state
    /// as it is; a restart of either drops the link (fresh ends).
    pub fn link(&self, from: usize, to: usize) {
        runrecord::network_change(Some(from), &format!("linked to S{to}, one way"));
        if let Some(name) = self.end_name(from, to) {
            self.net.enable(&name, true);
        }
    }

    /// Holds peer `from`'s requests to peer `to` at the network, or stops
    /// holding them (see labrpc's `Network::hold`): held requests wait,
    /// undelivered, until [`deliver_held`](Config::deliver_held), even
    /// after holding stops. A restart of `from` drops them with its ends.
    pub fn hold_link(&self, from: usize, to: usize, on: bool) {
        runrecord::network_change(Some(from), &format!("holding requests to S{to}: {on}"));
        if let Some(name) = self.end_name(from, to) {
            self.net.hold(&name, on);
        }
    }

    /// How many of peer `from`'s requests to peer `to` are held.
    pub fn held_count(&self, from: usize, to: usize) -> usize {
        self.end_name(from, to)
            .map_or(0, |name| self.net.held_count(&name))
    }

    /// Delivers the requests held from peer `from` to peer `to`, oldest
    /// first, each handled before the next, and returns how many there were.
    pub fn deliver_held(&self, from: usize, to: usize) -> usize {
        self.deliver_held_in(from, to, HeldOrder::AsSent)
    }

    /// Like [`deliver_held`](Config::deliver_held), newest first: every
    /// held request overtakes those sent before it.
    pub fn deliver_held_newest_first(&self, from: usize, to: usize) -> usize {
        self.deliver_held_in(from, to, HeldOrder::NewestFirst)
    }

    /// Takes the requests held from peer `from` to peer `to` off the
    /// network, unanswered, so that a crash and restart of `to` does not
    /// fail them: [`deliver_taken`](Config::deliver_taken) hands them to
    /// the peer's new instance, like messages that were still on the wire.
    pub fn take_held(&self, from: usize, to: usize) -> TakenRequests {
        let taken = self.net.take_held(&self.link_name(from, to));
        runrecord::network_change(
            Some(from),
            &format!(
                "{} held requests to S{to} taken off the network",
                taken.len()
            ),
        );
        taken
    }

    /// Delivers requests [taken](Config::take_held) from peer `from` to
    /// peer `to`, oldest first, to whatever instance of `to` runs now, each
    /// handled before the next; they fail if the link is down. Returns how
    /// many there were.
    pub fn deliver_taken(&self, from: usize, to: usize, taken: TakenRequests) -> usize {
        let delivered = self.net.deliver_taken(&self.link_name(from, to), taken);
        runrecord::network_change(
            Some(from),
            &format!("{delivered} taken requests to S{to} delivered"),
        );
        delivered
    }

    /// The name of the current end from peer `from` to peer `to`, which
    /// must both be peers of the cluster.
    #[track_caller]
    fn link_name(&self, from: usize, to: usize) -> String {
        self.end_name(from, to)
            .unwrap_or_else(|| fail(format!("no link from S{from} to S{to}: not peers")))
    }

    fn deliver_held_in(&self, from: usize, to: usize, order: HeldOrder) -> usize {
        let delivered = self
            .end_name(from, to)
            .map_or(0, |name| self.net.deliver_held(&name, order));
        runrecord::network_change(
            Some(from),
            &format!("{delivered} held requests to S{to} delivered ({order:?})"),
        );
        delivered
    }

    /// The name of the current end from peer `from` to peer `to`.
    fn end_name(&self, from: usize, to: usize) -> Option<String> {
        self.peers.lock()[from].end_names.get(to).cloned()
    }

    /// Disconnects every peer from every other.
    pub fn disconnect_all(&self) {
        for i in 0..self.n {
            self.disconnect(i);
        }
    }

    fn cut_off(&self, i: usize) {
        let mut peers = self.peers.lock();
        peers[i].connected = false;
        for j in 0..self.n {
            self.enable_ends(&peers, i, j, false);
        }
    }

    /// Enables or disables the ends from `i` to `j` and from `j` to `i`.
    fn enable_ends(&self, peers: &[Peer], i: usize, j: usize, enabled: bool) {
        for name in [peers[i].end_names.get(j), peers[j].end_names.get(i)]
            .into_iter()
            .flatten()
        {
            self.net.enable(name, enabled);
        }
    }

    /// Crashes peer `i`: disconnects it, deletes its server so no reply of
    /// the old instance arrives, and kills its process (`SIGKILL`); what it
    /// saved before the kill is what a restart gets. A peer already down
    /// is left down.
    pub fn crash1(&self, i: usize) {
        self.take_down(i, false);
    }

    /// Cuts peer `i` off and kills its process, logging whether it was a
    /// crash the test made or the `cleanup` after it, so a failure's log
    /// tails (and its timeline) tell the two apart.
    fn take_down(&self, i: usize, cleanup: bool) {
        self.cut_off(i);
        self.net.delete_server(&server_name(i));
        let (raft, applier) = {
            let mut peers = self.peers.lock();
            let peer = &mut peers[i];
            (peer.raft.take(), peer.applier.take())
        };
        if let Some(raft) = raft {
            let what = if cleanup {
                "stopped: the test is over (cleanup, not a crash)"
            } else {
                "crashed"
            };
            runrecord::harness_action(i, Kind::Crashed { cleanup }, what);
            raft.kill();
        }
        if let Some(applier) = applier {
            applier.stop();
        }
    }

    /// (Re)starts peer `i` from its persisted state, in a new process, with
    /// fresh ends, a fresh applier, and its server on the network. It is
    /// left disconnected: call [`connect`](Config::connect). If a snapshot
    /// was saved, the harness restores it first, as a KV server would.
    #[track_caller]
    pub fn start1(&self, i: usize) {
        self.crash1(i);
        let (names, ends) = fresh_ends(&self.net, self.n);
        let disk = {
            let mut peers = self.peers.lock();
            peers[i].end_names = names;
            Arc::clone(&peers[i].disk)
        };
        let saved = disk.lock().clone();
        if let Err(problem) = self.logs.lock().restart(i, &saved.snapshot) {
            fail(format!("restarting S{i}: {problem}"));
        }
        runrecord::harness_action(i, Kind::Started, "started");
        let (events_tx, events) = crossbeam_channel::unbounded();
        let wiring = Wiring {
            ends,
            disk: Some(disk),
            applied: Some(events_tx),
            on_death: self.death.recorder(),
            env: self
                .snapshot_chunk
                .map(|bytes| (SNAPSHOT_CHUNK_VAR, bytes.to_string()))
                .into_iter()
                .collect(),
            referee: Some((Arc::clone(&self.referee), i)),
        };
        let role = Role::Raft {
            n: self.n,
            me: i,
            raft_state: saved.raft_state,
            snapshot: saved.snapshot,
            members: self.initial_members.clone(),
        };
        let process = match Judged::spawn(&format!("S{i}"), role, wiring) {
            Ok(process) => Arc::new(process),
            Err(problem) => fail(problem),
        };
        // The peer's process takes one applied message at a time and waits
        // until the applier is done with it, as with MIT's unbuffered
        // channel: a peer that sends while holding its lock deadlocks
        // against an applier calling Raft::snapshot, and the check says so.
        let applier = ApplierThread::spawn(
            i,
            Arc::clone(&process),
            events,
            Arc::clone(&self.logs),
            self.snapshots,
        );
        self.net.add_server(&server_name(i), process.server());
        let mut peers = self.peers.lock();
        peers[i].raft = Some(RemoteRaft::new(process));
        peers[i].applier = Some(applier);
    }

    /// Restarts peer `i` from its persisted state (crashing it first if
    /// it is up) and connects it.
    #[track_caller]
    pub fn restart(&self, i: usize) {
        self.start1(i);
        self.connect(i);
    }

    /// Connects every peer.
    pub fn connect_all(&self) {
        for i in 0..self.n {
            self.connect(i);
        }
    }

    /// Whether peer `i` is running (started and not crashed).
    pub fn is_up(&self, i: usize) -> bool {
        self.peers.lock()[i].raft.is_some()
    }

    /// Whether peer `i` is connected.
    pub fn is_connected(&self, i: usize) -> bool {
        self.peers.lock()[i].connected
    }

    /// Calls `start(cmd)` on peer `i`: `Some((index, term))` if it accepted
    /// the command as leader, `None` if it refused or is down.
    pub fn start(&self, i: usize, cmd: impl Into<Cmd>) -> Option<(u64, u64)> {
        self.raft(i)?.start(cmd.into().encode())
    }

    /// Peer `i`'s `(term, is_leader)`, or `None` if it is down.
    pub fn state(&self, i: usize) -> Option<(u64, bool)> {
        Some(self.raft(i)?.get_state())
    }

    /// Calls `read_index()` on peer `i` (it blocks for a round trip or
    /// until the peer gives up); `None` as well if the peer is down.
    pub fn read_index(&self, i: usize) -> Option<u64> {
        self.raft(i)?.read_index()
    }

    /// Calls `change_membership(members)` on peer `i`; `Err(None)` if the
    /// peer is down, `Err(Some(refusal))` if it refused.
    pub fn change_membership(&self, i: usize, members: &[usize]) -> Result<(), Option<Refusal>> {
        log::debug!(
            target: runrecord::HARNESS_TARGET,
            "S{i} [harness] change_membership({members:?})"
        );
        let raft = self.raft(i).ok_or(None)?;
        raft.change_membership(members.to_vec()).map_err(Some)
    }

    /// Peer `i`'s `membership()`, or `None` if it is down.
    pub fn membership(&self, i: usize) -> Option<Members> {
        self.raft(i)?.membership()
    }

    /// The current instance of peer `i`, if up.
    pub(crate) fn raft(&self, i: usize) -> Option<RemoteRaft> {
        self.peers.lock()[i].raft.clone()
    }

    /// The current instance of peer `i`, if up and connected.
    pub(crate) fn connected_raft(&self, i: usize) -> Option<RemoteRaft> {
        let peers = self.peers.lock();
        peers[i].raft.clone().filter(|_| peers[i].connected)
    }

    /// The running instances of the connected peers.
    pub(crate) fn connected_rafts(&self) -> Vec<(usize, RemoteRaft)> {
        let peers = self.peers.lock();
        let connected = peers.iter().enumerate().filter(|(_, p)| p.connected);
        connected
            .filter_map(|(i, p)| Some((i, p.raft.clone()?)))
            .collect()
    }

    /// The running instances.
    pub(crate) fn up_rafts(&self) -> Vec<(usize, RemoteRaft)> {
        let peers = self.peers.lock();
        let up = peers.iter().enumerate();
        up.filter_map(|(i, p)| Some((i, p.raft.clone()?))).collect()
    }

    /// The highest index peer `i` has applied since it last started (its
    /// snapshot's index right after a restart from one).
    pub fn applied_through(&self, i: usize) -> u64 {
        self.logs.lock().last_applied(i)
    }

    /// The judge of the peers' messages, for the checks.
    pub(crate) fn referee(&self) -> &Referee {
        &self.referee
    }

    /// The applied logs, for the checks.
    pub(crate) fn logs(&self) -> &Mutex<AppliedLogs> {
        &self.logs
    }

    /// Makes the network reliable or not.
    pub fn set_unreliable(&self, unreliable: bool) {
        runrecord::network_change(None, &format!("unreliable: {unreliable}"));
        self.net.set_reliable(!unreliable);
    }

    /// Switches long reordering of replies on or off.
    pub fn set_long_reordering(&self, on: bool) {
        runrecord::network_change(None, &format!("long reordering: {on}"));
        self.net.set_long_reordering(on);
    }

    /// RPCs that reached peer `i`'s current server.
    pub fn rpc_count(&self, i: usize) -> usize {
        self.net.rpc_count(&server_name(i))
    }

    /// Every RPC sent on the network so far, delivered or not.
    pub fn rpc_total(&self) -> usize {
        self.net.total_count()
    }

    /// Request and reply bytes sent on the network so far.
    pub fn bytes_total(&self) -> u64 {
        self.net.total_bytes()
    }

    /// The largest InstallSnapshot request or reply carried so far, in
    /// bytes; 0 if none was sent.
    pub fn largest_snapshot_message(&self) -> usize {
        self.net.largest_message_of(INSTALL_SNAPSHOT_METHOD)
    }

    /// The size of the snapshot peer `i` last saved, in bytes.
    pub fn snapshot_size(&self, i: usize) -> usize {
        self.peers.lock()[i].disk.lock().snapshot.len()
    }

    /// The index through which the snapshot peer `i` last saved runs, if
    /// it saved one (with [`Applier::Snapshotting`]).
    pub fn saved_snapshot_index(&self, i: usize) -> Option<u64> {
        crate::applier::snapshot_index(&self.peers.lock()[i].disk.lock().snapshot)
    }

    /// The largest persisted Raft state of any peer, in bytes.
    pub fn log_size(&self) -> usize {
        let peers = self.peers.lock();
        let sizes = peers.iter().map(|p| p.disk.lock().raft_state.len());
        sizes.max().unwrap_or(0)
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        self.session.unwatch();
        for i in 0..self.n {
            self.take_down(i, true);
        }
        self.net.cleanup();
    }
}
