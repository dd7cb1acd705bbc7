//! The KV test configuration (MIT's `kvraft/config.go`): n KV servers on one
//! labrpc network, clerks with their own ends, and the faults tests inflict
//! on them (partitions, crashes, restarts).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use labrpc::{HeldOrder, Network};
use parking_lot::Mutex;
use rand::seq::SliceRandom;
use runlog::Kind;

use super::clerk::{ClerkEnds, TestClerk};
use super::rules::{
    DEDUP, DEDUP_IN_SNAPSHOT, READ_THROUGH_LOG, REPLY_COMMITTED_OP, SNAPSHOT_WHEN_FULL,
    WRONG_LEADER,
};
use crate::config::fail;
use crate::ends::{fresh_ends, server_name};
use crate::judged::{Disk, FirstDeath, Judged, Wiring};
use crate::membership;
use crate::protocol::Role;
use crate::referee::Referee;
use crate::remote_raft::RemoteRaft;
use crate::rules::{likely_causes, SNAPSHOT_SAVE};
use crate::{runrecord, Net, Session, ELECTION_TIMEOUT};
use lincheck::{Failure, KvModel, KvRecorder};

/// How long the linearizability check of a test's history may search. A
/// check that runs out of time fails the test as inconclusive.
pub const LINEARIZABILITY_BUDGET: Duration = Duration::from_secs(10);

/// A check that takes more than this fraction of its budget is reported
/// with a warning: the margin to "inconclusive" is getting thin.
const SLOW_CHECK_FRACTION: u32 = 4;

/// The persisted Raft state may reach at most this many times
/// `max_raft_state` (MIT's bound, "8x just in case").
const LOG_SIZE_FACTOR: usize = 8;

/// A KV service under test: `n` KV servers on a network without long
/// delays (a clerk must fail over quickly).
///
/// Creating it starts the test's [`Session`], then starts and connects
/// every server. Every method takes `&self`, so client threads of a test
/// can share it. Dropping it kills every server and stops the network.
pub struct Config {
    n: usize,
    net: Network,
    max_raft_state: Option<usize>,
    /// The initial voting members, if not every server (2E).
    initial_members: Option<Vec<usize>>,
    servers: Mutex<Vec<Slot>>,
    next_client_id: AtomicUsize,
    /// Clerk operations so far, for the Passed line.
    ops: Arc<AtomicUsize>,
    history: KvRecorder,
    /// The first death of a server or clerk process, which fails the test.
    death: FirstDeath,
    /// The judge of every Raft message the servers send and answer.
    referee: Arc<Referee>,
    mark: Mutex<Mark>,
    /// The last field, so the next test may start only after the servers
    /// are dead.
    session: Session,
}

/// One server slot: the running instance, if up, and what outlives it.
struct Slot {
    kv: Option<RemoteRaft>,
    /// The judge's copy of what the server saved: what a restart gets.
    disk: Arc<Mutex<Disk>>,
    /// The current instance's ends, `end_names[j]` reaching server j; fresh
    /// at every start, so a crashed instance's ends reach nobody.
    end_names: Vec<String>,
}

/// The counters at `begin`, for the Passed line.
struct Mark {
    at: Instant,
    rpcs: usize,
    ops: usize,
}

impl Config {
    /// Starts a test with `n` connected KV servers that snapshot when their
    /// raft state reaches `max_raft_state` bytes (never, with `None`).
    pub fn new(n: usize, net: Net, max_raft_state: Option<usize>) -> Config {
        Config::build(n, net, max_raft_state, None)
    }

    /// Starts a test with `n` connected KV servers of which only `members`
    /// vote at first (`KvServer::with_members`, 2E).
    pub fn with_members(
        n: usize,
        net: Net,
        max_raft_state: Option<usize>,
        members: &[usize],
    ) -> Config {
        Config::build(n, net, max_raft_state, Some(members.to_vec()))
    }

    fn build(
        n: usize,
        net: Net,
        max_raft_state: Option<usize>,
        initial_members: Option<Vec<usize>>,
    ) -> Config {
        let session = Session::start();
        let network = Network::new();
        session.set_seed(network.seed());
        if net != Net::Reliable {
            runrecord::network_change(None, "unreliable: true");
        }
        network.set_reliable(net == Net::Reliable);
        let servers = Mutex::new(
            (0..n)
                .map(|_| Slot {
                    kv: None,
                    disk: Arc::default(),
                    end_names: Vec::new(),
                })
                .collect(),
        );
        let death = FirstDeath::default();
        let members = initial_members.clone().unwrap_or_else(|| (0..n).collect());
        let referee = Arc::new(Referee::new(members, death.clone()));
        let cfg = Config {
            n,
            net: network,
            max_raft_state,
            initial_members,
            servers,
            next_client_id: AtomicUsize::new(0),
            ops: Arc::new(AtomicUsize::new(0)),
            history: KvRecorder::new(),
            death,
            referee,
            mark: Mutex::new(Mark {
                at: Instant::now(),
                rpcs: 0,
                ops: 0,
            }),
            session,
        };
        let death = cfg.death.clone();
        cfg.session.watch(move || death.get());
        for i in 0..n {
            cfg.start_server(i);
        }
        cfg.connect_all();
        cfg
    }

