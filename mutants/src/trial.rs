//! One trial: a copy of the reference's `raft/` and `kvraft/` with a
//! mutant's patch applied, graded by `grade` as a student's submission on
//! the parts the mutant names, and what the grader's report says of it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::catalogue::Mutant;

/// The crates a submission brings; the grader lays the official tests,
/// harness and network over them.
const SUBMITTED: [&str; 2] = ["raft", "kvraft"];

/// How every trial is graded.
pub struct Settings {
    /// The reference tree.
    pub reference: PathBuf,
    /// The `grade` binary.
    pub grader: PathBuf,
    /// Runs of each test.
    pub runs: u32,
    /// Test processes at once, per trial.
    pub jobs: usize,
    /// Seconds after which the grader kills a run.
    pub timeout: u64,
    /// Where each trial's report directory goes (`<dir>/<mutant>/`).
    pub reports: PathBuf,
}

/// What grading one tree came to.
pub enum Verdict {
    /// Graded: the runs and their failures.
    Graded(Graded),
    /// The patch does not apply to the reference any more.
    PatchFailed(String),
    /// The patched tree does not compile.
    BuildFailed(String),
    /// The grader could not grade (exit 2 or 4, or no report).
    GraderFailed(String),
}

/// A graded trial.
pub struct Graded {
    /// Points earned of `max_score`.
    pub score: f64,
    /// Points available.
    pub max_score: u32,
    /// Runs made, all tests together.
    pub runs: usize,
    /// Runs that failed or timed out.
    pub failed_runs: usize,
    /// The tests with at least one failed run, in report order.
    pub failing_tests: Vec<String>,
    /// The failed run that ended soonest.
    pub first_failure: Option<FirstFailure>,
    /// Whether some failed run's output names the mutant's rule id as
    /// `[id]` among its likely causes.
    pub rule_named: bool,
}

/// The failed run that ended soonest.
pub struct FirstFailure {
    /// Its test.
    pub test: String,
    /// How long it ran.
    pub seconds: f64,
    /// The test's panic message, or how the run ended.
    pub message: String,
    /// Whether its output names the mutant's rule id.
    pub names_rule: bool,
}

/// The parts of the grader's `results.json` a trial reads.
#[derive(Deserialize)]
struct Report {
    score: f64,
    max_score: u32,
    build: Build,
    tests: Vec<Test>,
}

#[derive(Deserialize)]
struct Build {
    ok: bool,
    errors: Option<String>,
}

