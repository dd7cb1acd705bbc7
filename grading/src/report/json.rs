//! The grader's own JSON report (`results.json`): everything it knows, for
//! scripts, and enough to read a grading back ([`parse`]): `grade merge`
//! rebuilds a grading from its shards' reports, and `--timings` reads an
//! earlier grading's times.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{io_error, Error};
use crate::grades::{BuildStatus, CpuUse, Failure, Grades, Outcome, RunRecord, Status, TestGrade};
use crate::parts::Part;
use crate::points::Policy;
use crate::shard::Shard;

#[derive(Serialize, Deserialize)]
struct Report {
    grader: String,
    submission: Option<PathBuf>,
    tree: PathBuf,
    parts: Vec<Part>,
    runs_per_test: u32,
    jobs: usize,
    timeout_secs: u64,
    policy: Policy,
    seed: Option<u64>,
    finished: bool,
    elapsed_secs: f64,
    /// The shard of the plan this grading ran (`null`: all of it).
    shard: Option<Shard>,
    /// The identity of the whole plan.
    plan: String,
    /// The version of the official tests.
    tests_version: String,
    score: f64,
    max_score: u32,
    build: Build,
    notes: Vec<String>,
    part_scores: Vec<PartScore>,
    tests: Vec<Test>,
}

#[derive(Serialize, Deserialize)]
struct Build {
    ok: bool,
    seconds: f64,
    errors: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PartScore {
    part: Part,
    score: f64,
    max_score: u32,
}

#[derive(Serialize, Deserialize)]
struct Test {
    part: Part,
    name: String,
    status: String,
    score: f64,
    max_score: u32,
    runs_planned: u32,
    /// The run numbers this grading ran (a shard: its share).
    planned_runs: Vec<u32>,
    runs_finished: usize,
    passed: u32,
    timeouts: u32,
    mean_secs: Option<f64>,
    max_secs: Option<f64>,
    /// Mean CPU seconds of the code under test.
    mean_cpu_secs: Option<f64>,
    /// Runs whose code under test kept more than a core busy.
    busy_runs: usize,
    runs: Vec<Run>,
}

#[derive(Serialize, Deserialize)]
struct Run {
    run: u32,
    outcome: String,
    seconds: f64,
    cpu_secs: Option<f64>,
    /// The wall seconds the CPU seconds were measured over.
    cpu_wall_secs: Option<f64>,
    busy: bool,
    reason: Option<String>,
    message: Option<String>,
    seed: Option<u64>,
    log: Option<PathBuf>,
    replay: Option<String>,
    /// The last lines of a failed run's output.
    tail: Option<String>,
}

/// The report as pretty-printed JSON.
pub fn render(grades: &Grades) -> String {
    let (ok, duration, errors) = match &grades.build {
        BuildStatus::Built(duration) => (true, duration, None),
        BuildStatus::Failed { duration, errors } => (false, duration, Some(errors.clone())),
    };
    let report = Report {
        grader: format!("raft-labs grade {}", env!("CARGO_PKG_VERSION")),
        submission: grades.submission.clone(),
        tree: grades.tree.clone(),
        parts: grades.parts.clone(),
        runs_per_test: grades.runs_per_test,
        jobs: grades.jobs,
        timeout_secs: grades.timeout.as_secs(),
        policy: grades.policy,
        seed: grades.seed,
        finished: grades.finished,
        elapsed_secs: grades.elapsed.as_secs_f64(),
        shard: grades.shard,
        plan: grades.plan.clone(),
        tests_version: grades.tests_version.clone(),
        score: grades.score(None),
        max_score: grades.max_score(None),
        build: Build {
            ok,
            seconds: duration.as_secs_f64(),
            errors,
        },
        notes: grades.notes.clone(),
        part_scores: grades
            .parts
            .iter()
            .map(|&part| PartScore {
                part,
                score: grades.score(Some(part)),
                max_score: grades.max_score(Some(part)),
            })
            .collect(),
        tests: grades.tests.iter().map(|t| test(grades, t)).collect(),
    };
    serde_json::to_string_pretty(&report).expect("the report serializes")
}

fn test(grades: &Grades, test: &TestGrade) -> Test {
    Test {
        part: test.part,
        name: test.name.clone(),
        status: match grades.status(test) {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Pending => "pending",
        }
        .to_string(),
        score: grades.earned(test),
        max_score: test.points,
        runs_planned: grades.runs_per_test,
        planned_runs: test.planned.clone(),
        runs_finished: test.runs.len(),
        passed: test.passed(),
        timeouts: test.timeouts(),
        mean_secs: test.mean_time().map(|d| d.as_secs_f64()),
        max_secs: test.max_time().map(|d| d.as_secs_f64()),
        mean_cpu_secs: test.mean_cpu(),
        busy_runs: test.busy_runs(),
        runs: test.runs.iter().map(run).collect(),
    }
}

fn run(run: &RunRecord) -> Run {
    let failure = run.failure.as_ref();
    Run {
        run: run.run,
        outcome: OUTCOMES
            .iter()
            .find(|(_, o)| *o == run.outcome)
            .map_or("failed", |(name, _)| name)
            .to_string(),
        seconds: run.duration.as_secs_f64(),
        cpu_secs: run.cpu.map(|c| c.seconds),
        cpu_wall_secs: run.cpu.map(|c| c.wall),
        busy: run.cpu.is_some_and(|c| c.busy()),
        reason: failure.map(|f| f.reason.clone()),
        message: failure.and_then(|f| f.message.clone()),
        seed: failure.and_then(|f| f.seed),
        log: failure.and_then(|f| f.log.clone()),
        replay: failure.map(|f| f.replay.clone()),
        tail: failure.map(|f| f.tail.clone()),
    }
}

/// How each outcome is spelled in the report.
const OUTCOMES: [(&str, Outcome); 3] = [
    ("passed", Outcome::Passed),
    ("failed", Outcome::Failed),
    ("timeout", Outcome::TimedOut),
];

/// The grading a `results.json` holds, or why it holds none (one line).
pub fn parse(text: &str) -> Result<Grades, String> {
    let report: Report = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let shard = report.shard.map(Shard::checked).transpose()?;
    let duration = seconds("build seconds", report.build.seconds)?;
    let build = match report.build.errors {
        Some(errors) if !report.build.ok => BuildStatus::Failed { duration, errors },
        _ => BuildStatus::Built(duration),
    };
    let tests = report
        .tests
        .into_iter()
        .map(|test| {
            let runs = test
                .runs
                .into_iter()
                .map(|run| read_run(&test.name, run))
                .collect::<Result<_, String>>()?;
            Ok(TestGrade {
                part: test.part,
                name: test.name,
                points: test.max_score,
                planned: test.planned_runs,
                runs,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Grades {
        submission: report.submission,
        tree: report.tree,
        parts: report.parts,
        runs_per_test: report.runs_per_test,
        jobs: report.jobs,
        timeout: Duration::from_secs(report.timeout_secs),
        policy: report.policy,
        seed: report.seed,
        build,
        notes: report.notes,
        tests,
        elapsed: seconds("elapsed seconds", report.elapsed_secs)?,
        finished: report.finished,
        shard,
        plan: report.plan,
        tests_version: report.tests_version,
    })
}

fn read_run(test: &str, run: Run) -> Result<RunRecord, String> {
    let outcome = OUTCOMES
        .iter()
        .find(|(name, _)| *name == run.outcome)
        .map(|(_, outcome)| *outcome)
        .ok_or_else(|| format!("{test} run {}: unknown outcome `{}`", run.run, run.outcome))?;
    let failure = run.reason.map(|reason| Failure {
        reason,
        message: run.message,
        seed: run.seed,
        log: run.log,
        tail: run.tail.unwrap_or_default(),
        replay: run.replay.unwrap_or_default(),
    });
    Ok(RunRecord {
        run: run.run,
        outcome,
        duration: seconds("run seconds", run.seconds)?,
        failure,
        cpu: run
            .cpu_secs
            .zip(run.cpu_wall_secs)
            .map(|(seconds, wall)| CpuUse { seconds, wall }),
    })
}

fn seconds(what: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("{what}: {value} is not a duration"))
}

/// The grading in the `results.json` at `path`.
pub fn read(path: &Path) -> Result<Grades, Error> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    parse(&text).map_err(|e| Error::Other(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grades::tests::sample;
    use serde_json::Value;

    #[test]
    fn the_report_holds_scores_tests_and_failed_runs() {
        let report: Value = serde_json::from_str(&render(&sample())).unwrap();
        assert_eq!(report["score"], 5.0);
        assert_eq!(report["max_score"], 15);
        assert_eq!(report["notes"][0], "raft/build.rs was not compiled or run");
        assert_eq!(report["finished"], true);
        assert_eq!(report["policy"], "all-runs");
        assert_eq!(report["build"]["ok"], true);
        assert_eq!(report["part_scores"][0]["part"], "2A");
        let failed = &report["tests"][1];
        assert_eq!(failed["name"], "re_election");
        assert_eq!(failed["status"], "failed");
        assert_eq!(
            (failed["passed"].clone(), failed["timeouts"].clone()),
            (1.into(), 1.into())
        );
        assert_eq!(failed["runs"][1]["outcome"], "failed");
        assert_eq!(failed["runs"][1]["seed"], 8741);
        assert_eq!(failed["runs"][1]["log"], "runs/2A-re_election-run2.log");
        assert_eq!(failed["runs"][2]["outcome"], "timeout");
        assert_eq!(report["tests"][0]["runs"][0]["reason"], Value::Null);
        assert_eq!(report["tests"][0]["runs"][0]["cpu_secs"], 0.5);
        assert_eq!(report["tests"][0]["runs"][0]["busy"], false);
        assert_eq!(report["tests"][0]["mean_cpu_secs"], 0.5);
        assert_eq!(report["tests"][0]["busy_runs"], 0);
        assert_eq!(
            report["tests"][0]["planned_runs"],
            serde_json::json!([1, 2, 3])
        );
        assert_eq!(report["shard"], Value::Null);
        assert_eq!(report["plan"], "0123456789abcdef");
    }

    #[test]
    fn a_report_reads_back_as_the_grading_it_was() {
        let mut grades = sample();
        grades.shard = Some(Shard::new(2, 4).unwrap());
        let text = render(&grades);
        let read = parse(&text).unwrap();
        assert_eq!(render(&read), text);
        assert_eq!(read.shard, grades.shard);
        assert_eq!(
            crate::report::gradescope::render(&read),
            crate::report::gradescope::render(&grades)
        );
    }

    #[test]
    fn a_bad_report_is_one_line() {
        for (text, expected) in [
            ("{", "EOF while parsing"),
            ("[]", "invalid length 0"),
            (
                &render(&sample()).replace("\"timeout\"", "\"lost\""),
                "re_election run 3: unknown outcome `lost`",
            ),
            (
                &render(&sample())
                    .replace("\"shard\": null", "\"shard\": {\"index\": 5, \"count\": 4}"),
                "shard 5/4 does not exist",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }
}