    /// The number of servers.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Every server: `[0, 1, ..., n-1]`.
    pub fn all(&self) -> Vec<usize> {
        (0..self.n).collect()
    }

    /// Prints `Test (3X): <desc> ...` and starts the counters of the
    /// Passed line.
    pub fn begin(&self, desc: &str) {
        self.session.begin(desc);
        *self.mark.lock() = Mark {
            at: Instant::now(),
            rpcs: self.rpc_total(),
            ops: self.ops(),
        };
    }

    /// Checks the time limit, the raft state bound (with snapshots on,
    /// see [`check_log_size`](Config::check_log_size)), and that the whole history recorded so far is linearizable; then
    /// declares the test passed and prints
    /// `  ... Passed --  time  peers  rpcs  ops  cpu` (since `begin`; `cpu`
    /// is the seconds of CPU the servers and clerks used).
    #[track_caller]
    pub fn end(&self) {
        self.session.check_time();
        self.check_alive();
        self.check_log_size();
        let check =
            match lincheck::verdict(&KvModel, &self.history.history(), LINEARIZABILITY_BUDGET) {
                Ok(check) => check,
                Err(failure @ Failure::NotLinearizable(_)) => fail(format!(
                    "{failure}{}",
                    likely_causes(&[
                        READ_THROUGH_LOG,
                        WRONG_LEADER,
                        REPLY_COMMITTED_OP,
                        DEDUP,
                        DEDUP_IN_SNAPSHOT
                    ])
                )),
                Err(failure @ Failure::Inconclusive(_)) => fail(failure),
            };
        println!("linearizability check: {check}");
        if check.elapsed > LINEARIZABILITY_BUDGET / SLOW_CHECK_FRACTION {
            self.warn(&format!(
                "the linearizability check took {:.1} s of its {} s budget ({check})",
                check.elapsed.as_secs_f64(),
                LINEARIZABILITY_BUDGET.as_secs()
            ));
        }
        let summary = {
            let mark = self.mark.lock();
            format!(
                "{:4.1}  {} {:5} {:5}",
                mark.at.elapsed().as_secs_f64(),
                self.n,
                self.rpc_total() - mark.rpcs,
                self.ops() - mark.ops,
            )
        };
        self.session.passed(&summary);
    }

    /// Prints a warning that does not fail the test.
    pub fn warn(&self, message: &str) {
        self.session.warn(message);
    }

    /// A clerk with its own ends to every server, handed to it in random
    /// order, of which only those to the servers in `to` are enabled.
    #[track_caller]
    pub fn make_client(&self, to: &[usize]) -> TestClerk {
        let (end_names, mut ends) = fresh_ends(&self.net, self.n);
        ends.shuffle(&mut rand::rng());
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        let process = self.spawn(
            &format!("C{id}"),
            Role::Clerk { n: self.n },
            ends,
            None,
            None,
        );
        let clerk = TestClerk::new(
            process,
            id,
            ClerkEnds::new(end_names),
            self.history.clone(),
            Arc::clone(&self.ops),
            self.death.clone(),
        );
        self.connect_client(&clerk.ends(), to);
        clerk
    }

    /// Enables a clerk's ends to the servers in `to`.
    pub fn connect_client(&self, ends: &ClerkEnds, to: &[usize]) {
        for &j in to {
            self.net.enable(ends.to(j), true);
        }
    }

    /// Disables a clerk's ends to the servers in `from`.
    pub fn disconnect_client(&self, ends: &ClerkEnds, from: &[usize]) {
        for &j in from {
            self.net.enable(ends.to(j), false);
        }
    }

    /// Lets server `i` and each server in `to` reach each other.
    pub fn connect(&self, i: usize, to: &[usize]) {
        self.set_links(i, to, true);
    }

    /// Cuts server `i` off from each server in `from`, both directions.
    pub fn disconnect(&self, i: usize, from: &[usize]) {
        self.set_links(i, from, false);
    }

    fn set_links(&self, i: usize, others: &[usize], enabled: bool) {
        let servers = self.servers.lock();
        for &j in others {
            let names = [servers[i].end_names.get(j), servers[j].end_names.get(i)];
            for name in names.into_iter().flatten() {
                self.net.enable(name, enabled);
            }
        }
    }

