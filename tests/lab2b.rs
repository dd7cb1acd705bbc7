//! Part 2B: log replication.
//!
//! Ports of the MIT 6.824 2B tests (`TestBasicAgree2B` ... `TestCount2B`),
//! with their limits.

use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use harness::rules::{self, likely_causes};
use harness::{join_or_fail, random_int, Applier, Cmd, Config, Net, ELECTION_TIMEOUT};
use rand::distr::{Alphanumeric, SampleString};

#[test]
fn basic_agree() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("basic agreement");

    for index in 1..=3 {
        let (committed, _) = cfg.n_committed(index);
        assert_eq!(
            committed, 0,
            "{committed} peer(s) applied index {index} before start() was called for it"
        );
        let got = cfg.one(index * 100, servers, false);
        assert_eq!(
            got, index,
            "start() put the command at index {got}, expected index {index} (log indices start \
             at 1 and each command goes right after the last)"
        );
    }

    cfg.end();
}

#[test]
fn rpc_bytes() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("RPC byte count");

    cfg.one(99, servers, false);
    let bytes0 = cfg.bytes_total();

    let mut sent = 0;
    for index in 2..12 {
        let cmd = Alphanumeric.sample_string(&mut rand::rng(), 5000);
        sent += cmd.len() as u64;
        let got = cfg.one(cmd, servers, false);
        assert_eq!(got, index, "got index {got} but expected {index}");
    }

    let got = cfg.bytes_total() - bytes0;
    let expected = servers as u64 * sent;
    assert!(
        got <= expected + 50_000,
        "too many RPC bytes; got {got}, expected at most {} ({expected} + 50000): each command \
         should go to each follower about once (do not resend entries already in flight){}",
        expected + 50_000,
        likely_causes(&[rules::REPLICATION])
    );

    cfg.end();
}

#[test]
fn follower_failure() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("test progressive failure of followers");

    cfg.one(101, servers, false);

    // The leader and the remaining follower agree without the third.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect((leader1 + 1) % servers);
    cfg.one(102, servers - 1, false);
    sleep(ELECTION_TIMEOUT);
    cfg.one(103, servers - 1, false);

    // Disconnect the remaining follower too.
    let leader2 = cfg.check_one_leader();
    cfg.disconnect((leader2 + 1) % servers);
    cfg.disconnect((leader2 + 2) % servers);

    let Some((index, _)) = cfg.start(leader2, 104) else {
        panic!("the leader S{leader2} rejected start(104)");
    };
    assert_eq!(index, 4, "start(104) returned index {index}, expected 4");

    sleep(2 * ELECTION_TIMEOUT);
    assert_nothing_committed(&cfg, index);
    cfg.end();
}

#[test]
fn leader_failure() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("test failure of leaders");

    cfg.one(101, servers, false);

    // The remaining followers elect a new leader.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);
    cfg.one(102, servers - 1, false);
    sleep(ELECTION_TIMEOUT);
    cfg.one(103, servers - 1, false);

    // Disconnect the new leader as well, and submit to every peer.
    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);
    for i in 0..servers {
        cfg.start(i, 104);
    }

    sleep(2 * ELECTION_TIMEOUT);
    assert_nothing_committed(&cfg, 4);
    cfg.end();
}

#[test]
fn fail_agree() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("agreement after follower reconnects");

    cfg.one(101, servers, false);

    // The leader and the remaining follower agree without the third.
    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 1) % servers);
    cfg.one(102, servers - 1, false);
    cfg.one(103, servers - 1, false);
    sleep(ELECTION_TIMEOUT);
    cfg.one(104, servers - 1, false);
    cfg.one(105, servers - 1, false);

    // Back together, they keep the old agreements and make new ones.
    cfg.connect((leader + 1) % servers);
    cfg.one(106, servers, true);
    sleep(ELECTION_TIMEOUT);
    cfg.one(107, servers, true);

    cfg.end();
}

#[test]
fn fail_no_agree() {
    let servers = 5;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("no agreement if too many followers disconnect");

    cfg.one(10, servers, false);

    // 3 of the 4 followers disconnect.
    let leader = cfg.check_one_leader();
    for k in 1..=3 {
        cfg.disconnect((leader + k) % servers);
    }

    let Some((index, _)) = cfg.start(leader, 20) else {
        panic!("the leader S{leader} rejected start(20)");
    };
    assert_eq!(index, 2, "start(20) returned index {index}, expected 2");

    sleep(2 * ELECTION_TIMEOUT);
    assert_nothing_committed(&cfg, index);

    // Repair. The majority may have elected a leader of its own that never
    // saw index 2, so a new command lands at index 2 or 3.
    for k in 1..=3 {
        cfg.connect((leader + k) % servers);
    }
    let leader2 = cfg.check_one_leader();
    let Some((index2, _)) = cfg.start(leader2, 30) else {
        panic!("the new leader S{leader2} rejected start(30)");
    };
    assert!(
        (2..=3).contains(&index2),
        "start(30) on the new leader returned index {index2}; expected 2 or 3"
    );

    cfg.one(1000, servers, true);
    cfg.end();
}

