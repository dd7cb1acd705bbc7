//! Checks of whole histories: hand-made ones with known answers, and ones
//! recorded from simulated servers.

use std::fs;
use std::panic;
use std::time::{Duration, Instant};

use super::simulation::{simulate, Server, Simulated, Workload};
use super::*;

/// A generous budget for histories that must be decided.
const AMPLE: Duration = Duration::from_secs(10);

/// An operation of `client` called at `call_ms` and returned at
/// `return_ms` (milliseconds).
fn op(client: usize, input: KvInput, output: &str, call_ms: u64, return_ms: u64) -> KvOperation {
    KvOperation {
        client_id: client,
        input,
        output: output.to_string(),
        called_at: Duration::from_millis(call_ms),
        returned_at: Duration::from_millis(return_ms),
    }
}

fn get(key: &str) -> KvInput {
    KvInput::Get {
        key: key.to_string(),
    }
}

fn put(key: &str, value: &str) -> KvInput {
    KvInput::Put {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn append(key: &str, value: &str) -> KvInput {
    KvInput::Append {
        key: key.to_string(),
        value: value.to_string(),
    }
}

/// The only failing partition's longest prefix and unplaceable operation.
fn sole_failure(outcome: CheckOutcome) -> (String, Vec<usize>, usize) {
    let CheckOutcome::NotLinearizable(counterexample) = outcome else {
        panic!("expected not linearizable, got {outcome:?}");
    };
    let failures: Vec<_> = counterexample.failures().collect();
    assert_eq!(failures.len(), 1, "{counterexample:?}");
    let PartitionVerdict::NotLinearizable {
        longest_prefix,
        unplaceable,
    } = &failures[0].verdict
    else {
        unreachable!("failures() yields only failures");
    };
    (
        failures[0].name.clone(),
        longest_prefix.clone(),
        *unplaceable,
    )
}

/// The panic message of `run`, which must panic.
fn panic_message(run: impl FnOnce() + panic::UnwindSafe) -> String {
    let payload = panic::catch_unwind(run).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_sequential_history_is_linearizable() {
    let history = [
        op(0, put("x", "1"), "", 0, 1),
        op(1, get("x"), "1", 2, 3),
        op(0, append("x", "2"), "", 4, 5),
        op(2, get("x"), "12", 6, 7),
        op(1, get("y"), "", 8, 9),
    ];
    assert_eq!(check_kv(&history, AMPLE), CheckOutcome::Linearizable);
}

#[test]
fn overlapping_calls_may_see_a_concurrent_write_or_not() {
    let history = [
        op(0, put("x", "a"), "", 0, 10),
        op(1, get("x"), "", 1, 2),
        op(2, get("x"), "a", 3, 4),
        op(1, append("x", "b"), "", 5, 12),
        op(2, get("x"), "a", 6, 7),
        op(3, get("x"), "ab", 11, 13),
        op(1, get("x"), "ab", 14, 15),
    ];
    assert_eq!(check_kv(&history, AMPLE), CheckOutcome::Linearizable);
}

#[test]
fn operations_that_merely_touch_count_as_concurrent() {
    // The put returns at the very instant the get is called.
    let history = [op(0, put("x", "1"), "", 0, 5), op(1, get("x"), "", 5, 6)];
    assert_eq!(check_kv(&history, AMPLE), CheckOutcome::Linearizable);
}

#[test]
fn a_stale_read_is_caught() {
    let history = [
        op(0, put("x", "1"), "", 0, 1),
        op(0, put("x", "2"), "", 2, 3),
        op(1, get("x"), "1", 4, 5),
    ];
    let (name, longest_prefix, unplaceable) = sole_failure(check_kv(&history, AMPLE));
    assert_eq!(name, "key \"x\"");
    assert_eq!(longest_prefix, vec![0, 1]);
    assert_eq!(unplaceable, 2);
}

#[test]
fn a_lost_append_is_caught() {
    let history = [
        op(0, append("x", "a"), "", 0, 4),
        op(1, append("x", "b"), "", 1, 5),
        op(2, get("x"), "b", 6, 7),
    ];
    let (_, longest_prefix, unplaceable) = sole_failure(check_kv(&history, AMPLE));
    assert_eq!(longest_prefix.len(), 2);
    assert_eq!(unplaceable, 2);
}

#[test]
fn a_read_of_a_value_never_written_is_caught() {
    let history = [
        op(0, put("x", "1"), "", 0, 10),
        op(1, get("x"), "7", 2, 12),
        op(2, put("x", "2"), "", 3, 11),
    ];
    let (_, _, unplaceable) = sole_failure(check_kv(&history, AMPLE));
    assert_eq!(unplaceable, 1);
}

#[test]
fn backtracking_finds_an_order_the_first_choice_misses() {
    // Trying the earliest call first places put "1" then put "2", after
    // which the get cannot read "1"; only put "2" before put "1" works.
    let history = [
        op(0, put("x", "1"), "", 0, 10),
        op(1, put("x", "2"), "", 1, 11),
        op(2, get("x"), "1", 12, 13),
    ];
    let verdict = search::linearize(&KvModel, &history, &[0, 1, 2], None);
    assert_eq!(
        verdict,
        PartitionVerdict::Linearizable {
            order: vec![1, 0, 2]
        }
    );
}

#[test]
fn keys_are_checked_separately() {
    // As one register this would fail: get x follows put y "2". Key by
    // key it is fine.
    let history = [
        op(0, put("x", "1"), "", 0, 1),
        op(1, put("y", "2"), "", 2, 3),
        op(0, get("x"), "1", 4, 5),
        op(1, get("y"), "2", 6, 7),
    ];
    assert_eq!(check_kv(&history, AMPLE), CheckOutcome::Linearizable);
}

#[test]
fn a_failure_is_reported_for_its_key_only() {
    let history = [
        op(0, put("x", "1"), "", 0, 1),
        op(1, put("y", "2"), "", 2, 3),
        op(0, get("x"), "1", 4, 5),
        op(1, get("y"), "", 6, 7),
    ];
    let CheckOutcome::NotLinearizable(counterexample) = check_kv(&history, AMPLE) else {
        panic!("expected not linearizable");
    };
    let verdicts: Vec<_> = counterexample
        .partitions
        .iter()
        .map(|partition| (partition.name.as_str(), partition.verdict.clone()))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (
                "key \"x\"",
                PartitionVerdict::Linearizable { order: vec![0, 2] }
            ),
            (
                "key \"y\"",
                PartitionVerdict::NotLinearizable {
                    longest_prefix: vec![1],
                    unplaceable: 3
                }
            ),
        ]
    );
}

#[test]
fn look_ahead_refutes_an_impossible_read_among_many_concurrent_writes() {
    // 24 concurrent appends and a put could be ordered in 25! ways; the
    // read's value rules them all out at once.
    let mut history: Vec<_> = (0..24)
        .map(|client| op(client, append("x", &format!("<{client}>")), "", 0, 100))
        .collect();
    history.push(op(24, put("x", "p"), "", 0, 100));
    history.push(op(25, get("x"), "p<3><1>!", 0, 100));
    let started = Instant::now();
    let (_, longest_prefix, unplaceable) = sole_failure(check_kv(&history, AMPLE));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(unplaceable, 25);
    assert!(longest_prefix.len() <= 3, "{longest_prefix:?}");
}

/// A model the search cannot prune: a log of pushed numbers, kept as the
/// count and an order-sensitive hash, and a read of both.
struct PushLog;

/// An operation on a [`PushLog`].
#[derive(Clone, Debug)]
enum PushLogInput {
    Push(u64),
    Read { count: u64, hash: u64 },
}

impl Model for PushLog {
    type Input = PushLogInput;
    type Output = ();
    type State = (u64, u64);

    fn init(&self) -> (u64, u64) {
        (0, 0)
    }

    fn step(
        &self,
        &(count, hash): &(u64, u64),
        input: &PushLogInput,
        _: &(),
    ) -> Option<(u64, u64)> {
        match *input {
            PushLogInput::Push(value) => {
                Some((count + 1, hash.wrapping_mul(31).wrapping_add(value)))
            }
            PushLogInput::Read { count: c, hash: h } => {
                ((c, h) == (count, hash)).then_some((count, hash))
            }
        }
    }

    fn describe_operation(&self, input: &PushLogInput, _: &()) -> String {
        format!("{input:?}")
    }

    fn describe_state(&self, state: &(u64, u64)) -> String {
        format!("{state:?}")
    }
}

/// 24 concurrent pushes and a concurrent read of more pushes than there
/// are: the search has to try every order of the pushes to be sure.
fn hopeless_push_log() -> Vec<Operation<PushLogInput, ()>> {
    let concurrent = |client: usize, input| Operation {
        client_id: client,
        input,
        output: (),
        called_at: Duration::ZERO,
        returned_at: Duration::from_secs(1),
    };
    let mut history: Vec<_> = (0..24)
        .map(|client| concurrent(client, PushLogInput::Push(client as u64)))
        .collect();
    history.push(concurrent(24, PushLogInput::Read { count: 99, hash: 0 }));
    history
}

#[test]
fn a_search_that_outlasts_its_budget_is_inconclusive() {
    let budget = Duration::from_millis(20);
    let started = Instant::now();
    let outcome = check(&PushLog, &hopeless_push_log(), budget);
    assert_eq!(outcome, CheckOutcome::Inconclusive { budget });
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "budget not kept"
    );
}

