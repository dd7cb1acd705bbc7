//! What the runner prints: a line for each failed run, and the table at
//! the end.

use std::fmt::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use testrun::cpu::BUSY_SHARE;

use crate::pool::{Outcome, RunResult};
use crate::select::Chosen;

/// How many lines of a panic message a failure shows.
const MESSAGE_LINES: usize = 4;

/// The name of this invocation's output directory: `run-<unix seconds>-<pid>`.
pub fn stamp() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("run-{seconds}-{}", std::process::id())
}

/// A run's name: `lab2c figure8_unreliable #3`.
pub fn label(chosen: &Chosen, run: u32) -> String {
    format!("{} {} #{run}", chosen.target, chosen.test)
}

/// How a run that did not pass ended: `FAILED after 16.2 s (exited with
/// status 101)`.
pub fn verdict(result: &RunResult) -> String {
    let seconds = result.duration.as_secs_f64();
    match &result.outcome {
        Outcome::Passed => format!("passed in {seconds:.1} s"),
        Outcome::Failed(how) => format!("FAILED after {seconds:.1} s ({how})"),
        Outcome::TimedOut => format!("TIMED OUT: killed after {seconds:.1} s"),
    }
}

/// A failed run's message, output file and replay command, each line
/// starting with `indent`; paths relative to `root`.
pub fn details(chosen: &Chosen, result: &RunResult, root: &Path, indent: &str) -> String {
    let mut text = String::new();
    if let Some(message) = &result.message {
        for line in message.lines().take(MESSAGE_LINES) {
            let _ = writeln!(text, "{indent}{line}");
        }
    }
    let shown = |path: &'_ Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    if let Some(output) = &result.output {
        let _ = writeln!(text, "{indent}output: {}", shown(output));
    }
    if let Some(timeline) = &result.timeline {
        let _ = writeln!(
            text,
            "{indent}timeline: {} (its events as columns: cargo run --release -p labs -- log {})",
            shown(timeline),
            shown(&timeline.with_extension("jsonl"))
        );
    }
    let seed = result
        .seed
        .map_or(String::new(), |seed| format!("LABRPC_SEED={seed} "));
    let _ = writeln!(
        text,
        "{indent}replay: {seed}cargo test --release --test {} -- --exact {}",
        chosen.target, chosen.test
    );
    text
}