#[test]
fn concurrent_starts() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("concurrent start()s");

    let cfg = &cfg;
    in_one_term(|| {
        let leader = cfg.check_one_leader();
        let (_, term) = cfg.start(leader, 1)?;

        let indices: Vec<u64> = thread::scope(|s| {
            let starts: Vec<_> = (0..5)
                .map(|i| s.spawn(move || cfg.start(leader, 100 + i)))
                .collect();
            starts
                .into_iter()
                .filter_map(join_or_fail)
                .filter(|&(_, term1)| term1 == term)
                .map(|(index, _)| index)
                .collect()
        });
        if (0..servers).any(|j| cfg.state(j).map(|(t, _)| t) != Some(term)) {
            return None; // The term changed: the starts may rightly fail.
        }

        let mut committed = Vec::new();
        for index in indices {
            committed.push(cfg.wait(index, servers, Some(term))?);
        }
        for x in 100..105 {
            assert!(
                committed.contains(&Cmd::Int(x)),
                "command {x}, started concurrently with others in term {term}, is missing from \
                 the committed commands {committed:?}"
            );
        }
        Some(())
    });

    cfg.end();
}

#[test]
fn rejoin() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("rejoin of partitioned leader");

    cfg.one(101, servers, true);

    // The partitioned leader accepts entries it can never commit.
    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);
    for cmd in [102, 103, 104] {
        cfg.start(leader1, cmd);
    }

    // The new leader commits, index 2 included.
    cfg.one(103, 2, true);

    // Partition the new leader; the old one returns and must give up its
    // uncommitted entries.
    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);
    cfg.connect(leader1);
    cfg.one(104, 2, true);

    // All together now.
    cfg.connect(leader2);
    cfg.one(105, servers, true);

    cfg.end();
}

#[test]
fn backup() {
    let servers = 5;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("leader backs up quickly over incorrect follower logs");

    cfg.one(random_int(), servers, true);

    // The leader and one follower are partitioned off and accept lots of
    // commands that cannot commit.
    let leader1 = cfg.check_one_leader();
    for k in 2..=4 {
        cfg.disconnect((leader1 + k) % servers);
    }
    for _ in 0..50 {
        cfg.start(leader1, random_int());
    }
    sleep(ELECTION_TIMEOUT / 2);
    cfg.disconnect(leader1);
    cfg.disconnect((leader1 + 1) % servers);

    // The other three recover and commit lots of commands.
    for k in 2..=4 {
        cfg.connect((leader1 + k) % servers);
    }
    for _ in 0..50 {
        cfg.one(random_int(), 3, true);
    }

    // Their leader and one follower are partitioned off in turn, with
    // more commands that cannot commit.
    let leader2 = cfg.check_one_leader();
    let mut other = (leader1 + 2) % servers;
    if leader2 == other {
        other = (leader2 + 1) % servers;
    }
    cfg.disconnect(other);
    for _ in 0..50 {
        cfg.start(leader2, random_int());
    }
    sleep(ELECTION_TIMEOUT / 2);

    // The original leader and its follower return with the third peer:
    // their logs must be brought back over 50 wrong entries.
    for i in 0..servers {
        cfg.disconnect(i);
    }
    cfg.connect(leader1);
    cfg.connect((leader1 + 1) % servers);
    cfg.connect(other);
    for _ in 0..50 {
        cfg.one(random_int(), 3, true);
    }

    // Now everyone.
    for i in 0..servers {
        cfg.connect(i);
    }
    cfg.one(random_int(), servers, true);

    cfg.end();
}

#[test]
fn count() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("RPC counts aren't too high");
    let rpcs = || (0..servers).map(|j| cfg.rpc_count(j)).sum::<usize>();

    cfg.check_one_leader();
    let election = rpcs();
    assert!(
        (1..=30).contains(&election),
        "{election} RPCs to elect the initial leader; expected 1 to 30"
    );

    let entries: u64 = 10;
    let total2 = in_one_term(|| {
        let leader = cfg.check_one_leader();
        let total1 = rpcs();
        let (first, term) = cfg.start(leader, 1)?;

        let cmds: Vec<u64> = (0..=entries).map(|_| random_int()).collect();
        for (index, &cmd) in (first + 1..).zip(&cmds) {
            let (got, term1) = cfg.start(leader, cmd)?;
            if term1 != term {
                return None;
            }
            assert_eq!(
                got, index,
                "start() on the leader returned index {got}, expected {index}: a leader appends \
                 each new command right after its last entry"
            );
        }

        for (index, &cmd) in (first + 1..).zip(&cmds).take(entries as usize) {
            let committed = cfg.wait(index, servers, Some(term))?;
            assert_eq!(
                committed,
                Cmd::Int(cmd),
                "wrong value committed at index {index}"
            );
        }

        let total2 = rpcs();
        if (0..servers).any(|j| cfg.state(j).map(|(t, _)| t) != Some(term)) {
            return None; // The term changed: RPC counts may rightly be high.
        }
        let limit = (entries as usize + 1 + 3) * 3;
        assert!(
            total2 - total1 <= limit,
            "too many RPCs ({}) for {entries} entries; expected at most {limit} (send new \
             entries at once, but do not send each one more than once per follower){}",
            total2 - total1,
            likely_causes(&[rules::REPLICATION, rules::HEARTBEATS])
        );
        Some(total2)
    });

    sleep(ELECTION_TIMEOUT);
    let idle = rpcs() - total2;
    assert!(
        idle <= 3 * 20,
        "too many RPCs ({idle}) for 1 second of idleness; expected at most 60 (at most 10 \
         heartbeats per second per follower){}",
        likely_causes(&[rules::HEARTBEATS])
    );

    cfg.end();
}