    /// Holds server `from`'s Raft requests to server `to` at the network
    /// (`on`), or stops holding them; see [`labrpc::Network::hold`].
    pub fn hold_link(&self, from: usize, to: usize, on: bool) {
        runrecord::network_change(Some(from), &format!("holding requests to S{to}: {on}"));
        self.on_link(from, to, |name| self.net.hold(name, on));
    }

    /// How many of server `from`'s Raft requests to server `to` are held.
    pub fn held_count(&self, from: usize, to: usize) -> usize {
        self.on_link(from, to, |name| self.net.held_count(name))
            .unwrap_or(0)
    }

    /// Delivers the Raft requests held from server `from` to server `to`,
    /// newest first, each handled before the next.
    pub fn deliver_held_newest_first(&self, from: usize, to: usize) {
        let delivered = self
            .on_link(from, to, |name| {
                self.net.deliver_held(name, HeldOrder::NewestFirst)
            })
            .unwrap_or(0);
        runrecord::network_change(
            Some(from),
            &format!("{delivered} held requests to S{to} delivered, newest first"),
        );
    }

    /// `act` on the name of server `from`'s end to server `to`, if any.
    fn on_link<T>(&self, from: usize, to: usize, act: impl FnOnce(&str) -> T) -> Option<T> {
        let name = self.servers.lock()[from].end_names.get(to).cloned()?;
        Some(act(&name))
    }

    /// Connects every server to every server.
    pub fn connect_all(&self) {
        runrecord::network_change(None, "every server connected to every server");
        let all = self.all();
        for i in 0..self.n {
            self.connect(i, &all);
        }
    }

