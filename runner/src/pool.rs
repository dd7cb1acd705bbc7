//! Runs every chosen test the asked number of times, as separate
//! processes, a few at once.

use std::fs;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use testrun::completion::Completion;
use testrun::cpu::CpuUse;
use testrun::error::io_error;
use testrun::run::{run_to_file, JUDGED_VAR};
use testrun::supervise::describe;
use testrun::{output, Error};

use crate::live::View;
use crate::select::Chosen;
use crate::summary;

/// How much of the end of a run's output is read for its verdict, seed,
/// CPU and panic message.
const READ_LIMIT: u64 = 1 << 20;

/// The work: which tests, how often, how many at once.
pub struct Plan<'a> {
    /// The tests.
    pub tests: &'a [Chosen],
    /// Runs of each.
    pub runs: u32,
    /// Runs at once.
    pub jobs: NonZeroUsize,
    /// After this long a run is killed.
    pub timeout: Duration,
    /// Start no run after the first failure.
    pub stop_on_failure: bool,
    /// The tests' working directory (the workspace root, as under cargo).
    pub cwd: &'a Path,
    /// The binary the tests start each peer in.
    pub judged: &'a Path,
    /// Where each run's output goes; a passing run's is removed.
    pub out: &'a Path,
}

impl Plan<'_> {
    /// How many runs in all.
    pub fn total(&self) -> usize {
        self.tests.len() * self.runs as usize
    }

    /// The test and run number of the `index`th run: the first run of every
    /// test, then the second of every test, and so on, so that every test
    /// runs early.
    fn job(&self, index: usize) -> (usize, u32) {
        let tests = self.tests.len();
        (index % tests, (index / tests) as u32 + 1)
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with status 0, and the harness recorded it as passed.
    Passed,
    /// Anything else but a timeout; how it ended, in a few words.
    Failed(String),
    /// Killed at the time limit.
    TimedOut,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Its test, an index into [`Plan::tests`].
    pub test: usize,
    /// 1-based run number.
    pub run: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// From start to exit.
    pub duration: Duration,
    /// The CPU its peers used, as the harness reported it.
    pub cpu: Option<CpuUse>,
    /// The network seed it printed, which replays it.
    pub seed: Option<u64>,
    /// The first panic's message, if something panicked.
    pub message: Option<String>,
    /// Its output, kept unless it passed.
    pub output: Option<PathBuf>,
    /// The HTML timeline the harness saved of it, if it failed (its events
    /// file is beside it, ending `.jsonl`).
    pub timeline: Option<PathBuf>,
}

impl RunResult {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Passed
    }
}

/// Runs the plan with [`Plan::jobs`] runs at once, showing each in `view`;
/// returns the finished runs, by test then run. Stops starting runs once
/// Ctrl-C is pressed (the runs it kills are not returned) or, with
/// [`Plan::stop_on_failure`], once one has failed.
pub fn run(plan: &Plan, view: &View) -> Vec<RunResult> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results = Mutex::new(Vec::new());
    let workers = plan.jobs.get().min(plan.total());
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) && !testrun::groups::interrupted() {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= plan.total() {
                        break;
                    }
                    let (test, run) = plan.job(index);
                    let chosen = &plan.tests[test];
                    let slot = view.start(&summary::label(chosen, run));
                    let Some(result) = run_one(plan, test, run) else {
                        view.abandon(slot);
                        continue;
                    };
                    if !result.passed() && plan.stop_on_failure {
                        stop.store(true, Ordering::SeqCst);
                    }
                    view.finished(slot, chosen, &result, plan.cwd);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(result);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|r| (r.test, r.run));
    results
}

/// Runs test `test` once; `None` if Ctrl-C killed it. A run the runner
/// could not carry out fails, saying why.
fn run_one(plan: &Plan, test: usize, run: u32) -> Option<RunResult> {
    let chosen = &plan.tests[test];
    let output = plan
        .out
        .join(format!("{}-{}-{run}.log", chosen.target, chosen.test));
    let mut result = RunResult {
        test,
        run,
        outcome: Outcome::Passed,
        duration: Duration::ZERO,
        cpu: None,
        seed: None,
        message: None,
        output: Some(output.clone()),
        timeline: None,
    };
    match judge(plan, chosen, &output) {
        Ok(Some((outcome, duration, text))) => {
            result.outcome = outcome;
            result.duration = duration;
            result.cpu = output::cpu(&text);
            result.seed = output::seed(&text);
            result.message = output::failure_message(&text);
            result.timeline = timeline_in(&text);
        }
        Ok(None) => {
            let _ = fs::remove_file(&output);
            return None;
        }
        Err(error) => {
            result.outcome = Outcome::Failed(format!("the runner could not run it: {error}"))
        }
    }
    if result.passed() {
        let _ = fs::remove_file(&output);
        result.output = None;
    }
    Some(result)
}

/// The timeline the run's failure report names.
fn timeline_in(text: &str) -> Option<PathBuf> {
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(runlog::TIMELINE_LINE))?;
    let path = line.split(" (").next()?.trim();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Runs `<binary> --exact <test> --test-threads 1 --nocapture` into
