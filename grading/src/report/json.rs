//! The grader's own JSON report (`results.json`): everything it knows, for
//! scripts.

use std::path::Path;

use serde::Serialize;

use crate::grades::{BuildStatus, Grades, Outcome, Status, TestGrade};
use crate::parts::Part;
use crate::points::Policy;

#[derive(Serialize)]
struct Report<'a> {
    grader: String,
    submission: Option<&'a Path>,
    tree: &'a Path,
    parts: &'a [Part],
    runs_per_test: u32,
    jobs: usize,
    timeout_secs: u64,
    policy: Policy,
    seed: Option<u64>,
    finished: bool,
    elapsed_secs: f64,
    score: f64,
    max_score: u32,
    build: Build<'a>,
    notes: &'a [String],
    part_scores: Vec<PartScore>,
    tests: Vec<Test<'a>>,
}

#[derive(Serialize)]
struct Build<'a> {
    ok: bool,
    seconds: f64,
    errors: Option<&'a str>,
}

#[derive(Serialize)]
struct PartScore {
    part: Part,
    score: f64,
    max_score: u32,
}

#[derive(Serialize)]
struct Test<'a> {
    part: Part,
    name: &'a str,
    status: &'static str,
    score: f64,
    max_score: u32,
    runs_planned: u32,
    runs_finished: usize,
    passed: u32,
    timeouts: u32,
    mean_secs: Option<f64>,
    max_secs: Option<f64>,
    /// Mean CPU seconds of the code under test.
    mean_cpu_secs: Option<f64>,
    /// Runs whose code under test kept more than a core busy.
    busy_runs: usize,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
struct Run<'a> {
    run: u32,
    outcome: &'static str,
    seconds: f64,
    cpu_secs: Option<f64>,
    busy: bool,
    reason: Option<&'a str>,
    message: Option<&'a str>,
    seed: Option<u64>,
    log: Option<&'a Path>,
    replay: Option<&'a str>,
}

/// The report as pretty-printed JSON.
pub fn render(grades: &Grades) -> String {
    let (ok, duration, errors) = match &grades.build {
        BuildStatus::Built(duration) => (true, duration, None),
        BuildStatus::Failed { duration, errors } => (false, duration, Some(errors.as_str())),
    };
    let report = Report {
        grader: format!("raft-labs grade {}", env!("CARGO_PKG_VERSION")),
        submission: grades.submission.as_deref(),
        tree: &grades.tree,
        parts: &grades.parts,
        runs_per_test: grades.runs_per_test,
        jobs: grades.jobs,
        timeout_secs: grades.timeout.as_secs(),
        policy: grades.policy,
        seed: grades.seed,
        finished: grades.finished,
        elapsed_secs: grades.elapsed.as_secs_f64(),
        score: grades.score(None),
        max_score: grades.max_score(None),
        build: Build {
            ok,
            seconds: duration.as_secs_f64(),
            errors,
        },
        notes: &grades.notes,
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

fn test<'a>(grades: &Grades, test: &'a TestGrade) -> Test<'a> {
    Test {
        part: test.part,
        name: &test.name,
        status: match grades.status(test) {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Pending => "pending",
        },
        score: grades.earned(test),
        max_score: test.points,
        runs_planned: grades.runs_per_test,
        runs_finished: test.runs.len(),
        passed: test.passed(),
        timeouts: test.timeouts(),
        mean_secs: test.mean_time().map(|d| d.as_secs_f64()),
        max_secs: test.max_time().map(|d| d.as_secs_f64()),
        mean_cpu_secs: test.mean_cpu(),
        busy_runs: test.busy_runs(),
        runs: test
            .runs
            .iter()
            .map(|run| Run {
                run: run.run,
                outcome: match run.outcome {
                    Outcome::Passed => "passed",
                    Outcome::Failed => "failed",
                    Outcome::TimedOut => "timeout",
                },
                seconds: run.duration.as_secs_f64(),
                cpu_secs: run.cpu.map(|c| c.seconds),
                busy: run.cpu.is_some_and(|c| c.busy()),
                reason: run.failure.as_ref().map(|f| f.reason.as_str()),
                message: run.failure.as_ref().and_then(|f| f.message.as_deref()),
                seed: run.failure.as_ref().and_then(|f| f.seed),
                log: run.failure.as_ref().and_then(|f| f.log.as_deref()),
                replay: run.failure.as_ref().map(|f| f.replay.as_str()),
            })
            .collect(),
    }
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
    }
}
