//! Sharded gradings on this machine: the reference's 2A graded as four
//! shards in four concurrent processes and merged is the unsharded grading
//! of the same runs; merge refuses a missing or duplicated shard; a course
//! of two students graded in two shards merges into one course table; the
//! autograder zip has Gradescope's layout; and a merge of 200 synthetic
//! shards, timed.
//!
//! Gradings take turns (`turn`): they share the build directory and the
//! machine's cores, and the tests they run are timing-sensitive. The four
//! shards are one turn, one job each.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use grading::cli::Cli;
use grading::exit;
use grading::grades::{BuildStatus, Grades, Outcome, RunRecord, TestGrade};
use grading::merge::{self, Merged};
use grading::plan::Plan;
use grading::points::Policy;
use grading::points::{PointsTable, DEFAULT_TABLE};
use grading::shard::Shard;
use grading::timings::Timings;
use serde_json::Value;
use support::plant::{copy_tree, handout_in, turn};
use support::{points_in_2a, reference, tests_in_2a};

/// Runs `grade <args>`, with the time it took.
fn grade(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_grade"))
        .args(args)
        .output()
        .expect("grade runs");
    (output, started.elapsed())
}

/// Everything `grade` printed, for assertion messages.
fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Asserts that `grade merge <dirs>` is refused, in one line holding
/// `expected`.
fn merge_refused(dirs: &[PathBuf], expected: &str) {
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(|d| arg(d)));
    let (output, _) = grade(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(i32::from(exit::ERROR)),
        "{}",
        describe(&output)
    );
    assert_eq!(stderr.lines().count(), 1, "{}", describe(&output));
    assert!(stderr.contains(expected), "{}", describe(&output));
}

/// Each test's (part, name, planned runs, runs finished, runs passed).
fn runs_of(results: &Value) -> Vec<(Value, Value, Value, Value, Value)> {
    results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let field = |name: &str| t[name].clone();
            (
                field("part"),
                field("name"),
                field("planned_runs"),
                field("runs_finished"),
                field("passed"),
            )
        })
        .collect()
}

/// Grades the reference's 2A `--runs 2` as `count` shards, each its own
/// `grade` process, all at once, into `root/shard<i>`; returns the
/// directories, the time until the last one ended and each shard's own
/// elapsed seconds.
fn grade_shards(root: &Path, common: &[&str], count: u32) -> (Vec<PathBuf>, Duration, Vec<f64>) {
    let dirs: Vec<PathBuf> = (1..=count)
        .map(|i| root.join(format!("shard{i}")))
        .collect();
    let started = Instant::now();
    let children: Vec<_> = dirs
        .iter()
        .zip(1..)
        .map(|(dir, index)| {
            Command::new(env!("CARGO_BIN_EXE_grade"))
                .args(["--report", arg(dir), "--jobs", "1"])
                .args(["--shard", &format!("{index}/{count}")])
                .args(common)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("grade runs")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    }
    let all = started.elapsed();
    let elapsed = dirs
        .iter()
        .zip(1..)
        .map(|(dir, index)| {
            let results = read_json(&dir.join("results.json"));
            assert_eq!(results["shard"]["index"], index, "{results}");
            assert_eq!(results["shard"]["count"], count, "{results}");
            assert_eq!(results["finished"], true, "{results}");
            results["elapsed_secs"].as_f64().unwrap()
        })
        .collect();
    (dirs, all, elapsed)
}

#[test]
fn four_concurrent_shards_merge_into_the_unsharded_grading() {
    let _turn = turn();
    let root = tempfile::tempdir().unwrap();
    let common = ["--parts", "2A", "--runs", "2"];
    let whole = root.path().join("whole");
    let mut args = vec!["--report", arg(&whole), "--jobs", "2"];
    args.extend(common);
    let (unsharded, unsharded_time) = grade(&args);
    assert_eq!(unsharded.status.code(), Some(0), "{}", describe(&unsharded));

    let (dirs, sharded_time, elapsed) = grade_shards(root.path(), &common, 4);
    let merged = root.path().join("merged");
    let mut args = vec!["merge", "--report", arg(&merged), "--format", "json"];
    args.extend(dirs.iter().map(|d| arg(d)));
    let (merge, _) = grade(&args);
    assert_eq!(merge.status.code(), Some(0), "{}", describe(&merge));
    let printed: Value = serde_json::from_slice(&merge.stdout).unwrap();
    let (merged_results, whole_results) = (
        read_json(&merged.join("results.json")),
        read_json(&whole.join("results.json")),
    );
    assert_eq!(printed, merged_results);
    for key in [
        "score",
        "max_score",
        "plan",
        "tests_version",
        "shard",
        "finished",
        "runs_per_test",
    ] {
        assert_eq!(merged_results[key], whole_results[key], "{key}");
    }
    assert_eq!(merged_results["score"], points_in_2a() as f64);
    assert_eq!(runs_of(&merged_results), runs_of(&whole_results));
    assert_eq!(runs_of(&merged_results).len(), tests_in_2a());
    let scores = |dir: &Path| -> Vec<(Value, Value)> {
        let gradescope = read_json(&dir.join("gradescope/results.json"));
        let tests = gradescope["tests"].as_array().unwrap();
        tests
            .iter()
            .map(|t| (t["name"].clone(), t["score"].clone()))
            .collect()
    };
    assert_eq!(scores(&merged), scores(&whole));
    let junit = |dir: &Path| {
        let xml = fs::read_to_string(dir.join("junit.xml")).unwrap();
        let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        (report.tests, report.failures, report.errors)
    };
    assert_eq!(junit(&merged), junit(&whole));

    let missing = &dirs[..3];
    merge_refused(missing, "shard 4/4 is missing");
    let twice = [dirs.clone(), vec![dirs[0].clone()]].concat();
    merge_refused(&twice, "are both shard 1/4");

    let mean = elapsed.iter().sum::<f64>() / elapsed.len() as f64;
    let longest = elapsed.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "2A --runs 2: unsharded (--jobs 2) {:.1} s; 4 concurrent shards (--jobs 1 each) {:.1} s, \
         shards' own times {elapsed:.1?} s, balance (longest / mean) {:.2}",
        unsharded_time.as_secs_f64(),
        sharded_time.as_secs_f64(),
        longest / mean
    );
}

