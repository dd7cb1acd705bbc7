//! `grade` on real trees with the real harness, 2A only, one run each: the
//! reference scores full marks, the handout scores zero, and planted
//! submissions (copies of the reference with a small patch to raft/src)
//! score what they should.
//!
//! Gradings take turns: they share the build directory and the machine's
//! cores, and the tests they run are timing-sensitive.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use grading::exit;
use support::plant::{
    assert_scored, grade_2a, grade_2a_in_turn, grade_2a_while, handout_in, plant_in_fn,
    reference_copy, submission, turn,
};
use support::{
    assert_no_marked_process, mark, marked, parent_of, points_in_2a, reference, tests_in_2a,
    Marked, MARK_VAR,
};

#[test]
fn the_reference_scores_full_marks_and_writes_every_report() {
    let mut started = None;
    let graded = grade_2a_while(&[], &[], |_| started = Some(Instant::now()));
    let points = points_in_2a();
    assert_scored(&graded, exit::FULL_MARKS, points as f64, "passed");
    assert!(
        graded.stdout.contains(&format!("score: {points}/{points}")),
        "{}",
        graded.describe()
    );
    eprintln!(
        "graded the reference on 2A in {:.1} s",
        started.expect("the grader started").elapsed().as_secs_f64()
    );

    let gradescope = graded.json("gradescope/results.json");
    assert_eq!(gradescope["score"], points as f64);
    for test in gradescope["tests"].as_array().unwrap() {
        assert_eq!(test["status"], "passed", "{test}");
        assert_eq!(test["score"], test["max_score"], "{test}");
    }
    let xml = fs::read_to_string(graded.report.path().join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(
        (junit.tests, junit.failures, junit.errors),
        (tests_in_2a(), 0, 0)
    );
}

#[test]
fn a_points_table_naming_a_missing_test_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("points.toml");
    let official = fs::read_to_string(reference().join("grading/points.toml")).unwrap();
    fs::write(
        &table,
        official.replace("[2A]\n", "[2A]\nghost_election = 5\n"),
    )
    .unwrap();
    let graded = grade_2a(&["--points", table.to_str().unwrap()], &[]);
    assert_eq!(graded.code, i32::from(exit::ERROR), "{}", graded.describe());
    assert!(
        graded
            .stderr
            .contains("[2A] names test `ghost_election`, which lab2a does not have"),
        "{}",
        graded.describe()
    );
    assert_eq!(graded.stderr.lines().count(), 1, "{}", graded.describe());
}

#[test]
fn the_handout_scores_zero_without_hanging() {
    let handout = tempfile::tempdir().unwrap();
    handout_in(handout.path());
    // Timed from the grader's start, not from the wait for this test's turn.
    let mut started = None;
    let graded = grade_2a_while(
        &[
            "--submission",
            submission(handout.path()),
            "--timeout",
            "60",
        ],
        &[],
        |_| started = Some(Instant::now()),
    );
    assert_scored(&graded, exit::NOT_FULL_MARKS, 0.0, "failed");
    let took = started.expect("the grader started").elapsed();
    assert!(took < Duration::from_secs(300), "grading took {took:?}");
}

/// A copy of the reference tree with `code` put first in the body of the
/// raft function whose signature starts with `signature` and mentions
/// `mentioning`.
fn planted(signature: &str, mentioning: &str, code: &str) -> tempfile::TempDir {
    let dir = reference_copy();
    plant_in_fn(dir.path(), signature, mentioning, code);
    dir
}

/// A copy of the reference tree with `code` first in `Raft::new`.
fn planted_in_new(code: &str) -> tempfile::TempDir {
    planted("pub fn new(", "apply_ch", code)
}

