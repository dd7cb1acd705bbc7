//! The JUnit XML report (`junit.xml`), for CI dashboards: one test suite
//! per part, one test case per test.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::grades::{Grades, Outcome, Status, TestGrade};

/// The report as JUnit XML.
pub fn render(grades: &Grades) -> String {
    let mut report = Report::new("raft-labs");
    report.set_time(grades.elapsed);
    for &part in &grades.parts {
        let mut suite = TestSuite::new(part.target());
        let tests = grades.tests.iter().filter(|t| t.part == part);
        suite.add_test_cases(tests.map(|t| case(grades, t)));
        report.add_test_suite(suite);
    }
    report.to_string().expect("the JUnit report serializes")
}

fn case(grades: &Grades, test: &TestGrade) -> TestCase {
    let status = match (grades.build_errors(), grades.status(test)) {
        (Some(errors), _) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(format!("{} does not compile", grades.subject()))
                .set_description(errors);
            status
        }
        (None, Status::Passed) => TestCaseStatus::success(),
        (None, Status::Pending) => {
            let mut status = TestCaseStatus::skipped();
            status.set_message("grading stopped before every run of this test finished");
            status
        }
        (None, Status::Failed) => failed(test),
    };
    let mut case = TestCase::new(test.name.as_str(), status);
    case.set_classname(test.part.target())
        .set_time(test.runs.iter().map(|r| r.duration).sum());
    case.add_property(("runs", test.runs.len().to_string().as_str()))
        .add_property(("passed", test.passed().to_string().as_str()))
        .add_property(("timeouts", test.timeouts().to_string().as_str()))
        .add_property(("score", grades.earned(test).to_string().as_str()))
        .add_property(("max_score", test.points.to_string().as_str()));
    case
}

fn failed(test: &TestGrade) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    let mut description = String::new();
    for (run, failure) in test.failures() {
        let _ = writeln!(description, "run {}: {}", run.run, failure.reason);
        if let Some(message) = &failure.message {
            let _ = writeln!(description, "  {message}");
        }
        if let Some(seed) = failure.seed {
            let _ = writeln!(description, "  seed {seed}");
        }
        let _ = writeln!(description, "  replay: {}", failure.replay);
    }
    let first = test.failures().next();
    let ty = if first.is_some_and(|(r, _)| r.outcome == Outcome::TimedOut) {
        "timeout"
    } else {
        "failure"
    };
    status
        .set_type(ty)
        .set_message(format!(
            "passed {}/{} runs; {}",
            test.passed(),
            test.runs.len(),
            first.map_or("", |(_, f)| f.reason.as_str())
        ))
        .set_description(description);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grades::tests::sample;

    #[test]
    fn the_xml_is_junit() {
        let xml = render(&sample());
        let report = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(report.name.as_str(), "raft-labs");
        assert_eq!((report.tests, report.failures), (2, 1));
        let suite = &report.test_suites[0];
        assert_eq!(suite.name.as_str(), "lab2a");
        assert!(matches!(
            suite.test_cases[0].status,
            TestCaseStatus::Success { .. }
        ));
        match &suite.test_cases[1].status {
            TestCaseStatus::NonSuccess {
                kind,
                message,
                description,
                ..
            } => {
                assert_eq!(*kind, NonSuccessKind::Failure);
                assert_eq!(
                    message.as_ref().unwrap().as_str(),
                    "passed 1/3 runs; exited with status 101"
                );
                assert!(description.as_ref().unwrap().as_str().contains("seed 8741"));
            }
            other => panic!("re_election is reported as {other:?}"),
        }
    }
}
