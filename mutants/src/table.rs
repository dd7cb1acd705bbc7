//! The table of trials: one row per mutant (and the control), as Markdown,
//! which reads as well in a terminal as in an issue.

use crate::trial::{Graded, Verdict};

/// A finished trial, as the table shows it.
pub struct Row {
    /// The mutant's name, or `(reference)` for the control.
    pub name: String,
    /// The rule id it breaks (empty for the control).
    pub rule: String,
    /// The parts graded.
    pub parts: Vec<String>,
    /// The tests the catalogue expects to catch it.
    pub expected: Vec<String>,
    /// Why it cannot be caught every run, if the catalogue says so.
    pub unobservable: Option<String>,
    /// Whether this is the unpatched reference.
    pub control: bool,
    /// What grading it came to.
    pub verdict: Verdict,
}

impl Row {
    /// Whether the row is as it should be: the control at full marks, a
    /// mutant below them (or marked unobservable).
    pub fn is_good(&self) -> bool {
        match &self.verdict {
            Verdict::Graded(g) if self.control => g.failed_runs == 0,
            Verdict::Graded(g) => lost_points(g) || self.unobservable.is_some(),
            Verdict::BuildFailed(_) | Verdict::PatchFailed(_) | Verdict::GraderFailed(_) => false,
        }
    }

    /// The last column: what the row means.
    fn status(&self) -> String {
        match &self.verdict {
            Verdict::Graded(g) if self.control => {
                if g.failed_runs == 0 {
                    "control: full marks".into()
                } else {
                    "CONTROL FAILED: the reference lost points, so no row is evidence".into()
                }
            }
            Verdict::Graded(g) if lost_points(g) => {
                let by_expected = self.expected.is_empty()
                    || g.failing_tests.iter().any(|t| self.expected.contains(t));
                if by_expected {
                    "caught".into()
                } else {
                    format!("caught, but not by {}", self.expected.join(", "))
                }
            }
            Verdict::Graded(_) => match &self.unobservable {
                Some(why) => format!("unobservable: {why}"),
                None => "MISSED: full marks".into(),
            },
            Verdict::BuildFailed(first) => format!("BUILD FAILED: {first}"),
            Verdict::PatchFailed(problem) => format!("PATCH FAILED: {problem}"),
            Verdict::GraderFailed(problem) => format!("GRADER FAILED: {problem}"),
        }
    }
}

fn lost_points(graded: &Graded) -> bool {
    graded.score < f64::from(graded.max_score)
}

/// The table, with a header.
pub fn render(rows: &[Row]) -> String {
    let mut text = String::from(
        "| mutant | rule | parts | score | caught by | runs failed | first failure | \
         rule named | verdict |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let graded = match &row.verdict {
            Verdict::Graded(g) => Some(g),
            _ => None,
        };
        let cell = |f: &dyn Fn(&Graded) -> String| graded.map_or_else(|| "-".into(), f);
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.name,
            row.rule,
            row.parts.join(","),
            cell(&|g| format!("{}/{}", g.score, g.max_score)),
            cell(&|g| g.failing_tests.join(", ")),
            cell(&|g| format!("{}/{}", g.failed_runs, g.runs)),
            cell(&|g| g
                .first_failure
                .as_ref()
                .map_or("-".into(), |f| format!("{} {:.1} s", f.test, f.seconds))),
            if row.control {
                "-".into()
            } else {
                cell(&|g| match &g.first_failure {
                    None => "-".into(),
                    Some(f) if f.names_rule => "yes".into(),
                    Some(_) if g.rule_named => "later run".into(),
                    Some(_) => "no".into(),
                })
            },
            row.status(),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trial::FirstFailure;

    fn graded(score: f64, failed_runs: usize, names_rule: bool) -> Verdict {
        Verdict::Graded(Graded {
            score,
            max_score: 15,
            runs: 4,
            failed_runs,
            failing_tests: if failed_runs > 0 {
                vec!["one_vote_per_term".into()]
            } else {
                vec![]
            },
            first_failure: (failed_runs > 0).then(|| FirstFailure {
                test: "one_vote_per_term".into(),
                seconds: 2.5,
                message: "two leaders".into(),
                names_rule,
            }),
            rule_named: names_rule,
        })
    }

    fn row(name: &str, control: bool, unobservable: Option<&str>, verdict: Verdict) -> Row {
        Row {
            name: name.into(),
            rule: "vote-once".into(),
            parts: vec!["2A".into()],
            expected: vec!["one_vote_per_term".into()],
            unobservable: unobservable.map(String::from),
            control,
            verdict,
        }
    }

    #[test]
    fn rows_say_caught_missed_or_unobservable() {
        let rows = [
            row("(reference)", true, None, graded(15.0, 0, false)),
            row("vote-twice", false, None, graded(10.0, 1, true)),
            row("silent", false, None, graded(15.0, 0, false)),
            Row {
                expected: vec!["leader_holds".into()],
                ..row("elsewhere", false, None, graded(12.0, 1, false))
            },
            row(
                "timer",
                false,
                Some("random timeouts"),
                graded(15.0, 0, false),
            ),
        ];
        let text = render(&rows);
        assert!(text.contains("| control: full marks |"), "{text}");
        assert!(text.contains(
            "| vote-twice | vote-once | 2A | 10/15 | one_vote_per_term | 1/4 | \
             one_vote_per_term 2.5 s | yes | caught |"
        ));
        assert!(text.contains("| MISSED: full marks |"));
        assert!(text.contains("| caught, but not by leader_holds |"));
        assert!(text.contains("| unobservable: random timeouts |"));
        let good: Vec<bool> = rows.iter().map(Row::is_good).collect();
        assert_eq!(good, [true, true, false, true, true]);
    }

    #[test]
    fn a_failed_control_is_flagged() {
        let control = row("(reference)", true, None, graded(10.0, 1, false));
        assert!(!control.is_good());
        assert!(render(&[control]).contains("CONTROL FAILED"));
    }
}
