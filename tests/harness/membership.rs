//! Membership changes (2E) as the tests drive and check them: asking the
//! leader for a change until one accepts it, and waiting until the new
//! configuration is in force everywhere it must be. Raft and KV clusters
//! share these.

use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::config::fail;
use crate::protocol::{Members, Refusal};
use crate::remote_raft::RemoteRaft;
use crate::rules::{self, likely_causes, Rule};
use crate::{Cmd, Config};

/// How long a change may take to be accepted, and then to be in force:
/// new servers catch up, then two configuration entries commit, with
/// elections in between on a faulty network.
pub(crate) const CHANGE_PATIENCE: Duration = Duration::from_secs(15);
/// How often the waits ask the peers.
const POLL: Duration = Duration::from_millis(50);
/// How often a change not yet in force is asked for again.
const ASK_AGAIN: Duration = Duration::from_secs(1);

/// The rules whose violation keeps a change from finishing.
pub(crate) const STALLED_CHANGE_CAUSES: [Rule; 5] = [
    rules::LEARNER_CATCH_UP,
    rules::CONFIG_PROGRESS,
    rules::JOINT_MAJORITY,
    rules::LATEST_CONFIG,
    rules::SNAPSHOT_CONFIG,
];

/// `members` as the stable configuration a peer reports.
pub(crate) fn stable(members: &[usize]) -> Members {
    let mut members = members.to_vec();
    members.sort_unstable();
    Members::Stable(members)
}

/// Asks each running peer in turn for the change to `members` until one
/// (the leader) accepts it, and returns that peer. A peer refusing with
/// `ChangeInProgress` is asked again: an earlier change is finishing.
pub(crate) fn request_change(
    peers: impl Fn() -> Vec<(usize, RemoteRaft)>,
    members: &[usize],
) -> Result<usize, String> {
    let began = Instant::now();
    let mut last = String::from("no peer is running");
    while began.elapsed() < CHANGE_PATIENCE {
        match ask_once(&peers, members)? {
            Ok(leader) => return Ok(leader),
            Err(Some(refusal)) => last = refusal,
            Err(None) => {}
        }
        sleep(POLL);
    }
    Err(format!(
        "no peer accepted the change to {members:?} within {} s ({last}){}",
        CHANGE_PATIENCE.as_secs(),
        likely_causes(&STALLED_CHANGE_CAUSES)
    ))
}

/// Asks each running peer once for the change to `members`: `Ok(leader)`
/// if one accepted, else the last `ChangeInProgress` refusal, if any. An
/// `Invalid` refusal is an error: the tests ask only for valid members.
fn ask_once(
    peers: &impl Fn() -> Vec<(usize, RemoteRaft)>,
    members: &[usize],
) -> Result<Result<usize, Option<String>>, String> {
    let mut in_progress = None;
    for (i, raft) in peers() {
        match raft.change_membership(members.to_vec()) {
            Ok(()) => return Ok(Ok(i)),
            Err(Refusal::NotLeader) => {}
            Err(Refusal::ChangeInProgress) => {
                in_progress = Some(format!("S{i} answered ChangeInProgress"));
            }
            Err(Refusal::Invalid(why)) => {
                return Err(format!(
                    "S{i} refused the change to {members:?} as invalid ({why}), though the \
                     members are distinct peers of the cluster"
                ))
            }
        }
    }
    Ok(Err(in_progress))
}

/// Asks for the change to `members` until it is in force (see
/// [`await_in_force`]), asking again every second: a leader that loses
/// office forgets a change whose learners were still catching up.
pub(crate) fn change_until_in_force(
    peers: impl Fn() -> Vec<(usize, RemoteRaft)>,
    members: &[usize],
    done: impl Fn(usize) -> bool,
) -> Result<(), String> {
    let began = Instant::now();
    loop {
        // Accepted or refused (a change under way), the wait decides.
        let _ = ask_once(&peers, members)?;
        if poll_in_force(&peers, members, &done, began, ASK_AGAIN)? {
            return Ok(());
        }
    }
}

/// Waits until every peer of `members` among `peers` reports the stable
/// configuration `members` and `done(peer)` holds for it (the harness's
/// own evidence that it committed).
pub(crate) fn await_in_force(
    peers: impl Fn() -> Vec<(usize, RemoteRaft)>,
    members: &[usize],
    done: impl Fn(usize) -> bool,
) -> Result<(), String> {
    poll_in_force(&peers, members, &done, Instant::now(), Duration::MAX).map(|_| ())
}