#[test]
fn an_inconclusive_check_fails_the_assertion_with_its_own_message() {
    let message = panic_message(|| {
        assert_linearizable(&PushLog, &hopeless_push_log(), Duration::from_millis(10));
    });
    for part in [
        "linearizability check inconclusive: the search ran out of its 0.01 s budget before \
         deciding on history (25 operations",
        "does not say your service is wrong",
        "not proven correct either",
        "Rerun the test",
        "25 operations, the longest of which took 1.0 s",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

#[test]
fn a_check_reports_how_long_each_partition_took() {
    let history = vec![
        op(0, put("x", "1"), "", 0, 10),
        op(1, get("x"), "1", 20, 30),
        op(0, put("y", "2"), "", 40, 50),
    ];
    let (outcome, stats) = check_with_stats(&KvModel, &history, AMPLE);
    assert_eq!(outcome, CheckOutcome::Linearizable);
    assert_eq!(stats.operations, 3);
    assert_eq!(stats.longest_operation, Duration::from_millis(10));
    let names: Vec<_> = stats.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["key \"x\"", "key \"y\""]);
    assert!(stats.partitions.iter().all(|p| p.decided));
    assert_eq!(stats.undecided().count(), 0);
    let line = stats.to_string();
    assert!(
        line.starts_with("3 operations in 2 partitions checked in "),
        "{line}"
    );
    assert!(line.contains("; slowest: key "), "{line}");
}

#[test]
fn a_failed_check_writes_a_page_showing_the_operation_it_could_not_place() {
    let history = [
        op(0, put("x", "<1>"), "", 0, 1),
        op(0, put("x", "<2>"), "", 2, 3),
        op(1, get("x"), "<1>", 4, 5),
        op(2, put("y", "3"), "", 0, 9),
    ];
    let message = panic_message(|| {
        assert_kv_linearizable(&history, AMPLE);
    });
    let first_line = message.lines().next().unwrap_or_default();
    let path = first_line
        .strip_prefix("history is not linearizable; see ")
        .unwrap_or_else(|| panic!("unexpected message: {message}"));
    assert!(
        message.contains(r#"key "x": after a linearizable prefix of 2 of its 3 operations"#),
        "{message}"
    );
    let page = fs::read_to_string(path).expect("the page was written");
    fs::remove_file(path).expect("the page can be removed");
    let failing_bar = r#"<div class="op unplaceable""#;
    let failing_operation = "get(&quot;x&quot;) -&gt; &quot;&lt;1&gt;&quot;";
    assert_eq!(page.matches(failing_bar).count(), 1);
    let bar = &page[page.find(failing_bar).unwrap()..];
    assert!(bar[..bar.find("</div>").unwrap()].contains(failing_operation));
    assert!(page.contains("key &quot;y&quot;: linearizable (1 operations)"));
    assert!(page.contains(r#"<span class="n">2</span>put(&quot;x&quot;, &quot;&lt;2&gt;&quot;)"#));
    assert!(!page.contains("http"), "the page must not fetch anything");
}

#[test]
fn a_server_that_reads_from_a_lagging_follower_is_caught() {
    let workload = Workload {
        clients: 5,
        operations_per_client: 100,
        keys: 2,
        get_percent: 50,
        put_percent: 25,
        stall_percent: 0,
        seed: 7,
    };
    let lag = Duration::from_millis(5);
    let stale = simulate(&workload, Server::StaleFollowerReads { lag });
    assert!(stale.stale_reads > 0, "the simulation served no stale read");
    assert!(matches!(
        check_kv(&stale.history, AMPLE),
        CheckOutcome::NotLinearizable(_)
    ));
    // The same clients against a correct server pass.
    let correct = simulate(&workload, Server::Correct);
    assert_eq!(correct.stale_reads, 0);
    assert_eq!(
        check_kv(&correct.history, AMPLE),
        CheckOutcome::Linearizable
    );
}

#[test]
fn concurrent_appends_seen_only_by_a_final_read_check_fast() {
    // MIT's "concurrent append to same key" test: clerks append to one key
    // at once, over a slow network, and only a Get at the end reads it.
    let workload = Workload {
        clients: 5,
        operations_per_client: 10,
        keys: 1,
        get_percent: 0,
        put_percent: 0,
        stall_percent: 30,
        seed: 3,
    };
    let Simulated {
        mut history, data, ..
    } = simulate(&workload, Server::Correct);
    let end = history
        .iter()
        .map(|operation| operation.returned_at)
        .max()
        .unwrap_or_default();
    let final_value = data["k0"].clone();
    history.push(KvOperation {
        client_id: workload.clients,
        input: get("k0"),
        output: final_value.clone(),
        called_at: end,
        returned_at: end + Duration::from_millis(1),
    });
    let started = Instant::now();
    assert_eq!(check_kv(&history, AMPLE), CheckOutcome::Linearizable);
    // And with one append lost, the final read is refuted.
    let lost = final_value
        .split_inclusive(';')
        .nth(20)
        .expect("50 appends");
    let last = history.len() - 1;
    history[last].output = final_value.replacen(lost, "", 1);
    let (_, _, unplaceable) = sole_failure(check_kv(&history, AMPLE));
    assert_eq!(unplaceable, last);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "too slow: {:?}",
        started.elapsed()
    );
}

/// Checks a history from a correct simulated server, prints how long that
/// took (run with --nocapture to see it), and requires it to be fast.
fn check_large_history(label: &str, workload: Workload) {
    let Simulated { history, .. } = simulate(&workload, Server::Correct);
    let started = Instant::now();
    let outcome = check_kv(&history, AMPLE);
    let took = started.elapsed();
    println!(
        "{label}: checked {} operations of {} clients on {} keys in {:.1} ms",
        history.len(),
        workload.clients,
        workload.keys,
        took.as_secs_f64() * 1e3
    );
    assert_eq!(outcome, CheckOutcome::Linearizable);
    assert!(took < Duration::from_secs(1), "{label}: too slow: {took:?}");
}

#[test]
fn a_large_history_over_many_keys_checks_fast() {
    check_large_history(
        "15 clients, 10 keys, 1% stalled calls",
        Workload {
            clients: 15,
            operations_per_client: 334,
            keys: 10,
            get_percent: 45,
            put_percent: 5,
            stall_percent: 1,
            seed: 1,
        },
    );
}

#[test]
fn thousands_of_appends_to_one_key_check_fast() {
    check_large_history(
        "appends to one key",
        Workload {
            clients: 5,
            operations_per_client: 600,
            keys: 1,
            get_percent: 20,
            put_percent: 0,
            stall_percent: 0,
            seed: 2,
        },
    );
}
