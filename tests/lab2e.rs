//! Part 2E: membership changes by joint consensus (§6 of the extended
//! paper).
//!
//! Servers join as learners, the leader appends `C_old,new` and then
//! `C_new`, and the checks know the configuration: one leader per term
//! among every server, commands committed on the configuration in force.
//! Scenarios freeze a change in its joint phase (by cutting the old
//! followers off) to crash the leader there, hold the links to learners to
//! see that commits go on while they catch up, and bring back a removed
//! server that campaigns with ever higher terms.

use std::thread::sleep;
use std::time::{Duration, Instant};

use harness::kv::{generic_test, GenericTest};
use harness::protocol::{Members, Refusal};
use harness::rules::{self, likely_causes};
use harness::{random_int, Applier, Config, Net, ELECTION_TIMEOUT, SNAPSHOT_INTERVAL};

/// Commands committed in each phase of a scenario.
const PHASE_COMMANDS: usize = 5;
/// How long a frozen joint phase must stay frozen, and a removed server is
/// watched campaigning.
const WATCH: Duration = Duration::from_secs(2);
/// How long a leader may take to append `C_old,new` once its learners can
/// catch up.
const JOINT_PATIENCE: Duration = Duration::from_secs(5);

#[test]
fn add_one_server() {
    let (cfg, _, _) = change_once(
        "add one server to three",
        4,
        &[0, 1, 2],
        Net::Reliable,
        |_| vec![0, 1, 2, 3],
    );
    cfg.end();
}

#[test]
fn add_two_servers() {
    let (cfg, _, _) = change_once(
        "grow from three to five",
        5,
        &[0, 1, 2],
        Net::Reliable,
        |_| vec![0, 1, 2, 3, 4],
    );
    cfg.end();
}

#[test]
fn remove_follower() {
    let (cfg, _, _) = change_once(
        "remove a follower",
        5,
        &[0, 1, 2, 3, 4],
        Net::Reliable,
        |leader| all_but(5, &[(leader + 1) % 5]),
    );
    cfg.end();
}

#[test]
fn remove_leader() {
    let (cfg, leader, target) = change_once(
        "remove the leader",
        5,
        &[0, 1, 2, 3, 4],
        Net::Reliable,
        |leader| all_but(5, &[leader]),
    );
    // C_new has committed: the old leader stepped down, and a member leads.
    if let Some((term, true)) = cfg.state(leader) {
        panic!(
            "S{leader} still leads term {term} after C_new = {target:?}, which leaves it out, \
             committed{}",
            likely_causes(&[rules::CONFIG_PROGRESS])
        );
    }
    cfg.wait_leader_among(&target);
    cfg.one(random_int(), target.len(), true);
    cfg.end();
}

#[test]
fn replace_majority() {
    let (cfg, _, _) = change_once(
        "replace a majority ({0,1,2} -> {2,3,4})",
        5,
        &[0, 1, 2],
        Net::Reliable,
        |_| vec![2, 3, 4],
    );
    cfg.end();
}

#[test]
fn changes_unreliable() {
    let cfg = Config::with_members(5, Net::Unreliable, Applier::Checking, &[0, 1, 2]);
    cfg.begin("3 -> 5 -> 3 -> 4 servers (unreliable)");
    let first = commit_phase(&cfg, 3);
    for target in [&[0, 1, 2, 3, 4][..], &[2, 3, 4], &[0, 1, 3, 4]] {
        cfg.change_to(target);
        commit_phase(&cfg, target.len());
    }
    cfg.wait(first, 4, None);
    cfg.end();
}

