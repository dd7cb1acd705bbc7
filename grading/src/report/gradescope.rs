//! Gradescope's `results.json`: the score, and per test its score, its
//! worth, passed or failed, and an output students can act on (the failure
//! message, the seed, and the command that replays the run in their tree).

use std::fmt::Write as _;

use serde::Serialize;

use crate::grades::{Grades, Status, TestGrade};

/// How many lines of a failed run's output go into the test's output.
const TAIL_LINES: usize = 30;

#[derive(Serialize)]
struct Results {
    score: f64,
    execution_time: u64,
    output: String,
    tests: Vec<Test>,
}

#[derive(Serialize)]
struct Test {
    name: String,
    score: f64,
    max_score: f64,
    status: &'static str,
    output: String,
}

/// The results as Gradescope reads them.
pub fn render(grades: &Grades) -> String {
    let results = Results {
        score: grades.score(None),
        execution_time: grades.elapsed.as_secs(),
        output: summary(grades),
        tests: grades.tests.iter().map(|t| test(grades, t)).collect(),
    };
    serde_json::to_string_pretty(&results).expect("the results serialize")
}

fn summary(grades: &Grades) -> String {
    let parts: Vec<&str> = grades.parts.iter().map(|p| p.name()).collect();
    let mut text = format!(
        "Parts {}: each test run {} time(s), {} s timeout; score {}/{}.",
        parts.join(", "),
        grades.runs_per_test,
        grades.timeout.as_secs(),
        grades.score(None),
        grades.max_score(None)
    );
    if !grades.notes.is_empty() {
        text.push_str("\n\n");
        text.push_str(&grades.notes.join("\n"));
    }
    if let Some(errors) = grades.build_errors() {
        text.push_str("\n\nYour code does not compile:\n\n");
        text.push_str(errors);
    } else if !grades.finished {
        text.push_str("\n\nGrading stopped before every run finished: these results are partial.");
    }
    text
}

fn test(grades: &Grades, test: &TestGrade) -> Test {
    let status = grades.status(test);
    let mut output = String::new();
    match (status, grades.build_errors()) {
        (_, Some(_)) => output.push_str("Not run: your code does not compile (see above)."),
        (Status::Pending, None) => {
            output.push_str("Not graded: grading stopped before every run of this test finished.")
        }
        _ => {
            let _ = write!(output, "Passed {}/{} runs", test.passed(), test.runs.len());
            if let (Some(mean), Some(max)) = (test.mean_time(), test.max_time()) {
                let _ = write!(
                    output,
                    " (mean {:.1} s, max {:.1} s)",
                    mean.as_secs_f64(),
                    max.as_secs_f64()
                );
            }
            output.push('.');
            if let Some(cpu) = test.mean_cpu() {
                let _ = write!(output, " Your code used {cpu:.2} s of CPU per run.");
            }
            if test.busy_runs() > 0 {
                let _ = write!(
                    output,
                    " In {} run(s) it kept more than 80 % of a core busy: look for a busy loop \
                     (a thread that polls without sleeping); the tests are timing sensitive.",
                    test.busy_runs()
                );
            }
        }
    }
    for (run, failure) in test.failures() {
        let _ = write!(output, "\n\nRun {}: {}", run.run, failure.reason);
        if let Some(message) = &failure.message {
            let _ = write!(output, "\n{message}");
        }
        if let Some(seed) = failure.seed {
            let _ = write!(
                output,
                "\nSeed {seed}; replay it with:\n  LABRPC_SEED={seed} cargo test --release --test {} -- --exact {} --nocapture",
                test.part.target(),
                test.name
            );
        }
        let _ = write!(
            output,
            "\nLast lines of its output:\n{}",
            crate::output::tail(&failure.tail, TAIL_LINES)
        );
    }
    Test {
        name: format!("{} {}", test.part, test.name),
        score: grades.earned(test),
        max_score: f64::from(test.points),
        status: if status == Status::Passed {
            "passed"
        } else {
            "failed"
        },
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grades::tests::sample;
    use crate::grades::BuildStatus;
    use serde_json::Value;
    use std::time::Duration;

    /// Checks the fields and types Gradescope's format asks for.
    fn check_format(results: &Value) {
        assert!(results["score"].is_number());
        assert!(results["execution_time"].is_u64());
        assert!(results["output"].is_string());
        for test in results["tests"].as_array().unwrap() {
            assert!(test["name"].is_string());
            assert!(test["score"].is_number());
            assert!(test["max_score"].is_number());
            assert!(matches!(test["status"].as_str(), Some("passed" | "failed")));
            assert!(test["output"].is_string());
        }
    }

    #[test]
    fn results_follow_gradescopes_format() {
        let results: Value = serde_json::from_str(&render(&sample())).unwrap();
        check_format(&results);
        assert_eq!(results["score"], 5.0);
        let failed = &results["tests"][1];
        assert_eq!(failed["name"], "2A re_election");
        assert_eq!(
            (failed["score"].clone(), failed["max_score"].clone()),
            (0.0.into(), 10.0.into())
        );
        assert_eq!(failed["status"], "failed");
        let output = failed["output"].as_str().unwrap();
        assert!(output.starts_with("Passed 1/3 runs"), "{output}");
        assert!(output.contains("Run 2: exited with status 101\nexpected one leader, got none"));
        assert!(output
            .contains("LABRPC_SEED=8741 cargo test --release --test lab2a -- --exact re_election"));
        assert_eq!(results["tests"][0]["status"], "passed");
        assert!(results["output"]
            .as_str()
            .unwrap()
            .ends_with("\n\nraft/build.rs was not compiled or run"));
    }

    #[test]
    fn a_build_failure_scores_zero_and_shows_the_errors() {
        let mut grades = sample();
        grades.build = BuildStatus::Failed {
            duration: Duration::from_secs(3),
            errors: "error[E0308]: mismatched types".into(),
        };
        grades.tests.iter_mut().for_each(|t| t.runs.clear());
        let results: Value = serde_json::from_str(&render(&grades)).unwrap();
        check_format(&results);
        assert_eq!(results["score"], 0.0);
        assert!(results["output"]
            .as_str()
            .unwrap()
            .contains("error[E0308]: mismatched types"));
        assert!(results["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "failed"));
    }
}