/// The table of every test: runs, failures, mean and longest time, mean
/// CPU; then each failed run, with its details.
pub fn table(chosen: &[Chosen], results: &[RunResult], root: &Path) -> String {
    let width = chosen
        .iter()
        .map(|c| c.test.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = format!(
        "\n{:<width$}  part  failed/runs  mean s   max s   CPU (of a core)\n",
        "test"
    );
    let mut busy = false;
    for (index, test) in chosen.iter().enumerate() {
        let runs: Vec<&RunResult> = results.iter().filter(|r| r.test == index).collect();
        let failed = runs.iter().filter(|r| !r.passed()).count();
        let seconds: Vec<f64> = runs.iter().map(|r| r.duration.as_secs_f64()).collect();
        let (mean, max) = if seconds.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            let mean = seconds.iter().sum::<f64>() / seconds.len() as f64;
            let max = seconds.iter().copied().fold(0.0, f64::max);
            (format!("{mean:.1}"), format!("{max:.1}"))
        };
        let shares: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.cpu)
            .map(|c| c.share())
            .collect();
        let cpu = if shares.is_empty() {
            "-".to_string()
        } else {
            let mean = shares.iter().sum::<f64>() / shares.len() as f64;
            let flag = if shares.iter().any(|&s| s > BUSY_SHARE) {
                busy = true;
                "  BUSY"
            } else {
                ""
            };
            // The reference's quiet tests use a tenth of a percent.
            let percent = mean * 100.0;
            let digits = if percent < 1.0 { 2 } else { 1 };
            format!("{percent:.digits$} %{flag}")
        };
        let _ = writeln!(
            text,
            "{:<width$}  {:<4}  {:>11}  {mean:>6}  {max:>6}   {cpu}",
            test.test,
            test.part,
            format!("{failed}/{}", runs.len()),
        );
    }
    if busy {
        let _ = writeln!(
            text,
            "\nBUSY: some run kept more than {:.0} % of a core busy: look for a thread that polls without sleeping.",
            BUSY_SHARE * 100.0
        );
    }
    let failures: Vec<&RunResult> = results.iter().filter(|r| !r.passed()).collect();
    let total = results.len();
    if failures.is_empty() {
        let _ = writeln!(text, "\nall {total} runs passed");
        return text;
    }
    let _ = writeln!(text, "\n{} of {total} runs failed:", failures.len());
    for result in failures {
        let test = &chosen[result.test];
        let _ = writeln!(text, "  {}: {}", label(test, result.run), verdict(result));
        text.push_str(&details(test, result, root, "    "));
    }
    let _ = writeln!(
        text,
        "\nA seed replays the network's decisions; your threads' timing still varies, so run a replay a few times."
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;
    use testrun::cpu::CpuUse;

    fn chosen(test: &str) -> Chosen {
        Chosen {
            part: "2C".into(),
            target: "lab2c".into(),
            test: test.into(),
            binary: PathBuf::from("/w/target/release/deps/lab2c-1"),
        }
    }

    fn result(test: usize, run: u32, outcome: Outcome, seconds: f64, cpu: f64) -> RunResult {
        let passed = outcome == Outcome::Passed;
        RunResult {
            test,
            run,
            outcome,
            duration: Duration::from_secs_f64(seconds),
            cpu: Some(CpuUse {
                seconds: cpu * seconds,
                wall: seconds,
            }),
            seed: (!passed).then_some(77),
            message: (!passed).then(|| {
                "S1 and S2 both lead term 4\nrule: one leader per term (at tests/lab2c.rs:9:5)"
                    .to_string()
            }),
            output: (!passed).then(|| PathBuf::from(format!("/w/target/labs/r/lab2c-t-{run}.log"))),
            timeline: (!passed)
                .then(|| PathBuf::from(format!("/w/target/labs/r/lab2c-t-{run}.html"))),
        }
    }

    #[test]
    fn the_table_counts_failures_and_names_how_to_replay_them() {
        let tests = [chosen("persist1"), chosen("figure8_unreliable")];
        let results = [
            result(0, 1, Outcome::Passed, 4.0, 0.01),
            result(0, 2, Outcome::Passed, 6.0, 0.03),
            result(
                1,
                1,
                Outcome::Failed("exited with status 101".into()),
                30.0,
                0.2,
            ),
            result(1, 2, Outcome::TimedOut, 120.0, 0.9),
        ];
        let table = table(&tests, &results, Path::new("/w"));
        assert!(
            table.contains("persist1            2C            0/2     5.0     6.0   2.0 %\n"),
            "{table}"
        );
        assert!(
            table
                .contains("figure8_unreliable  2C            2/2    75.0   120.0   55.0 %  BUSY\n"),
            "{table}"
        );
        assert!(table.contains("2 of 4 runs failed:\n  lab2c figure8_unreliable #1: FAILED after 30.0 s (exited with status 101)\n    S1 and S2 both lead term 4\n"), "{table}");
        assert!(table.contains("    output: target/labs/r/lab2c-t-2.log\n    timeline: target/labs/r/lab2c-t-2.html (its events as columns: cargo run --release -p labs -- log target/labs/r/lab2c-t-2.jsonl)\n    replay: LABRPC_SEED=77 cargo test --release --test lab2c -- --exact figure8_unreliable\n"), "{table}");
        assert!(
            table.contains("#2: TIMED OUT: killed after 120.0 s"),
            "{table}"
        );
        assert!(
            table.contains("BUSY: some run kept more than 80 %"),
            "{table}"
        );
    }

    #[test]
    fn a_clean_table_says_so() {
        let table = table(
            &[chosen("persist1")],
            &[result(0, 1, Outcome::Passed, 4.0, 0.01)],
            Path::new("/w"),
        );
        assert!(table.ends_with("\nall 1 runs passed\n"), "{table}");
        assert!(!table.contains("BUSY"));
    }
}