#[test]
fn changes_under_partitions() {
    let cfg = Config::with_members(5, Net::Reliable, Applier::Checking, &[0, 1, 2]);
    cfg.begin("changes while the leader is cut off");
    let first = commit_phase(&cfg, 3);
    for target in [&[0, 1, 2, 3, 4][..], &[1, 2, 4], &[0, 1, 2, 3]] {
        // The leader accepts the change and is cut off at once: whatever
        // part of it got out, the rest of the cluster either finishes it
        // or rolls it back, under one leader per term.
        let leader = cfg.request_change(target);
        cfg.disconnect(leader);
        cfg.check_one_leader_per_term(ELECTION_TIMEOUT);
        cfg.connect(leader);
        cfg.change_to(target);
        commit_phase(&cfg, target.len());
    }
    cfg.wait(first, 4, None);
    cfg.end();
}

#[test]
fn leader_crash_in_joint_phase() {
    let frozen = freeze_in_joint("the leader crashes in the joint phase");
    let cfg = &frozen.cfg;
    cfg.crash1(frozen.leader);
    for &follower in &frozen.old_followers {
        cfg.connect(follower);
    }
    recover(cfg, frozen.leader, &frozen.target, frozen.before);
}

#[test]
fn leader_crash_after_c_new() {
    // The learners hear the leader only when the test lets them: C_new,
    // whose majority needs one of them, goes out only to them.
    let (cfg, leader, target, before) =
        change_with_held_learners("the leader crashes right after appending C_new");
    let new = Members::Stable(target.clone());
    await_membership(
        &cfg,
        leader,
        |m| *m == new,
        "appended C_new",
        || {
            for learner in [3, 4] {
                cfg.deliver_held(leader, learner);
            }
        },
    );
    cfg.crash1(leader);
    recover(&cfg, leader, &target, before);
}

#[test]
fn learners_catch_up_before_voting() {
    // The new servers hear nothing yet: they cannot catch up, so C_old,new
    // (whose new majority needs one of them) must wait, and commits go on
    // under {0,1,2}.
    let (cfg, leader, target, first) =
        change_with_held_learners("commits go on while new servers catch up");
    check_still_old(&cfg, leader);
    commit_phase(&cfg, 3);
    check_still_old(&cfg, leader);
    for learner in [3, 4] {
        cfg.hold_link(leader, learner, false);
        cfg.deliver_held(leader, learner);
    }
    cfg.await_config(&target);
    commit_phase(&cfg, 3);
    cfg.wait(first, 3, None);
    cfg.end();
}

#[test]
fn removed_server_does_not_disrupt() {
    let cfg = Config::with_members(4, Net::Reliable, Applier::Checking, &[0, 1, 2, 3]);
    cfg.begin("a removed server keeps campaigning");
    let leader = cfg.check_one_leader();
    commit_phase(&cfg, 4);
    // Cut off, the removed server never hears of C_new: it stays a member
    // in its own eyes and stands for election, term after term.
    let removed = (leader + 1) % 4;
    let target = all_but(4, &[removed]);
    cfg.disconnect(removed);
    cfg.change_to(&target);
    cfg.connect(removed);
    let (term, _) = cfg.state(leader).expect("the leader is up");
    let began = Instant::now();
    while began.elapsed() < WATCH {
        cfg.one(random_int(), target.len(), false);
        if cfg.state(leader) != Some((term, true)) {
            panic!(
                "S{leader} led term {term} with a working majority, but no longer does since \
                 the removed S{removed} (now in term {}) came back{}",
                cfg.state(removed).map_or(0, |(t, _)| t),
                likely_causes(&[rules::REMOVED_NO_DISRUPT])
            );
        }
        sleep(Duration::from_millis(100));
    }
    let (removed_term, _) = cfg.state(removed).expect("the removed server is up");
    assert!(
        removed_term > term,
        "test setup: the removed S{removed} (term {removed_term}) never campaigned past the \
         leader's term {term}"
    );
    cfg.end();
}

