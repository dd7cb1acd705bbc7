//! The summary table printed on the terminal, with every failed run and
//! how to replay it.

use std::fmt::Write as _;
use std::time::Duration;

use crate::grades::{Grades, Status};

/// The label of a part's subtotal row.
const PART_TOTAL: &str = "(part total)";

/// The table, the part and total scores, then the failures.
pub fn render(grades: &Grades) -> String {
    let name_width = grades
        .tests
        .iter()
        .map(|t| t.name.len())
        .chain([PART_TOTAL.len()])
        .max()
        .unwrap_or(PART_TOTAL.len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<4}  {:<name_width$}  {:>7}  {:>8}  {:>7}  {:>7}  {:>7}  {:>9}",
        "part", "test", "passed", "timeouts", "mean s", "max s", "cpu s", "points"
    );
    // A part none of whose tests were chosen (`--test`) gets no rows.
    for &part in grades
        .parts
        .iter()
        .filter(|&&p| grades.tests.iter().any(|t| t.part == p))
    {
        for test in grades.tests.iter().filter(|t| t.part == part) {
            let pending = match grades.status(test) {
                Status::Pending if test.runs.len() == test.planned.len() => {
                    " (other runs in other shards)"
                }
                Status::Pending => " (not finished)",
                _ => "",
            };
            let _ = writeln!(
                out,
                "{:<4}  {:<name_width$}  {:>7}  {:>8}  {:>7}  {:>7}  {:>7}  {:>9}{pending}{busy}",
                part.name(),
                test.name,
                format!("{}/{}", test.passed(), test.runs.len()),
                test.timeouts(),
                seconds(test.mean_time()),
                seconds(test.max_time()),
                test.mean_cpu()
                    .map_or("-".to_string(), |s| format!("{s:.2}")),
                format!("{}/{}", points(grades.earned(test)), test.points),
                busy = match test.busy_runs() {
                    0 => String::new(),
                    n => format!("  BUSY in {n} run(s): over 80 % of a core, look for a busy loop"),
                },
            );
        }
        let _ = writeln!(
            out,
            "{:<4}  {:<name_width$}  {:>7}  {:>8}  {:>7}  {:>7}  {:>7}  {:>9}",
            part.name(),
            PART_TOTAL,
            "",
            "",
            "",
            "",
            "",
            format!(
                "{}/{}",
                points(grades.score(Some(part))),
                grades.max_score(Some(part))
            ),
        );
    }
    let _ = writeln!(
        out,
        "\nscore: {}/{}{}",
        points(grades.score(None)),
        grades.max_score(None),
        if grades.finished { "" } else { " (partial)" }
    );
    if let Some(shard) = grades.shard {
        let _ = writeln!(
            out,
            "shard {shard} of plan {}: only its runs; `grade merge` every shard's report for the score",
            grades.plan
        );
    }

    if !grades.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
    }
    for note in &grades.notes {
        let _ = writeln!(out, "  {note}");
    }
    if let Some(errors) = grades.build_errors() {
        let _ = writeln!(out, "\n{} does not compile:\n{errors}", grades.subject());
    }
    let failures: Vec<_> = grades
        .tests
        .iter()
        .flat_map(|t| t.failures().map(move |(run, failure)| (t, run, failure)))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailed runs:");
    }
    for (test, run, failure) in failures {
        let _ = writeln!(
            out,
            "  {} {} run {}: {}",
            test.part, test.name, run.run, failure.reason
        );
        if let Some(message) = &failure.message {
            let _ = writeln!(out, "    {}", message.replace('\n', "\n    "));
        }
        if let Some(seed) = failure.seed {
            let _ = writeln!(out, "    seed: {seed}");
        }
        if let Some(log) = &failure.log {
            let _ = writeln!(out, "    output: {}", log.display());
        }
        let _ = writeln!(out, "    replay: {}", failure.replay);
    }
    out
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".to_string(), |d| format!("{:.1}", d.as_secs_f64()))
}

/// `5` for whole points, `3.33` otherwise.
fn points(points: f64) -> String {
    if points.fract() == 0.0 {
        format!("{points:.0}")
    } else {
        format!("{points:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grades::tests::sample;

    #[test]
    fn the_table_shows_each_test_and_the_failures() {
        let table = render(&sample());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "part  test               passed  timeouts   mean s    max s    cpu s     points"
        );
        assert_eq!(
            lines[1],
            "2A    initial_election      3/3         0      3.0      3.0     0.50        5/5"
        );
        assert_eq!(
            lines[2],
            "2A    re_election           1/3         1     43.7    120.0     0.50       0/10"
        );
        assert!(lines[3].ends_with("5/15"), "{}", lines[3]);
        assert!(table.contains("\nscore: 5/15\n"));
        assert!(table.contains("\nnotes:\n  raft/build.rs was not compiled or run\n"));
        assert!(table.contains("  2A re_election run 3: exited with status 101\n"));
        assert!(table.contains("    seed: 8741\n    output: runs/2A-re_election-run3.log\n"));
    }

    #[test]
    fn a_run_that_kept_a_core_busy_is_flagged() {
        let mut grades = sample();
        grades.tests[0].runs[1].cpu = Some(crate::grades::CpuUse {
            seconds: 7.5,
            wall: 3.0,
        });
        let table = render(&grades);
        let row = table.lines().nth(1).unwrap();
        assert!(
            row.ends_with("5/5  BUSY in 1 run(s): over 80 % of a core, look for a busy loop"),
            "{row}"
        );
        assert!(!table.lines().nth(2).unwrap().contains("BUSY"));
    }

    #[test]
    fn a_part_without_chosen_tests_gets_no_rows() {
        let mut grades = sample();
        grades.parts.push(crate::parts::Part::P2B);
        let table = render(&grades);
        assert!(!table.contains("2B"), "{table}");
        assert!(table.contains("\nscore: 5/15\n"), "{table}");
    }

    #[test]
    fn fractions_of_points() {
        assert_eq!(points(5.0), "5");
        assert_eq!(points(10.0 / 3.0), "3.33");
    }
}