#[test]
fn a_raft_that_never_elects_a_leader_scores_zero_with_seeds_and_logs() {
    // Peers answer no RPC, so no candidate ever gets a vote.
    let tree = planted(
        "pub fn service(",
        "&self",
        "return labrpc::Service::new(\"Raft\");",
    );
    let graded = grade_2a(
        &["--submission", submission(tree.path()), "--jobs", "3"],
        &[],
    );
    assert_scored(&graded, exit::NOT_FULL_MARKS, 0.0, "failed");
    for test in graded.results()["tests"].as_array().unwrap() {
        let run = &test["runs"][0];
        assert!(run["seed"].is_u64(), "no seed: {run}");
        assert!(run["message"].is_string(), "no failure message: {run}");
        assert!(run["replay"].as_str().unwrap().contains("--seed"), "{run}");
        let log = graded.report.path().join(run["log"].as_str().unwrap());
        let output = fs::read_to_string(&log).unwrap();
        assert!(
            output.contains(&format!("LABRPC_SEED={}", run["seed"])),
            "{output}"
        );
    }
}

#[test]
fn a_raft_that_exits_zero_from_new_scores_zero() {
    let tree = planted_in_new("std::process::exit(0);");
    let graded = grade_2a(
        &["--submission", submission(tree.path()), "--jobs", "3"],
        &[],
    );
    assert_scored(&graded, exit::NOT_FULL_MARKS, 0.0, "failed");
    for test in graded.results()["tests"].as_array().unwrap() {
        let reason = test["runs"][0]["reason"].as_str().unwrap();
        // The peer's process ended, not the judge, which failed the test.
        assert_eq!(reason, "exited with status 101");
    }
}

/// A submission whose `Raft::new` starts a child process (`sleep`, carrying
/// `mark` in its environment, which the judge does not pass on to its
/// peers) and never returns.
fn hanging_submission(mark: &str) -> tempfile::TempDir {
    planted_in_new(&format!(
        r#"let _child = std::process::Command::new("sleep").arg("600").env("{MARK_VAR}", "{mark}").spawn().expect("sleep starts");
        loop {{
            std::thread::sleep(std::time::Duration::from_secs(1));
        }}"#
    ))
}

/// The marked process among `marked` that `pid` descends from, other than
/// a `sleep`: the test process whose peer started it.
fn test_process_of(pid: u32, marked: &[Marked]) -> Option<u32> {
    let mut at = parent_of(pid)?;
    while !marked.iter().any(|p| p.pid == at && p.name != "sleep") {
        at = parent_of(at).filter(|&parent| parent != 0)?;
    }
    Some(at)
}

/// Waits until each of the three 2A runs carrying `mark` has a peer that
/// started its child: three test processes at once, each hanging.
fn await_three_hanging_runs(mark: &str) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let now = marked(mark);
        let hanging: std::collections::BTreeSet<u32> = now
            .iter()
            .filter(|p| p.name == "sleep")
            .filter_map(|p| test_process_of(p.pid, &now))
            .collect();
        if hanging.len() == 3 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the three runs never started: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_raft_that_hangs_is_killed_at_the_timeout_with_its_children() {
    let mark = mark("hangs");
    let tree = hanging_submission(&mark);
    let mut started = None;
    let graded = grade_2a_while(
        &[
            "--submission",
            submission(tree.path()),
            "--jobs",
            "3",
            "--timeout",
            "20",
        ],
        &[(MARK_VAR, &mark)],
        |_| {
            started = Some(Instant::now());
            await_three_hanging_runs(&mark);
        },
    );
    assert_scored(&graded, exit::NOT_FULL_MARKS, 0.0, "timeout");
    for test in graded.results()["tests"].as_array().unwrap() {
        assert_eq!(test["timeouts"], 1, "{test}");
        let seconds = test["runs"][0]["seconds"].as_f64().unwrap();
        assert!((20.0..40.0).contains(&seconds), "killed after {seconds} s");
    }
    let took = started.expect("the grader started").elapsed();
    assert!(took < Duration::from_secs(600), "grading took {took:?}");
    assert_no_marked_process(&mark);
}