#[test]
fn second_change_refused() {
    let cfg = Config::with_members(4, Net::Reliable, Applier::Checking, &[0, 1, 2]);
    cfg.begin("one change at a time");
    let leader = cfg.check_one_leader();
    commit_phase(&cfg, 3);
    // The new server is cut off, so the change stays in its learner phase.
    cfg.disconnect(3);
    cfg.request_change(&[0, 1, 2, 3]);
    for other in [&[0, 1, 2][..], &[0, 1]] {
        let answer = cfg.change_membership(leader, other);
        assert_eq!(
            answer,
            Err(Some(Refusal::ChangeInProgress)),
            "S{leader} answered {answer:?} to a change to {other:?} while the change to \
             [0, 1, 2, 3] is in progress{}",
            likely_causes(&[rules::ONE_CHANGE])
        );
    }
    let follower = (leader + 1) % 3;
    let answer = cfg.change_membership(follower, &[0, 1]);
    assert_eq!(
        answer,
        Err(Some(Refusal::NotLeader)),
        "the follower S{follower} answered {answer:?} to a change request"
    );
    for invalid in [&[][..], &[0, 9], &[1, 1, 2]] {
        let answer = cfg.change_membership(leader, invalid);
        assert!(
            matches!(answer, Err(Some(Refusal::Invalid(_)))),
            "S{leader} answered {answer:?} to the invalid members {invalid:?}"
        );
    }
    cfg.connect(3);
    cfg.await_config(&[0, 1, 2, 3]);
    commit_phase(&cfg, 4);
    cfg.end();
}

#[test]
fn config_survives_restarts() {
    let cfg = Config::with_members(5, Net::Reliable, Applier::Checking, &[0, 1, 2]);
    cfg.begin("the configuration survives restarts of every server");
    commit_phase(&cfg, 3);
    for target in [&[0, 1, 2, 3, 4][..], &[1, 3, 4]] {
        cfg.change_to(target);
        for i in 0..cfg.n() {
            cfg.crash1(i);
        }
        for i in 0..cfg.n() {
            cfg.restart(i);
        }
        for &i in target {
            check_restored_config(&cfg, i, target, rules::LATEST_CONFIG);
        }
        commit_phase(&cfg, target.len());
    }
    cfg.end();
}

#[test]
fn config_travels_in_snapshots() {
    let cfg = Config::with_members(4, Net::Reliable, Applier::Snapshotting, &[0, 1, 2]);
    cfg.begin("snapshots carry the configuration");
    let leader = cfg.check_one_leader();
    commit_phase(&cfg, 3);
    let target = [0, 1, 2, 3];
    // The lagging member misses the change and everything after it.
    let lagging = (leader + 1) % 3;
    cfg.disconnect(lagging);
    cfg.change_to(&target);
    for _ in 0..3 * SNAPSHOT_INTERVAL {
        cfg.one(random_int(), 3, true);
    }
    // Every connected server has snapshotted past the configuration
    // entries: a restart finds the configuration only in the snapshot.
    cfg.restart(leader);
    check_restored_config(&cfg, leader, &target, rules::SNAPSHOT_CONFIG);
    // The lagging member gets a snapshot, which is all it learns of C_new.
    cfg.connect(lagging);
    cfg.await_config(&target);
    cfg.one(random_int(), 4, true);
    cfg.end();
}

#[test]
fn kv_changes_membership() {
    generic_test(GenericTest {
        clients: 5,
        membership_changes: true,
        ..GenericTest::default()
    });
}

#[test]
fn kv_changes_membership_unreliable() {
    generic_test(GenericTest {
        clients: 5,
        net: Net::Unreliable,
        membership_changes: true,
        ..GenericTest::default()
    });
}

/// A cluster of `slots` servers, `initial` voting, that changes once to
/// `target(leader)`, with commands committed before and after; returns it
/// (for the test's last checks and `end`), the leader before the change,
/// and the target.
fn change_once(
    title: &str,
    slots: usize,
    initial: &[usize],
    net: Net,
    target: impl Fn(usize) -> Vec<usize>,
) -> (Config, usize, Vec<usize>) {
    let cfg = Config::with_members(slots, net, Applier::Checking, initial);
    cfg.begin(title);
    let leader = cfg.check_one_leader();
    let first = commit_phase(&cfg, initial.len());
    let target = target(leader);
    cfg.change_to(&target);
    commit_phase(&cfg, target.len());
    // Every member holds the whole log: new servers caught up from index 1.
    cfg.wait(first, target.len(), None);
    (cfg, leader, target)
}

