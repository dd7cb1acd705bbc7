//! Scripted KV scenarios: instead of waiting for chance under random
//! faults, each drives the service into the one situation where a rule of
//! the service matters, with partitions and crashes, and checks the
//! outcome.
//!
//! Both follow one pattern: a clerk's Append is sent to a chosen server in
//! a thread of its own ([`InFlightAppend`]); while it is in flight the
//! scenario cuts links, crashes and restarts servers; then it lets the
//! clerk reach everyone, waits for the Append to return, and requires it to
//! have taken effect exactly once ([`expect_applied_once`]), naming the
//! rule the scenario is about when it has not.

use std::thread::{self, sleep, Scope, ScopedJoinHandle};
use std::time::Duration;

use super::clerk::{ClerkEnds, TestClerk};
use super::config::Config;
use super::rules::{DEDUP, DEDUP_IN_SNAPSHOT, REPLY_COMMITTED_OP, WRONG_LEADER};
use crate::config::fail;
use crate::join::join_or_fail;
use crate::rules::{likely_causes, Rule};
use crate::Net;

/// The key the scenarios' Append goes to.
const KEY: &str = "k";
/// The value it appends.
const VALUE: &str = "x 0 0 y";
/// Long enough for a request on a reliable network to reach its server
/// and be started in Raft.
const REACH_SERVER: Duration = Duration::from_millis(50);
/// How many requests the majority commits while the old leader is cut
/// off: more than the old leader can have started meanwhile, so its
/// entries are all overwritten.
const MAJORITY_WRITES: usize = 20;
/// How many Puts make every server snapshot and trim its log well past
/// the Append's entry (and make a server that never trims exceed the
/// 8 x `max_raft_state` bound).
const SNAPSHOT_WRITES: usize = 300;

/// A clerk's Append in flight in a scoped thread.
struct InFlightAppend<'scope> {
    thread: ScopedJoinHandle<'scope, ()>,
    ends: ClerkEnds,
}

impl<'scope> InFlightAppend<'scope> {
    /// Sends `ck`'s Append of [`VALUE`] to [`KEY`], to the server `ck`
    /// last found leading, and gives it time to get there.
    fn send<'env>(scope: &'scope Scope<'scope, 'env>, mut ck: TestClerk) -> Self {
        let ends = ck.ends();
        let thread = scope.spawn(move || ck.append(KEY, VALUE));
        sleep(REACH_SERVER);
        InFlightAppend { thread, ends }
    }

    /// Lets the clerk reach every server, and waits for its Append to
    /// return (a panic in it fails the test with its message).
    fn complete(self, cfg: &Config) {
        cfg.connect_client(&self.ends, &cfg.all());
        join_or_fail(self.thread);
    }
}

/// A clerk that has completed one request, so it knows the leader, and
/// the leader it found.
fn clerk_at_leader(cfg: &Config) -> (TestClerk, usize) {
    let mut ck = cfg.make_client(&cfg.all());
    ck.put(KEY, "");
    let Some(leader) = cfg.leader() else {
        fail("no server believes it leads right after a request completed")
    };
    (ck, leader)
}

/// What went wrong, for each way the Append can fail to be there once.
struct Explanations {
    /// The Append returned but its value is not there.
    lost: (&'static str, &'static [Rule]),
    /// Its value is there twice.
    doubled: (&'static str, &'static [Rule]),
}

/// Fails unless [`KEY`] holds [`VALUE`] exactly once, with the scenario's
/// explanation of what went wrong.
#[track_caller]
fn expect_applied_once(cfg: &Config, explanations: &Explanations) {
    let value = cfg.make_client(&cfg.all()).get(KEY);
    let ((why, causes), what) = match value.matches(VALUE).count() {
        1 if value == VALUE => return,
        0 => (explanations.lost, "never took effect"),
        2.. => (explanations.doubled, "took effect more than once"),
        1 => (
            ("the key holds text that no client appended", &[DEDUP][..]),
            "is mixed with other text",
        ),
    };
    fail(format!(
        "the Append of {VALUE:?} to {KEY:?} returned, but {what}: the key holds {value:?}. {why}{}",
        likely_causes(causes)
    ));
}