/// Polls for at most `round` whether the change to `members` is in force:
/// `Ok(true)` once it is, `Ok(false)` when the round ends first, an error
/// once [`CHANGE_PATIENCE`] has passed since `began`.
fn poll_in_force(
    peers: &impl Fn() -> Vec<(usize, RemoteRaft)>,
    members: &[usize],
    done: &impl Fn(usize) -> bool,
    began: Instant,
    round: Duration,
) -> Result<bool, String> {
    let round_began = Instant::now();
    while round_began.elapsed() < round {
        match check_in_force(peers, members, done) {
            Ok(()) => return Ok(true),
            Err(behind) if began.elapsed() > CHANGE_PATIENCE => {
                return Err(stalled(members, behind, done))
            }
            Err(_) => sleep(POLL),
        }
    }
    Ok(false)
}

/// A member of `members` that does not use that configuration yet (or for
/// which `done` fails), with the configuration it reports.
type Behind = (usize, Option<Members>);

fn check_in_force(
    peers: &impl Fn() -> Vec<(usize, RemoteRaft)>,
    members: &[usize],
    done: &impl Fn(usize) -> bool,
) -> Result<(), Behind> {
    let target = stable(members);
    for (i, raft) in peers() {
        if !members.contains(&i) {
            continue;
        }
        let seen = raft.membership();
        if seen.as_ref() != Some(&target) || !done(i) {
            return Err((i, seen));
        }
    }
    Ok(())
}

/// The failure message of a change that did not finish in time.
fn stalled(members: &[usize], (i, seen): Behind, done: &impl Fn(usize) -> bool) -> String {
    let seen = match seen {
        Some(Members::Stable(members)) => format!("{members:?}"),
        Some(Members::Joint { old, new }) => format!("{old:?}+{new:?} (joint)"),
        None => "nothing (its process is gone)".into(),
    };
    let unapplied = if done(i) {
        ""
    } else {
        ", and has not applied the configuration's entry"
    };
    format!(
        "the change to {members:?} did not finish within {} s: S{i} uses {seen}{unapplied}{}",
        CHANGE_PATIENCE.as_secs(),
        likely_causes(&STALLED_CHANGE_CAUSES)
    )
}

impl Config {
    /// Asks the leader (whichever peer accepts) to change the voting
    /// members to `members`, and returns it. Fails the test if no peer
    /// accepts within 15 s.
    #[track_caller]
    pub fn request_change(&self, members: &[usize]) -> usize {
        self.check();
        request_change(|| self.connected_rafts(), members).unwrap_or_else(|problem| fail(problem))
    }

    /// Waits until every connected member of `members` uses the stable
    /// configuration `members` and has applied its entry, and returns the
    /// index of that entry on the first member. Fails the test after 15 s.
    #[track_caller]
    pub fn await_config(&self, members: &[usize]) -> u64 {
        let result = await_in_force(
            || self.connected_rafts(),
            members,
            |i| self.config_entry(i, members).is_some(),
        );
        self.config_index(members, result)
    }

    /// Changes the voting members to `members` and waits until the change
    /// is in force on every connected member (asking again while it is not:
    /// a change can be lost with its leader); returns the index of the
    /// configuration's entry on the first member. Fails the test after 15 s.
    #[track_caller]
    pub fn change_to(&self, members: &[usize]) -> u64 {
        self.check();
        let result = change_until_in_force(
            || self.connected_rafts(),
            members,
            |i| self.config_entry(i, members).is_some(),
        );
        self.config_index(members, result)
    }

    /// Where peer `i` applied the entry of the stable configuration `members`.
    fn config_entry(&self, i: usize, members: &[usize]) -> Option<u64> {
        let entry = Cmd::Membership(stable(members));
        self.logs().lock().applied_index_of(i, &entry)
    }

    #[track_caller]
    fn config_index(&self, members: &[usize], in_force: Result<(), String>) -> u64 {
        in_force.unwrap_or_else(|problem| fail(problem));
        self.check();
        let first = members.iter().find_map(|&i| self.config_entry(i, members));
        first.unwrap_or_else(|| fail(format!("no member of {members:?} is connected")))
    }
}