/// Commits a few commands on `expected` servers; returns the first's index.
#[track_caller]
fn commit_phase(cfg: &Config, expected: usize) -> u64 {
    let first = cfg.one(random_int(), expected, true);
    for _ in 1..PHASE_COMMANDS {
        cfg.one(random_int(), expected, true);
    }
    first
}

/// `0..n` without `left_out`.
fn all_but(n: usize, left_out: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| !left_out.contains(i)).collect()
}

/// A cluster of 5 with `{0,1,2}` voting, some commands committed, asked to
/// change to `{leader,3,4}` while the leader's requests to the learners 3
/// and 4 are held; returns it, the leader, the target, and the first
/// command's index.
fn change_with_held_learners(title: &str) -> (Config, usize, Vec<usize>, u64) {
    let cfg = Config::with_members(5, Net::Reliable, Applier::Checking, &[0, 1, 2]);
    cfg.begin(title);
    let leader = cfg.check_one_leader();
    let first = commit_phase(&cfg, 3);
    let target = sorted(vec![leader, 3, 4]);
    for learner in [3, 4] {
        cfg.hold_link(leader, learner, true);
    }
    cfg.request_change(&target);
    (cfg, leader, target, first)
}

#[test]
fn learners_do_not_count_toward_commits() {
    let cfg = Config::with_members(5, Net::Reliable, Applier::Checking, &[0, 1, 2]);
    cfg.begin("servers catching up as learners do not count toward a commit");
    let leader = cfg.check_one_leader();
    let before = commit_phase(&cfg, 3);
    // The leader keeps no voter of {0,1,2} but itself; the learners it
    // adds are a majority of the five, not of the voters.
    let old_followers = all_but(3, &[leader]);
    for &follower in &old_followers {
        cfg.disconnect(follower);
    }
    let (index, _) = cfg.start(leader, random_int()).unwrap_or_else(|| {
        panic!("the leader S{leader} refused start() just after its followers left")
    });
    let target = all_but(5, &[]);
    cfg.request_change(&target);
    let began = Instant::now();
    while began.elapsed() < WATCH {
        let (count, _) = cfg.n_committed(index);
        assert_eq!(
            count,
            0,
            "{count} peers committed index {index}, which only S{leader} of the voters \
             {{0,1,2}} holds, with learners catching up{}",
            likely_causes(&[rules::LEARNER_CATCH_UP, rules::LEADER_COMMIT])
        );
        sleep(Duration::from_millis(100));
    }
    for &follower in &old_followers {
        cfg.connect(follower);
    }
    cfg.change_to(&target);
    cfg.wait(before, 5, None);
    commit_phase(&cfg, 5);
    cfg.end();
}

/// A change frozen in its joint phase: `{0,1,2}` -> `{leader,3,4}` with the
/// leader's old followers cut off, so `C_old,new` can reach the learners
/// but commit nowhere (it needs a majority of `{0,1,2}`).
struct Frozen {
    cfg: Config,
    leader: usize,
    old_followers: Vec<usize>,
    target: Vec<usize>,
    /// A command committed before the change.
    before: u64,
}

