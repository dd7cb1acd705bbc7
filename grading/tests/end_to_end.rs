//! `grade` on real trees with the real harness, 2A only, one run each: the
//! reference scores full marks, the handout scores zero, and planted
//! submissions (copies of the reference with a small patch to raft/src)
//! score what they should.
//!
//! Gradings take turns: they share the build directory and the machine's
//! cores, and the tests they run are timing-sensitive.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use grading::exit;
use support::{grade_while, reference, Graded};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `grade --parts 2A --runs 1 <args>`, one grading at a time.
fn grade_2a(args: &[&str], env: &[(&str, &str)]) -> Graded {
    grade_2a_while(args, env, |_| {})
}

/// [`grade_2a`], calling `while_running` with the grader's pid once it has
/// started.
fn grade_2a_while(args: &[&str], env: &[(&str, &str)], while_running: impl FnOnce(u32)) -> Graded {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec!["--parts", "2A", "--runs", "1"];
    all.extend_from_slice(args);
    grade_while(&all, env, while_running)
}

/// Asserts the run outcomes and score of a finished 2A grading.
fn assert_scored(graded: &Graded, code: u8, score: f64, outcome: &str) {
    assert_eq!(graded.code, i32::from(code), "{}", graded.describe());
    let results = graded.results();
    assert_eq!(results["finished"], true, "{}", graded.describe());
    assert_eq!(results["score"], score, "{}", graded.describe());
    let tests = results["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 3, "{}", graded.describe());
    for test in tests {
        assert_eq!(test["runs"].as_array().unwrap().len(), 1, "{test}");
        assert_eq!(test["runs"][0]["outcome"], outcome, "{test}");
    }
}

#[test]
fn the_reference_scores_full_marks_and_writes_every_report() {
    let started = Instant::now();
    let graded = grade_2a(&[], &[]);
    assert_scored(&graded, exit::FULL_MARKS, 30.0, "passed");
    assert!(
        graded.stdout.contains("score: 30/30"),
        "{}",
        graded.describe()
    );
    eprintln!(
        "graded the reference on 2A in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let gradescope = graded.json("gradescope/results.json");
    assert_eq!(gradescope["score"], 30.0);
    for test in gradescope["tests"].as_array().unwrap() {
        assert_eq!(test["status"], "passed", "{test}");
        assert_eq!(test["score"], test["max_score"], "{test}");
    }
    let xml = fs::read_to_string(graded.report.path().join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!((junit.tests, junit.failures, junit.errors), (3, 0, 0));
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
    let dir = tempfile::tempdir().unwrap();
    let handout = dir.path().join("handout");
    handout::tree::build(&reference(), &handout, false).unwrap();
    let started = Instant::now();
    let graded = grade_2a(
        &["--submission", handout.to_str().unwrap(), "--timeout", "60"],
        &[],
    );
    assert_scored(&graded, exit::NOT_FULL_MARKS, 0.0, "failed");
    assert!(started.elapsed() < Duration::from_secs(300));
}

/// A copy of the reference tree with `code` put first in the body of the
/// raft function whose signature starts with `signature` and mentions
/// `mentioning`.
fn planted(signature: &str, mentioning: &str, code: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&reference(), dir.path());
    let sources = rust_files(&dir.path().join("raft/src"));
    let planted = sources.iter().any(|file| {
        let text = fs::read_to_string(file).unwrap();
        let body = text.match_indices(signature).find_map(|(at, _)| {
            let open = at + text[at..].find('{')?;
            text[at..open].contains(mentioning).then_some(open + 1)
        });
        body.is_some_and(|at| {
            fs::write(file, format!("{}\n{code}\n{}", &text[..at], &text[at..])).unwrap();
            true
        })
    });
    assert!(
        planted,
        "no `{signature}` mentioning `{mentioning}` in raft/src"
    );
    dir
}

/// A copy of `Raft::new` with `code` first in its body.
fn planted_in_new(code: &str) -> tempfile::TempDir {
    planted("pub fn new(", "apply_ch", code)
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("target") || name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            fs::create_dir(to.join(&name)).unwrap();
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn submission(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().unwrap()
}

#[test]
fn a_raft_that_never_elects_a_leader_scores_zero_with_seeds_and_logs() {
    // Peers answer no RPC, so no candidate ever gets a vote.
    let tree = planted(
        "pub fn service(",
        "&self",
        "return labrpc::Service::new(\"Raft\");",
    );
    let graded = grade_2a(&["--submission", submission(&tree), "--jobs", "3"], &[]);
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
    let graded = grade_2a(&["--submission", submission(&tree), "--jobs", "3"], &[]);
    assert_scored(&graded, exit::NOT_FULL_MARKS, 0.0, "failed");
    for test in graded.results()["tests"].as_array().unwrap() {
        let reason = test["runs"][0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("before the harness recorded the test as passed"),
            "{reason}"
        );
    }
}

/// A submission whose `Raft::new` starts a child process, notes its own pid
/// (its process group) and the child's in the file named by
/// `GRADE_TEST_PIDS`, and never returns.
fn hanging_submission() -> tempfile::TempDir {
    planted_in_new(
        r#"if let Some(note) = std::env::var_os("GRADE_TEST_PIDS") {
            let child = std::process::Command::new("sleep").arg("600").spawn().expect("sleep starts");
            let line = format!("{} {}\n", std::process::id(), child.id());
            std::io::Write::write_all(
                &mut std::fs::OpenOptions::new().create(true).append(true).open(note).expect("pid note"),
                line.as_bytes(),
            ).expect("pid note written");
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }"#,
    )
}

/// The (process group, child) pairs the hanging tests noted in `pids`.
fn noted_runs(pids: &Path) -> Vec<(u32, u32)> {
    fs::read_to_string(pids)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let (group, child) = line.split_once(' ').unwrap();
            (group.parse().unwrap(), child.parse().unwrap())
        })
        .collect()
}