/// Fails unless no peer applied `index`: the leader lost its majority.
#[track_caller]
fn assert_nothing_committed(cfg: &Config, index: u64) {
    let (committed, _) = cfg.n_committed(index);
    assert_eq!(
        committed,
        0,
        "{committed} committed but no majority: index {index} was applied although the leader \
         could reach only a minority (a leader commits an entry only once a majority stores it){}",
        likely_causes(&[
            rules::MAJORITY,
            rules::APPLY_IN_ORDER,
            rules::FOLLOWER_COMMIT
        ])
    );
}

/// Runs `attempt` up to 5 times, 3 s apart, until one finishes within a
/// single term; `attempt` returns `None` when the term changed under it,
/// which makes its checks meaningless.
fn in_one_term<T>(mut attempt: impl FnMut() -> Option<T>) -> T {
    for try_number in 0..5 {
        if try_number > 0 {
            sleep(Duration::from_secs(3)); // Give the peers time to settle.
        }
        if let Some(done) = attempt() {
            return done;
        }
    }
    panic!("term changed too often: five attempts each saw a new election");
}

#[test]
fn stale_append_keeps_entries() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("a stale AppendEntries does not cut entries the follower holds");

    cfg.one(random_int(), servers, true);
    let leader = cfg.check_one_leader();
    let follower = (leader + 1) % servers;
    let third = (leader + 2) % servers;
    cfg.disconnect(third);

    // The leader's first AppendEntries to the follower, with a few
    // entries, waits at the network; the later ones, with all the entries,
    // go through, and everything commits on the two.
    cfg.hold_link(leader, follower, true);
    let mut last = start_many(&cfg, leader, 3);
    let began = Instant::now();
    while cfg.held_count(leader, follower) == 0 {
        if began.elapsed() > ELECTION_TIMEOUT {
            panic!(
                "the leader S{leader} sent no AppendEntries within 1 s of start(){}",
                likely_causes(&[rules::REPLICATION])
            );
        }
        sleep(Duration::from_millis(1));
    }
    cfg.hold_link(leader, follower, false);
    last = last.max(start_many(&cfg, leader, 7));
    cfg.wait(last, 2, None);

    // The first request arrives now, stale: it carries entries the
    // follower holds, and must leave its log as it is. The leader's later
    // requests are held, so nothing repairs the follower, and the leader
    // crashes.
    cfg.hold_link(leader, follower, true);
    let stale = cfg.deliver_held(leader, follower);
    assert!(
        stale > 0,
        "the first AppendEntries was held, but none was delivered"
    );
    cfg.crash1(leader);

    // The follower, the more up to date of the two left, leads; had it cut
    // its log, it would put a new command where both applied another.
    cfg.connect(third);
    cfg.one(random_int(), 2, true);

    cfg.restart(leader);
    cfg.one(random_int(), servers, true);
    cfg.end();
}

#[test]
fn stale_log_cannot_win() {
    let servers = 3;
    let cfg = Config::new(servers, Net::Reliable, Applier::Checking);
    cfg.begin("a candidate without a committed entry cannot win");

    cfg.one(random_int(), servers, true);
    let leader = cfg.check_one_leader();
    let voter = (leader + 1) % servers;
    let stale = (leader + 2) % servers;
    cfg.disconnect(stale);
    let index = cfg.one(random_int(), 2, true);

    // `stale` lacks the entry at `index`, which committed on the leader and
    // the voter. It can reach only the voter, which is the leader's only
    // follower: only the voter's vote could make it leader, and a voter
    // must refuse a candidate whose log is behind its own.
    cfg.disconnect_all();
    cfg.link(leader, voter);
    cfg.link(stale, voter);
    let began = Instant::now();
    while began.elapsed() < 3 * ELECTION_TIMEOUT {
        if let Some((term, true)) = cfg.state(stale) {
            panic!(
                "S{stale} became leader in term {term} without the entry committed at index \
                 {index} (a leader must hold every committed entry: Leader Completeness){}",
                likely_causes(&[rules::UP_TO_DATE_VOTE])
            );
        }
        sleep(Duration::from_millis(10));
    }

    cfg.connect_all();
    cfg.one(random_int(), servers, true);
    cfg.end();
}

/// Starts `count` commands on `leader` and returns the last one's index.
fn start_many(cfg: &Config, leader: usize, count: usize) -> u64 {
    let mut last = 0;
    for _ in 0..count {
        last = cfg
            .start(leader, random_int())
            .unwrap_or_else(|| panic!("the leader S{leader} refused start()"))
            .0;
    }
    last
}