#[derive(Deserialize)]
struct Test {
    name: String,
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct Run {
    outcome: String,
    seconds: f64,
    reason: Option<String>,
    message: Option<String>,
    log: Option<PathBuf>,
}

/// Grades the reference with `mutant`'s patch applied, or the reference
/// itself (the control) when `mutant` is `None`, on `parts`.
pub fn run(settings: &Settings, name: &str, mutant: Option<&Mutant>, parts: &[String]) -> Verdict {
    match try_run(settings, name, mutant, parts) {
        Ok(verdict) => verdict,
        Err(problem) => Verdict::GraderFailed(problem),
    }
}

fn try_run(
    settings: &Settings,
    name: &str,
    mutant: Option<&Mutant>,
    parts: &[String],
) -> Result<Verdict, String> {
    let scratch = tempfile::Builder::new()
        .prefix(&format!("mutant-{name}-"))
        .tempdir()
        .map_err(|e| format!("cannot make a scratch directory: {e}"))?;
    for crate_dir in SUBMITTED {
        copy_tree(
            &settings.reference.join(crate_dir),
            &scratch.path().join(crate_dir),
        )?;
    }
    if let Some(mutant) = mutant {
        if let Err(problem) = apply_patch(&mutant.patch, scratch.path(), false) {
            return Ok(Verdict::PatchFailed(problem));
        }
    }
    let report_dir = settings.reports.join(name);
    if report_dir.exists() {
        fs::remove_dir_all(&report_dir)
            .map_err(|e| format!("cannot clear {}: {e}", report_dir.display()))?;
    }
    let output = Command::new(&settings.grader)
        .current_dir(&settings.reference)
        .arg("--submission")
        .arg(scratch.path())
        .arg("--parts")
        .arg(parts.join(","))
        .args(["--runs", &settings.runs.to_string()])
        .args(["--jobs", &settings.jobs.to_string()])
        .args(["--timeout", &settings.timeout.to_string()])
        .arg("--report")
        .arg(&report_dir)
        .args(["--format", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", settings.grader.display()))?;
    let results = report_dir.join("results.json");
    let text = match fs::read_to_string(&results) {
        Ok(text) => text,
        Err(_) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().last().unwrap_or("no message");
            return Err(format!("grade exited with {}: {last}", output.status));
        }
    };
    let report: Report =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", results.display()))?;
    if !report.build.ok {
        let errors = report.build.errors.unwrap_or_default();
        let first = errors.lines().next().unwrap_or("no compiler message");
        return Ok(Verdict::BuildFailed(first.to_string()));
    }
    let rule = mutant.map(|m| format!("[{}]", m.rule));
    Ok(Verdict::Graded(graded(
        &report,
        &report_dir,
        rule.as_deref(),
    )))
}

fn graded(report: &Report, report_dir: &Path, rule: Option<&str>) -> Graded {
    let mut graded = Graded {
        score: report.score,
        max_score: report.max_score,
        runs: 0,
        failed_runs: 0,
        failing_tests: Vec::new(),
        first_failure: None,
        rule_named: false,
    };
    for test in &report.tests {
        graded.runs += test.runs.len();
        let mut failed = false;
        for run in test.runs.iter().filter(|r| r.outcome != "passed") {
            failed = true;
            graded.failed_runs += 1;
            let names_rule = rule.is_some_and(|rule| output_names(report_dir, run, rule));
            graded.rule_named |= names_rule;
            if graded
                .first_failure
                .as_ref()
                .is_none_or(|first| run.seconds < first.seconds)
            {
                graded.first_failure = Some(FirstFailure {
                    test: test.name.clone(),
                    seconds: run.seconds,
                    message: run
                        .message
                        .clone()
                        .or_else(|| run.reason.clone())
                        .unwrap_or_else(|| run.outcome.clone()),
                    names_rule,
                });
            }
        }
        if failed {
            graded.failing_tests.push(test.name.clone());
        }
    }
    graded
}

/// Whether the run's full output (or, without one, its message) holds `rule`.
fn output_names(report_dir: &Path, run: &Run, rule: &str) -> bool {
    let from_log = run
        .log
        .as_ref()
        .and_then(|log| fs::read(report_dir.join(log)).ok())
        .is_some_and(|bytes| String::from_utf8_lossy(&bytes).contains(rule));
    from_log || run.message.as_deref().is_some_and(|m| m.contains(rule))
}

/// Applies `patch` at `root` with `patch -p1`, leaving no backup or reject
/// files; the error is patch's own first line. No fuzz: a patch whose
/// context has changed must be remade, not land on lines it was not
/// written for. With `dry_run` nothing is
/// written: it only checks that the patch still applies.
fn apply_patch(patch: &Path, root: &Path, dry_run: bool) -> Result<(), String> {
    let output = Command::new("patch")
        .current_dir(root)
        .args([
            "-p1",
            "--batch",
            "--forward",
            "--fuzz=0",
            "--no-backup-if-mismatch",
        ])
        .args(dry_run.then_some("--dry-run"))
        .args(["--reject-file", "-", "--input"])
        .arg(patch)
        .output()
        .map_err(|e| format!("cannot run patch: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Err(format!("{} does not apply: {first}", patch.display()))
}

/// Copies the directory `from` to `to`, leaving out build output.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&path, &target)?;
            }
        } else {
            fs::copy(&path, &target).map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: &str, seconds: f64, message: &str) -> Run {
        Run {
            outcome: outcome.into(),
            seconds,
            reason: None,
            message: Some(message.into()),
            log: None,
        }
    }

    #[test]
    fn the_first_failure_is_the_soonest_and_the_rule_is_looked_for() {
        let report = Report {
            score: 3.0,
            max_score: 10,
            build: Build {
                ok: true,
                errors: None,
            },
            tests: vec![
                Test {
                    name: "slow".into(),
                    runs: vec![run("passed", 1.0, ""), run("timeout", 120.0, "killed")],
                },
                Test {
                    name: "fast".into(),
                    runs: vec![run("failed", 4.5, "two leaders\n  - [vote-once] ...")],
                },
            ],
        };
        let graded = graded(&report, Path::new("/nonexistent"), Some("[vote-once]"));
        assert_eq!((graded.runs, graded.failed_runs), (3, 2));
        assert_eq!(graded.failing_tests, ["slow", "fast"]);
        let first = graded.first_failure.unwrap();
        assert_eq!((first.test.as_str(), first.seconds), ("fast", 4.5));
        assert!(first.names_rule && graded.rule_named);
    }

    #[test]
    fn a_patch_that_does_not_apply_is_named() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("a.rs"), "fn a() {}\n").unwrap();
        let patch = root.path().join("m.patch");
        fs::write(
            &patch,
            "--- a/a.rs\n+++ b/a.rs\n@@ -1 +1 @@\n-fn b() {}\n+fn c() {}\n",
        )
        .unwrap();
        let error = apply_patch(&patch, root.path(), false).unwrap_err();
        assert!(error.contains("m.patch does not apply"), "{error}");
        assert_eq!(
            fs::read_to_string(root.path().join("a.rs")).unwrap(),
            "fn a() {}\n"
        );
    }

    /// A patch that no longer applies makes the catalogue's CI run fail
    /// after an hour; this finds it in the tools' quick tests instead.
    #[test]
    fn every_catalogue_patch_applies_to_the_reference() {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let reference = crate_dir.parent().unwrap();
        let mutants = crate::catalogue::load(&crate_dir.join("catalogue.toml")).unwrap();
        assert!(!mutants.is_empty(), "the catalogue lists no mutant");
        let stale: Vec<String> = mutants
            .iter()
            .filter_map(|m| apply_patch(&m.patch, reference, true).err())
            .collect();
        assert!(stale.is_empty(), "{}", stale.join("\n"));
    }
}
