//! MIT's `GenericTest`: clients append and read for a while under the
//! test's faults, then every client's appends, the log size and the
//! history are checked. Most 3A and 3B scenarios are instances of it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rand::Rng;

use super::appends::{append_value, check_client_appends, check_own_read};
use super::config::Config;
use super::rules::SNAPSHOT_WHEN_FULL;
use crate::config::fail;
use crate::join::join_or_fail;
use crate::rules::likely_causes;
use crate::{Net, ELECTION_TIMEOUT};

/// Rounds of clients, faults and checks per test.
const ITERATIONS: usize = 3;
/// How long the clients run in each round.
const CLIENTS_RUN: Duration = Duration::from_secs(5);
/// Clients run undisturbed this long before the partitioner starts.
const UNDISTURBED: Duration = Duration::from_secs(1);
/// A client starts an operation at most this often. MIT's clients ran
/// unpaced on servers that took milliseconds per operation. Unpaced on a
/// fast server, a client appends so much that its key's value, which every
/// Get reads back and the history keeps, grows to hundreds of KB, and the
/// history of a 20-client test to gigabytes; paced, it stays near MIT's
/// scale. A client still has an operation in flight whenever the servers
/// are slow (faults, elections), as those are the operations that matter.
const CLIENT_OP_INTERVAL: Duration = Duration::from_millis(2);

/// One GenericTest scenario. `GenericTest::default()` is one client on
/// five servers over a reliable network, without faults or snapshots;
/// tests override what their scenario changes.
#[derive(Clone, Copy, Debug)]
pub struct GenericTest {
    /// How many clients run concurrently.
    pub clients: usize,
    /// How many KV servers.
    pub servers: usize,
    /// Whether the network loses and delays messages.
    pub net: Net,
    /// Whether every server is shut down and restarted after each round.
    pub crash: bool,
    /// Whether a partitioner re-partitions the servers at random every
    /// 1000-1199 ms while the clients run.
    pub partitions: bool,
    /// The servers' `max_raft_state`.
    pub max_raft_state: Option<usize>,
    /// Whether clients use random keys (and some Puts) instead of each its
    /// own key; then only the linearizability check judges the results.
    pub random_keys: bool,
    /// Whether one operation in ten (not one in two) is an Append, the
    /// rest mostly Gets (3C's mixes).
    pub read_heavy: bool,
    /// Whether the service starts with servers 0-2 voting and changes its
    /// membership once per round while the clients run (2E): to all five,
    /// then to three without the leader, then to all five again.
    pub membership_changes: bool,
}

impl Default for GenericTest {
    fn default() -> Self {
        GenericTest {
            clients: 1,
            servers: 5,
            net: Net::Reliable,
            crash: false,
            partitions: false,
            max_raft_state: None,
            random_keys: false,
            read_heavy: false,
            membership_changes: false,
        }
    }
}

impl GenericTest {
    /// MIT's test title, e.g. `unreliable net, restarts, many clients`.
    fn title(&self) -> String {
        let mut title = String::new();
        for (on, words) in [
            (self.net == Net::Unreliable, "unreliable net, "),
            (self.crash, "restarts, "),
            (self.partitions, "partitions, "),
            (self.max_raft_state.is_some(), "snapshots, "),
            (self.random_keys, "random keys, "),
            (self.read_heavy, "read-heavy, "),
            (self.membership_changes, "3 -> 5 -> 3 -> 5 servers, "),
        ] {
            if on {
                title.push_str(words);
            }
        }
        title.push_str(if self.clients > 1 {
            "many clients"
        } else {
            "one client"
        });
        title
    }
}