/// Asserts that each noted run had its own process group and that nothing
/// of any of them is left.
fn assert_no_process_left(runs: &[(u32, u32)]) {
    let groups: std::collections::BTreeSet<u32> = runs.iter().map(|(g, _)| *g).collect();
    assert_eq!(groups.len(), 3, "one process group per test: {runs:?}");
    for &(group, child) in runs {
        // A killed process may take a moment to be gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while (running(child) || !live_processes_in_group(group).is_empty())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!running(child), "the hung test's child {child} lives on");
        let left = live_processes_in_group(group);
        assert!(
            left.is_empty(),
            "processes {left:?} of group {group} live on"
        );
    }
}

#[test]
fn a_raft_that_hangs_is_killed_at_the_timeout_with_its_children() {
    let tree = hanging_submission();
    let notes = tempfile::tempdir().unwrap();
    let pids = notes.path().join("pids");
    let started = Instant::now();
    let graded = grade_2a(
        &[
            "--submission",
            submission(&tree),
            "--jobs",
            "3",
            "--timeout",
            "20",
        ],
        &[("GRADE_TEST_PIDS", pids.to_str().unwrap())],
    );
    assert_scored(&graded, exit::NOT_FULL_MARKS, 0.0, "timeout");
    for test in graded.results()["tests"].as_array().unwrap() {
        assert_eq!(test["timeouts"], 1, "{test}");
        let seconds = test["runs"][0]["seconds"].as_f64().unwrap();
        assert!((20.0..40.0).contains(&seconds), "killed after {seconds} s");
    }
    assert!(started.elapsed() < Duration::from_secs(600));
    assert_no_process_left(&noted_runs(&pids));
}

#[test]
fn ctrl_c_kills_the_runs_in_progress_and_keeps_a_partial_report() {
    let tree = hanging_submission();
    let notes = tempfile::tempdir().unwrap();
    let pids = notes.path().join("pids");
    let mut interrupted_at = None;
    let graded = grade_2a_while(
        &[
            "--submission",
            submission(&tree),
            "--jobs",
            "3",
            "--timeout",
            "110",
        ],
        &[("GRADE_TEST_PIDS", pids.to_str().unwrap())],
        |grader| {
            // The build comes first; then all three tests hang at once.
            let deadline = Instant::now() + Duration::from_secs(900);
            while noted_runs(&pids).len() < 3 {
                assert!(Instant::now() < deadline, "the three runs never started");
                std::thread::sleep(Duration::from_millis(100));
            }
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
        graded.stderr.contains("interrupted: 0 of 3 runs finished"),
        "{}",
        graded.describe()
    );
    let results = graded.results();
    assert_eq!(results["finished"], false, "{}", graded.describe());
    for test in results["tests"].as_array().unwrap() {
        assert!(test["runs"].as_array().unwrap().is_empty(), "{test}");
    }
    assert_no_process_left(&noted_runs(&pids));
}

#[test]
fn a_submission_that_does_not_compile_scores_zero_with_the_errors() {
    let tree = planted_in_new("let planted: u32 = \"not a number\";");
    let graded = grade_2a(&["--submission", submission(&tree)], &[]);
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

/// The fields of /proc/<pid>/stat after the command name.
fn stat(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = text.rsplit_once(')')?.1;
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    stat(pid).is_some_and(|fields| fields[0] != "Z")
}

/// The processes of group `group` that are not zombies.
fn live_processes_in_group(group: u32) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat(pid).is_some_and(|fields| fields[0] != "Z" && fields[2] == group.to_string())
        })
        .collect()
}