/// 3A: a reply for an index goes only to the request committed there.
///
/// Five servers. A clerk that knows the leader is cut off with it in a
/// minority (the leader and one follower) and sends it an Append, which the
/// leader starts at the next index of its log but cannot commit. The
/// majority elects a new leader and commits more requests than the old
/// leader can have started meanwhile, then everything heals: the old leader learns of the new term
/// and the entries at its index are overwritten by the majority's. The
/// Append must then have taken effect exactly once: its server must not
/// answer it with the result of whatever entry was applied at its index.
///
/// Deterministic for a server whose waiting request outlives the election
/// (one that waits until its index is applied); a server that answers
/// ErrWrongLeader or times out before a new leader can commit never shows
/// the bug here, and then does no harm here either.
#[track_caller]
pub fn reply_only_to_committed_op() {
    let cfg = Config::new(5, Net::Reliable, None);
    cfg.begin("a leader that lost its index does not report success");
    let (ck, _) = clerk_at_leader(&cfg);
    let (majority, minority) = cfg.make_partition();
    cfg.partition(&majority, &minority);
    cfg.disconnect_client(&ck.ends(), &majority);
    thread::scope(|scope| {
        let append = InFlightAppend::send(scope, ck);
        let mut ck_majority = cfg.make_client(&majority);
        for i in 0..MAJORITY_WRITES {
            ck_majority.put(&format!("m{i}"), "v");
        }
        cfg.connect_all();
        append.complete(&cfg);
    });
    expect_applied_once(
        &cfg,
        &Explanations {
            lost: (
                "The clerk sent it to the leader while the leader was cut off in a minority; the \
                 majority elected a new leader and committed other requests at that index, so \
                 the Append's entry was overwritten, yet its server answered it with success: it \
                 replied with the result of whatever entry was applied at the Append's index.",
                &[REPLY_COMMITTED_OP, WRONG_LEADER],
            ),
            doubled: (
                "The clerk retried it after its first server lost leadership; the retry must be \
                 recognised as a duplicate.",
                &[DEDUP],
            ),
        },
    );
    cfg.end();
}

/// 3B: the duplicate table survives a snapshot and a restart.
///
/// Three servers snapshotting at `max_raft_state` bytes. With both
/// followers down, a clerk sends the leader an Append; the leader starts
/// it, then the clerk's links are cut, so the reply is lost. The followers
/// come back and the Append commits and is applied. Hundreds of Puts make
/// every server snapshot and trim its log past the Append's entry; then every server crashes and restarts from its snapshot. Only
/// then does the clerk reach the servers again and retry its Append, which
/// must be recognised as a duplicate: the duplicate table must be in the
/// snapshot.
///
/// Deterministic for a server whose leader accepts the request with its
/// followers down for a moment (the reference does, for 400 ms); if the
/// Append has not taken effect before the snapshots, a warning says that
/// the run could not test the rule.
#[track_caller]
pub fn dedup_survives_snapshot_and_restart(max_raft_state: usize) {
    let cfg = Config::new(3, Net::Reliable, Some(max_raft_state));
    cfg.begin("a retry after a snapshot and a restart is still a duplicate");
    let (ck, leader) = clerk_at_leader(&cfg);
    let followers: Vec<usize> = cfg.all().into_iter().filter(|&i| i != leader).collect();
    for &i in &followers {
        cfg.shutdown_server(i);
    }
    thread::scope(|scope| {
        let append = InFlightAppend::send(scope, ck);
        cfg.disconnect_client(&append.ends, &cfg.all());
        for &i in &followers {
            cfg.start_server(i);
        }
        cfg.connect_all();
        let mut ck_other = cfg.make_client(&cfg.all());
        if ck_other.get(KEY) != VALUE {
            cfg.warn(
                "the leader did not apply the Append whose reply was lost before the restart, so \
                 this run could not test the duplicate table across a snapshot",
            );
        }
        for i in 0..SNAPSHOT_WRITES {
            ck_other.put(&format!("s{}", i % 10), &i.to_string());
        }
        cfg.check_log_size();
        cfg.restart_all();
        append.complete(&cfg);
    });
    expect_applied_once(
        &cfg,
        &Explanations {
            lost: (
                "It was applied before the servers snapshotted and restarted; after restoring \
                 from their snapshots they must still hold it.",
                &[DEDUP_IN_SNAPSHOT],
            ),
            doubled: (
                "It had been applied once, its reply lost; then every server snapshotted and \
                 restarted, and the clerk's retry (same client id and sequence number) was \
                 applied again: the restored duplicate table did not know it.",
                &[DEDUP_IN_SNAPSHOT, DEDUP],
            ),
        },
    );
    cfg.end();
}