#[test]
fn a_course_graded_in_two_shards_merges_into_one_course_table() {
    let _turn = turn();
    let root = tempfile::tempdir().unwrap();
    let submissions = root.path().join("submissions");
    for student in ["ada", "bo"] {
        fs::create_dir_all(submissions.join(student)).unwrap();
    }
    copy_tree(&reference(), &submissions.join("ada"));
    handout_in(&submissions.join("bo"));
    let common = [
        "--submissions",
        arg(&submissions),
        "--parts",
        "2A",
        "--test",
        "initial_election",
        "--test",
        "stale_leader_steps_down",
        "--timeout",
        "60",
    ];
    let dirs: Vec<PathBuf> = (1..=2)
        .map(|i| root.path().join(format!("shard{i}")))
        .collect();
    for (dir, shard) in dirs.iter().zip(["1/2", "2/2"]) {
        let mut args = vec!["--report", arg(dir), "--shard", shard];
        args.extend(common);
        let (output, _) = grade(&args);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    }
    // Two students on two shards: each graded, and built, on one shard.
    let graded = |dir: &Path| ["ada", "bo"].map(|s| dir.join(s).join("results.json").is_file());
    assert_eq!(graded(&dirs[0]), [true, false]);
    assert_eq!(graded(&dirs[1]), [false, true]);

    let merged = root.path().join("course");
    let (merge, _) = grade(&[
        "merge",
        arg(&dirs[0]),
        arg(&dirs[1]),
        "--report",
        arg(&merged),
    ]);
    assert_eq!(merge.status.code(), Some(0), "{}", describe(&merge));
    let csv = fs::read_to_string(merged.join("course.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0], "student,2A,score,flaky_tests,timeouts,busy_runs,note",
        "{csv}"
    );
    assert_eq!(lines[1], "ada,10/10,10/10,,0,0,", "{csv}");
    assert!(lines[2].starts_with("bo,0/10,0/10,"), "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    let table = String::from_utf8_lossy(&merge.stdout);
    assert!(table.starts_with("student  "), "{table}");
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("ada ") || l.starts_with("bo "))
            .count(),
        2
    );
    for student in ["ada", "bo"] {
        let results = read_json(&merged.join(student).join("results.json"));
        assert_eq!(results["shard"], Value::Null, "{results}");
        assert!(merged
            .join(student)
            .join("gradescope/results.json")
            .is_file());
    }
    merge_refused(&dirs[1..], "shard 1/2 is missing");
}