/// Runs one GenericTest scenario.
///
/// Each of 3 rounds: `clients` clerks loop for 5 s, each starting at most
/// one operation per 2 ms: half the time (read-heavy: a tenth) an Append of `"x <client> <j> y"`,
/// else (with random keys, 10 % of the rest) a Put, else a Get. Without
/// random keys each client uses its own key and every Get must read
/// exactly what that client wrote. With partitions, after 1 s the servers
/// are split at random every 1000-1199 ms; then healed, with 1 s to elect.
/// With crashes, every server is shut down, and after 1 s restarted. Then
/// each client's key must hold its appends once each and in order; with
/// snapshots each raft state must be within 8 x `max_raft_state`, and
/// without them no snapshot may exist. At the end the whole history must
/// be linearizable.
#[track_caller]
pub fn generic_test(test: GenericTest) {
    let cfg = if test.membership_changes {
        Config::with_members(
            test.servers,
            test.net,
            test.max_raft_state,
            &INITIAL_MEMBERS,
        )
    } else {
        Config::new(test.servers, test.net, test.max_raft_state)
    };
    cfg.begin(&test.title());
    let mut checker = cfg.make_client(&cfg.all());
    for round in 0..ITERATIONS {
        let clients_done = AtomicBool::new(false);
        let (stop_partitioner, partitioner_stopped) = crossbeam_channel::bounded::<()>(0);
        let appended = thread::scope(|scope| {
            let clients: Vec<_> = (0..test.clients)
                .map(|client| {
                    let (cfg, done) = (&cfg, &clients_done);
                    scope.spawn(move || run_client(cfg, test, client, done))
                })
                .collect();
            let partitioner = test.partitions.then(|| {
                sleep(UNDISTURBED);
                let cfg = &cfg;
                scope.spawn(move || run_partitioner(cfg, &partitioner_stopped))
            });
            let began = Instant::now();
            let changed = test.membership_changes.then(|| {
                sleep(UNDISTURBED);
                cfg.try_change_to(&round_members(&cfg, round))
            });
            if let Some(rest) = CLIENTS_RUN.checked_sub(began.elapsed()) {
                sleep(rest);
            }
            clients_done.store(true, Ordering::SeqCst);
            drop(stop_partitioner);
            if let Some(partitioner) = partitioner {
                join_or_fail(partitioner);
                // A client's request may wait in a minority until its
                // server learns of a newer term.
                cfg.connect_all();
                sleep(ELECTION_TIMEOUT);
            }
            if test.crash {
                cfg.restart_all();
            }
            let appended = clients
                .into_iter()
                .map(join_or_fail)
                .collect::<Vec<usize>>();
            (appended, changed)
        });
        let (appended, changed) = appended;
        if let Some(Err(problem)) = changed {
            fail(problem);
        }
        for (client, &count) in appended.iter().enumerate() {
            let value = checker.get(&client.to_string());
            if !test.random_keys {
                check_client_appends(client, &value, count);
            }
        }
        cfg.check_log_size();
        if test.max_raft_state.is_none() && cfg.snapshot_size() > 0 {
            fail(format!(
                "a snapshot of {} bytes was saved, but max_raft_state is None: the server must \
                 not snapshot then{}",
                cfg.snapshot_size(),
                likely_causes(&[SNAPSHOT_WHEN_FULL])
            ));
        }
    }
    cfg.end();
}

/// The voting servers a service with membership changes starts with.
const INITIAL_MEMBERS: [usize; 3] = [0, 1, 2];

/// The members a service with membership changes moves to in `round`:
/// every server, then three without the current leader (so the leader is
/// replaced), then every server again.
fn round_members(cfg: &Config, round: usize) -> Vec<usize> {
    if round.is_multiple_of(2) {
        return cfg.all();
    }
    let leader = cfg.leader().unwrap_or(0);
    let others = cfg.all().into_iter().filter(|&i| i != leader);
    others.take(3).collect()
}

/// One client's loop; returns how many appends it made.
fn run_client(cfg: &Config, test: GenericTest, client: usize, done: &AtomicBool) -> usize {
    let mut ck = cfg.make_client(&cfg.all());
    let own_key = client.to_string();
    let mut expected = String::new();
    if !test.random_keys {
        ck.put(&own_key, &expected);
    }
    let mut rng = rand::rng();
    let append_share = if test.read_heavy { 100 } else { 500 };
    let mut appends = 0;
    while !done.load(Ordering::SeqCst) {
        let started = Instant::now();
        let key = if test.random_keys {
            rng.random_range(0..test.clients).to_string()
        } else {
            own_key.clone()
        };
        let value = append_value(client, appends);
        if rng.random_range(0..1000) < append_share {
            ck.append(&key, &value);
            if !test.random_keys {
                expected.push_str(&value);
            }
            appends += 1;
        } else if test.random_keys && rng.random_range(0..1000) < 100 {
            ck.put(&key, &value);
            appends += 1;
        } else {
            let read = ck.get(&key);
            if !test.random_keys {
                check_own_read(client, &key, &expected, appends, &read);
            }
        }
        if let Some(rest) = CLIENT_OP_INTERVAL.checked_sub(started.elapsed()) {
            sleep(rest);
        }
    }
    appends
}

/// Re-partitions the servers at random every 1000-1199 ms until `stop`
/// disconnects.
fn run_partitioner(cfg: &Config, stop: &Receiver<()>) {
    let mut rng = rand::rng();
    loop {
        let (p1, p2): (Vec<usize>, Vec<usize>) = cfg.all().into_iter().partition(|_| rng.random());
        cfg.partition(&p1, &p2);
        let pause = ELECTION_TIMEOUT + Duration::from_millis(rng.random_range(0..200));
        if stop.recv_timeout(pause) != Err(RecvTimeoutError::Timeout) {
            return;
        }
    }
}