    /// Splits the servers into `p1` and `p2`: each side fully connected
    /// inside, cut off from the other.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        runrecord::network_change(None, &format!("partition {p1:?} | {p2:?}"));
        for (side, other) in [(p1, p2), (p2, p1)] {
            for &i in side {
                self.disconnect(i, other);
                self.connect(i, side);
            }
        }
    }

    /// A partition `(majority, minority)` with the current leader in the
    /// minority, so it is cut off while still believing it leads.
    #[track_caller]
    pub fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        let Some(leader) = self.leader() else {
            fail("make_partition: no server believes it is the leader")
        };
        let mut others: Vec<usize> = (0..self.n).filter(|&i| i != leader).collect();
        let mut minority = others.split_off(self.n / 2 + 1);
        minority.push(leader);
        (others, minority)
    }

    /// The server leading the newest term, if any running server believes
    /// it leads.
    pub fn leader(&self) -> Option<usize> {
        let servers = self.servers.lock();
        let states = servers
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((slot.kv.as_ref()?.get_state(), i)));
        states
            .filter(|&((_, is_leader), _)| is_leader)
            .max_by_key(|&((term, _), _)| term)
            .map(|(_, i)| i)
    }

    /// The running servers' Raft peers.
    fn running(&self) -> Vec<(usize, RemoteRaft)> {
        let servers = self.servers.lock();
        let running = servers.iter().enumerate();
        running
            .filter_map(|(i, slot)| Some((i, slot.kv.clone()?)))
            .collect()
    }

    /// Changes the voting servers to `members` (asking whichever server
    /// leads) and waits until every running member uses that
    /// configuration (2E); the error, after 15 s, says what stalled. It
    /// returns rather than fails, so that a caller with clients running
    /// can stop them first.
    pub(crate) fn try_change_to(&self, members: &[usize]) -> Result<(), String> {
        self.check_alive();
        membership::change_until_in_force(|| self.running(), members, |_| true)
    }

    /// The newest term any running server is in: it changes exactly when
    /// an election has begun somewhere.
    pub fn newest_term(&self) -> u64 {
        let servers = self.servers.lock();
        let terms = servers
            .iter()
            .filter_map(|slot| Some(slot.kv.as_ref()?.get_state().0));
        terms.max().unwrap_or(0)
    }

    /// Crashes server `i`: disconnects it, deletes its server so no reply
    /// of the old instance arrives, and kills its process (`SIGKILL`); what
    /// it saved before the kill is what a restart gets.
    pub fn shutdown_server(&self, i: usize) {
        self.take_down(i, false);
    }

    /// Cuts server `i` off and kills its process, recording whether it was
    /// a crash the test made or the `cleanup` after it.
    fn take_down(&self, i: usize, cleanup: bool) {
        self.disconnect(i, &self.all());
        self.net.delete_server(&server_name(i));
        let kv = self.servers.lock()[i].kv.take();
        if let Some(kv) = kv {
            let what = if cleanup {
                "stopped: the test is over (cleanup, not a crash)"
            } else {
                "crashed"
            };
            runrecord::harness_action(i, Kind::Crashed { cleanup }, what);
            kv.kill();
        }
    }

    /// Crashes every server, waits an election timeout for the old
    /// instances' RPCs to drain (a shutdown is not instantaneous), then
    /// restarts and connects them all.
    pub fn restart_all(&self) {
        for i in self.all() {
            self.shutdown_server(i);
        }
        sleep(ELECTION_TIMEOUT);
        for i in self.all() {
            self.start_server(i);
        }
        self.connect_all();
    }

    /// (Re)starts server `i` from its persisted state, in a new process,
    /// with fresh ends and its server on the network. It is left
    /// disconnected: call [`connect_all`](Config::connect_all) or
    /// [`connect`](Config::connect).
    #[track_caller]
    pub fn start_server(&self, i: usize) {
        self.shutdown_server(i);
        let (end_names, ends) = fresh_ends(&self.net, self.n);
        let disk = {
            let mut servers = self.servers.lock();
            servers[i].end_names = end_names;
            Arc::clone(&servers[i].disk)
        };
        let saved = disk.lock().clone();
        let role = Role::KvServer {
            n: self.n,
            me: i,
            raft_state: saved.raft_state,
            snapshot: saved.snapshot,
            max_raft_state: self.max_raft_state,
            members: self.initial_members.clone(),
        };
        runrecord::harness_action(i, Kind::Started, "started");
        let process = self.spawn(&format!("S{i}"), role, ends, Some(disk), Some(i));
        self.net.add_server(&server_name(i), process.server());
        self.servers.lock()[i].kv = Some(RemoteRaft::new(process));
    }

    /// Starts a judged process for a server or a clerk; its death fails
    /// the test.
    #[track_caller]
    fn spawn(
        &self,
        label: &str,
        role: Role,
        ends: Vec<labrpc::ClientEnd>,
        disk: Option<Arc<Mutex<Disk>>>,
        raft_peer: Option<usize>,
    ) -> Arc<Judged> {
        let wiring = Wiring {
            ends,
            disk,
            applied: None,
            on_death: self.death.recorder(),
            env: Vec::new(),
            referee: raft_peer.map(|i| (Arc::clone(&self.referee), i)),
        };
        match Judged::spawn(label, role, wiring) {
            Ok(process) => Arc::new(process),
            Err(problem) => fail(problem),
        }
    }

    /// Fails the test if a server or clerk process has died.
    #[track_caller]
    pub fn check_alive(&self) {
        self.death.check();
    }

    /// The largest persisted Raft state of any server now, in bytes.
    pub fn log_size(&self) -> usize {
        self.largest(|disk| disk.raft_state.len())
    }

    /// Each server's persisted Raft state now, in bytes.
    pub fn log_sizes(&self) -> Vec<usize> {
        let servers = self.servers.lock();
        servers
            .iter()
            .map(|slot| slot.disk.lock().raft_state.len())
            .collect()
    }

    /// The largest snapshot of any server now, in bytes.
    pub fn snapshot_size(&self) -> usize {
        self.largest(|disk| disk.snapshot.len())
    }

    /// The largest `size` of the servers' saved bytes.
    fn largest(&self, size: impl Fn(&Disk) -> usize) -> usize {
        let servers = self.servers.lock();
        let sizes = servers.iter().map(|slot| size(&slot.disk.lock()));
        sizes.max().unwrap_or(0)
    }

    /// With snapshots on, fails unless every server's persisted Raft state
    /// is at most 8 x `max_raft_state` now. Call it where the servers have
    /// caught up (MIT checks after each round of clients): while clients
    /// run at full speed, a server that misses the CPU for a few
    /// milliseconds is briefly further behind.
    #[track_caller]
    pub fn check_log_size(&self) {
        let Some(max_raft_state) = self.max_raft_state else {
            return;
        };
        let limit = LOG_SIZE_FACTOR * max_raft_state;
        let size = self.log_size();
        if size > limit {
            fail(format!(
                "logs were not trimmed: a persisted raft state has {size} bytes, over \
                 {LOG_SIZE_FACTOR} x max_raft_state = {limit}; the server should snapshot when \
                 raft_state_size reaches max_raft_state, and Raft should then trim its log{}",
                likely_causes(&[SNAPSHOT_WHEN_FULL, SNAPSHOT_SAVE])
            ));
        }
    }

    /// Clerk operations so far.
    pub fn ops(&self) -> usize {
        self.ops.load(Ordering::Relaxed)
    }

    /// Every RPC sent on the network so far (clerks' included).
    pub fn rpc_total(&self) -> usize {
        self.net.total_count()
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        for i in 0..self.n {
            self.take_down(i, true);
        }
        self.net.cleanup();
    }
}