#[test]
fn the_autograder_zip_has_gradescopes_layout() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("autograder.zip");
    let script = reference().join("grading/deploy/gradescope/make-autograder.sh");
    let made = Command::new(&script).arg(&zip).output().unwrap();
    assert!(made.status.success(), "{}", describe(&made));
    let listing = Command::new("unzip").arg("-Z").arg(&zip).output().unwrap();
    assert!(listing.status.success(), "{}", describe(&listing));
    let listing = String::from_utf8_lossy(&listing.stdout);
    // zipinfo: permissions first, the name last.
    let entries: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|line| {
            Some((
                line.split_whitespace().next()?,
                line.split_whitespace().last()?,
            ))
        })
        .collect();
    for script in ["setup.sh", "run_autograder"] {
        let found = entries.iter().find(|(_, name)| *name == script);
        assert!(
            found.is_some_and(|(mode, _)| mode.starts_with("-rwx")),
            "{script} is not an executable at the zip's root:\n{listing}"
        );
    }
    for needed in ["tests/harness/lib.rs", "grading/points.toml", "Cargo.lock"] {
        assert!(
            entries.iter().any(|(_, name)| *name == needed),
            "no {needed}:\n{listing}"
        );
    }
    let built = entries
        .iter()
        .find(|(_, n)| n.starts_with("target") || n.starts_with(".git/"));
    assert!(built.is_none(), "{built:?} is in the zip");
}

/// A grading of `share`'s runs of every test of `plan`, all passed.
fn synthetic_shard(plan: &Plan, table: &PointsTable, shard: Shard, runs: u32) -> Grades {
    let share = plan.share(Some(shard));
    let mut tests: Vec<TestGrade> = Vec::new();
    for item in plan.items.iter().filter(|item| item.run == 1) {
        let planned = share.runs(0, item.part, &item.test);
        let runs = planned
            .iter()
            .map(|&run| RunRecord {
                run,
                outcome: Outcome::Passed,
                duration: Duration::from_secs_f64(item.seconds),
                failure: None,
                cpu: None,
            })
            .collect();
        tests.push(TestGrade {
            part: item.part,
            name: item.test.clone(),
            points: table.tests(item.part).unwrap()[&item.test],
            planned,
            runs,
        });
    }
    Grades {
        submission: None,
        tree: reference(),
        parts: grading::parts::Part::ALL.to_vec(),
        runs_per_test: runs,
        jobs: 2,
        timeout: Duration::from_secs(120),
        policy: Policy::AllRuns,
        seed: None,
        build: BuildStatus::Built(Duration::from_secs(25)),
        notes: Vec::new(),
        tests,
        elapsed: Duration::from_secs(60),
        finished: true,
        shard: Some(shard),
        plan: plan.id.clone(),
        tests_version: "synthetic".into(),
    }
}

#[test]
fn a_merge_of_200_synthetic_shards_is_timed() {
    let count = 200;
    let table = PointsTable::load(&reference().join(DEFAULT_TABLE)).unwrap();
    let cli = Cli::try_parse_from(["grade", "--runs", "3"]).unwrap();
    let plan = Plan::new(&cli, &table, &Timings::default(), vec!["alice".into()]).unwrap();
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (1..=count)
        .map(|index| {
            let grades = synthetic_shard(&plan, &table, Shard::new(index, count).unwrap(), 3);
            let dir = root.path().join(format!("shard{index}"));
            grading::report::create_dir(&dir).unwrap();
            grading::report::write_all(&dir, &grades).unwrap();
            dir
        })
        .collect();
    let started = Instant::now();
    let merged = merge::merge(&dirs, Some(&root.path().join("merged"))).unwrap();
    let took = started.elapsed();
    let Merged::One(grades) = merged else {
        panic!("not one submission's merge");
    };
    assert!(grades.full_marks());
    assert_eq!(grades.score(None), f64::from(grades.max_score(None)));
    eprintln!(
        "merged {count} synthetic shard reports ({} runs of {} tests) in {:.3} s",
        plan.items.len(),
        grades.tests.len(),
        took.as_secs_f64()
    );
}