/// `output`, with a completion record as the grader gives one: how it
/// ended, how long it took, and the end of its output; `None` if Ctrl-C
/// killed it.
fn judge(
    plan: &Plan,
    chosen: &Chosen,
    output: &Path,
) -> Result<Option<(Outcome, Duration, String)>, Error> {
    let completion = Completion::create(
        &output.with_extension("token"),
        &output.with_extension("record"),
    )?;
    let mut command = Command::new(&chosen.binary);
    command
        .args([
            "--exact",
            &chosen.test,
            "--test-threads",
            "1",
            "--nocapture",
        ])
        .current_dir(plan.cwd)
        .env(JUDGED_VAR, plan.judged)
        .env(runlog::RUN_DIR_VAR, plan.out);
    completion.hand_to(&mut command);
    let ended = run_to_file(command, &chosen.binary, output, plan.timeout, None);
    let passed = completion.recorded();
    let unread = completion.token_unread();
    completion.remove();
    let (ended, _) = ended?;
    if ended.interrupted {
        return Ok(None);
    }
    let text = output::read_end(output, READ_LIMIT).map_err(io_error(output))?;
    let outcome = match (ended.timed_out, ended.status.success()) {
        (true, _) => Outcome::TimedOut,
        (false, true) if passed => Outcome::Passed,
        (false, true) if unread => {
            Outcome::Failed("exited with status 0, but the harness never started the test".into())
        }
        (false, true) => Outcome::Failed(
            "exited with status 0 before the harness recorded the test as passed".into(),
        ),
        (false, false) => Outcome::Failed(describe(ended.status)),
    };
    Ok(Some((outcome, ended.duration, text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for a test binary built with the harness: each test does
    /// what its name says.
    const FAKE_TEST_BINARY: &str = r#"#!/bin/sh
test="$2"
token=$(cat "$RAFT_LABS_TOKEN_FILE") && rm "$RAFT_LABS_TOKEN_FILE"
case "$test" in
  pass) echo "RAFT_LABS_CPU=0.5 5.0"; echo "passed $token" >> "$RAFT_LABS_RECORD"; exit 0 ;;
  fail) echo "LABRPC_SEED=42"; echo "thread 'fail' panicked at tests/lab2a.rs:9:5:"; echo "two leaders in term 3"; echo; echo "timeline of this run: $RAFT_LABS_RUN_DIR/t.html (open it in a browser)"; exit 101 ;;
  exit_early) exit 0 ;;
  hang) sleep 600 ;;
esac
"#;

    fn chosen(binary: &Path, test: &str) -> Chosen {
        Chosen {
            part: "2A".into(),
            target: "lab2a".into(),
            test: test.into(),
            binary: binary.to_path_buf(),
        }
    }

    fn run_fake(
        tests: &[&str],
        runs: u32,
        stop_on_failure: bool,
    ) -> (Vec<RunResult>, tempfile::TempDir) {
        let _turn = crate::SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        testrun::reaper::become_subreaper().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("lab2a-fake");
        fs::write(&binary, FAKE_TEST_BINARY).unwrap();
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
        let chosen: Vec<Chosen> = tests.iter().map(|t| chosen(&binary, t)).collect();
        let plan = Plan {
            tests: &chosen,
            runs,
            jobs: NonZeroUsize::new(2).unwrap(),
            timeout: Duration::from_secs(2),
            stop_on_failure,
            cwd: dir.path(),
            judged: &binary,
            out: dir.path(),
        };
        let view = View::new(plan.total(), false);
        (run(&plan, &view), dir)
    }

    #[test]
    fn each_run_is_judged_and_only_failures_keep_their_output() {
        let (results, dir) = run_fake(&["pass", "fail", "exit_early", "hang"], 2, false);
        let outcomes: Vec<(usize, u32, &Outcome)> = results
            .iter()
            .map(|r| (r.test, r.run, &r.outcome))
            .collect();
        let failed = Outcome::Failed("exited with status 101".into());
        let early = Outcome::Failed(
            "exited with status 0 before the harness recorded the test as passed".into(),
        );
        assert_eq!(
            outcomes,
            [
                (0, 1, &Outcome::Passed),
                (0, 2, &Outcome::Passed),
                (1, 1, &failed),
                (1, 2, &failed),
                (2, 1, &early),
                (2, 2, &early),
                (3, 1, &Outcome::TimedOut),
                (3, 2, &Outcome::TimedOut),
            ]
        );
        assert_eq!(
            results[0].cpu,
            Some(CpuUse {
                seconds: 0.5,
                wall: 5.0
            })
        );
        assert_eq!(results[0].output, None);
        assert_eq!(results[2].seed, Some(42));
        assert_eq!(
            results[2].message.as_deref(),
            Some("two leaders in term 3 (at tests/lab2a.rs:9:5)")
        );
        assert_eq!(results[2].timeline, Some(dir.path().join("t.html")));
        assert_eq!(results[0].timeline, None);
        let kept = results[2].output.as_ref().unwrap();
        assert!(fs::read_to_string(kept).unwrap().contains("two leaders"));
        // Passing runs' outputs, tokens and records are gone.
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != "lab2a-fake")
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "lab2a-exit_early-1.log",
                "lab2a-exit_early-2.log",
                "lab2a-fail-1.log",
                "lab2a-fail-2.log",
                "lab2a-hang-1.log",
                "lab2a-hang-2.log"
            ]
        );
    }

    #[test]
    fn stop_on_failure_starts_no_new_run() {
        // Two at once: the first failure stops the rest of the ten runs.
        let (results, _dir) = run_fake(&["fail"], 10, true);
        assert!(
            !results.is_empty() && results.len() <= 2,
            "{} runs",
            results.len()
        );
    }
}