#[test]
fn ctrl_c_kills_the_runs_in_progress_and_keeps_a_partial_report() {
    let mark = mark("ctrl_c");
    let tree = hanging_submission(&mark);
    let mut interrupted_at = None;
    let graded = grade_2a_while(
        &[
            "--submission",
            submission(tree.path()),
            "--jobs",
            "3",
            "--timeout",
            "110",
        ],
        &[(MARK_VAR, &mark)],
        |grader| {
            // The build comes first; then all three tests hang at once.
            await_three_hanging_runs(&mark);
            let sent = std::process::Command::new("kill")
                .args(["-INT", &grader.to_string()])
                .status()
                .expect("kill runs");
            assert!(sent.success());
            interrupted_at = Some(Instant::now());
        },
    );
    let stopped_in = interrupted_at
        .expect("the grader was interrupted")
        .elapsed();
    assert_eq!(
        graded.code,
        i32::from(exit::INTERRUPTED),
        "{}",
        graded.describe()
    );
    assert!(
        stopped_in < Duration::from_secs(30),
        "the grader took {stopped_in:?} to stop"
    );
    assert!(
        graded.stderr.contains(&format!(
            "interrupted: 0 of {} runs finished",
            tests_in_2a()
        )),
        "{}",
        graded.describe()
    );
    let results = graded.results();
    assert_eq!(results["finished"], false, "{}", graded.describe());
    for test in results["tests"].as_array().unwrap() {
        assert!(test["runs"].as_array().unwrap().is_empty(), "{test}");
    }
    assert_no_marked_process(&mark);
}

#[test]
fn a_submission_that_does_not_compile_scores_zero_with_the_errors() {
    let tree = planted_in_new("let planted: u32 = \"not a number\";");
    let graded = grade_2a(&["--submission", submission(tree.path())], &[]);
    assert_eq!(
        graded.code,
        i32::from(exit::BUILD_FAILED),
        "{}",
        graded.describe()
    );
    let results = graded.results();
    assert_eq!(results["score"], 0.0);
    assert_eq!(results["build"]["ok"], false);
    let errors = results["build"]["errors"].as_str().unwrap();
    assert!(
        errors.contains("error[E0308]") && errors.contains("raft/src/"),
        "{errors}"
    );
    assert!(
        graded.stdout.contains("does not compile"),
        "{}",
        graded.describe()
    );
    let gradescope = graded.json("gradescope/results.json");
    assert!(gradescope["output"]
        .as_str()
        .unwrap()
        .contains("error[E0308]"));
    assert!(results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["status"] == "failed"));
}

/// Gives a directory its mode back when dropped.
struct ModeBack(std::path::PathBuf, u32);

impl Drop for ModeBack {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&self.0, fs::Permissions::from_mode(self.1)).unwrap();
    }
}

#[test]
fn a_scratch_directory_the_runs_user_cannot_reach_stops_the_grading_at_once() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the grader is not root: runs keep its user, who reaches its own files");
        return;
    }
    // As under a 0700 /root or mktemp -d: the runs' user (nobody) may not
    // search a directory above the runs' binaries. Held in turn: every
    // grading of this binary uses the directory.
    let _turn = turn();
    let blocked = reference().join("target/grading/scratch");
    fs::create_dir_all(&blocked).unwrap();
    let mode = fs::metadata(&blocked).unwrap().permissions().mode() & 0o7777;
    let _back = ModeBack(blocked.clone(), mode);
    fs::set_permissions(&blocked, fs::Permissions::from_mode(0o700)).unwrap();
    let started = Instant::now();
    let graded = grade_2a_in_turn(&[], &[], |_| {});
    assert_eq!(graded.code, i32::from(exit::ERROR), "{}", graded.describe());
    let lines: Vec<&str> = graded.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", graded.describe());
    assert!(
        lines[0].contains(&format!("it may not search {};", blocked.display()))
            && lines[0].contains("--run-as"),
        "{}",
        graded.describe()
    );
    // Before the build, and before any run.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{}",
        graded.describe()
    );
    assert!(!graded.report.path().join("results.json").exists());
}