fn freeze_in_joint(title: &str) -> Frozen {
    let cfg = Config::with_members(5, Net::Reliable, Applier::Checking, &[0, 1, 2]);
    cfg.begin(title);
    let leader = cfg.check_one_leader();
    let before = commit_phase(&cfg, 3);
    let old_followers = all_but(3, &[leader]);
    let target = sorted(vec![leader, 3, 4]);
    for &follower in &old_followers {
        cfg.disconnect(follower);
    }
    cfg.request_change(&target);
    // The leader may already be past C_old,new only by committing it
    // without {0,1,2}: the watch below names that.
    let new = Members::Stable(target.clone());
    let appended = |m: &Members| m.is_joint() || *m == new;
    await_membership(&cfg, leader, appended, "appended C_old,new", || {});
    // Without a majority of {0,1,2}, C_old,new cannot commit: the leader
    // must stay in the joint phase, though the learners (a majority of
    // C_new with it) hold the entry.
    let began = Instant::now();
    while began.elapsed() < WATCH {
        match cfg.membership(leader) {
            Some(joint) if joint.is_joint() => {}
            other => panic!(
                "S{leader} moved on to {other:?} while C_old,new was on none of the old \
                 followers {old_followers:?}: it committed without a majority of C_old{}",
                likely_causes(&[rules::JOINT_MAJORITY])
            ),
        }
        sleep(Duration::from_millis(100));
    }
    Frozen {
        cfg,
        leader,
        old_followers,
        target,
        before,
    }
}

/// After the leader of a change to `target` crashed: one leader per term
/// while the rest recover, then the old leader restarts, the change
/// finishes (it completed, or rolled back and is asked again), and the
/// command committed `before` the change is on every member.
fn recover(cfg: &Config, leader: usize, target: &[usize], before: u64) {
    cfg.check_one_leader_per_term(2 * ELECTION_TIMEOUT);
    cfg.restart(leader);
    cfg.change_to(target);
    commit_phase(cfg, target.len());
    cfg.wait(before, target.len(), None);
    cfg.end();
}

/// `members`, in increasing order.
fn sorted(mut members: Vec<usize>) -> Vec<usize> {
    members.sort_unstable();
    members
}

/// Waits until peer `i`'s configuration satisfies `wanted` (it `did` what
/// the test waits for), calling `between` between looks.
#[track_caller]
fn await_membership(
    cfg: &Config,
    i: usize,
    wanted: impl Fn(&Members) -> bool,
    did: &str,
    between: impl Fn(),
) {
    let began = Instant::now();
    loop {
        let seen = cfg.membership(i);
        if seen.as_ref().is_some_and(&wanted) {
            return;
        }
        if began.elapsed() > JOINT_PATIENCE {
            panic!(
                "S{i} has not {did} within {} s of the change request: it uses {seen:?} (a \
                 server uses the latest configuration in its log, committed or not){}",
                JOINT_PATIENCE.as_secs(),
                likely_causes(&[
                    rules::LATEST_CONFIG,
                    rules::LEARNER_CATCH_UP,
                    rules::CONFIG_PROGRESS
                ])
            );
        }
        between();
        sleep(Duration::from_millis(10));
    }
}

/// Leader `i` still uses `{0,1,2}`: the servers it adds have received
/// nothing, so it cannot have appended `C_old,new` yet.
#[track_caller]
fn check_still_old(cfg: &Config, i: usize) {
    match cfg.membership(i) {
        Some(Members::Stable(members)) if members == [0, 1, 2] => {}
        other => panic!(
            "S{i} uses {other:?} while the servers it adds have received nothing: it must \
             catch them up as learners before it appends C_old,new{}",
            likely_causes(&[rules::LEARNER_CATCH_UP])
        ),
    }
}

/// Right after a restart, peer `i` uses `members` (from its saved log or
/// snapshot, per `rule`).
#[track_caller]
fn check_restored_config(cfg: &Config, i: usize, members: &[usize], rule: rules::Rule) {
    let seen = cfg.membership(i);
    if seen != Some(Members::Stable(members.to_vec())) {
        panic!(
            "S{i} restarted with the configuration {seen:?}, not {members:?}, which was in \
             force when it crashed{}",
            likely_causes(&[rule, rules::LATEST_CONFIG])
        );
    }
}
