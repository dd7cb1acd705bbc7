//! The live progress view on the terminal: the build, then an overall bar
//! with the pass/fail counts, one line per running test, and a line for
//! every finished run. Hidden when standard output is not a terminal.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::grades::Outcome;

const TICK: Duration = Duration::from_millis(200);

/// The progress view.
pub struct Progress {
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    slots: Vec<ProgressBar>,
    passed: u64,
    failed: u64,
    timeouts: u64,
}

impl Progress {
    /// A view drawn on standard error, or a hidden one that draws nothing.
    pub fn new(visible: bool) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
            overall: None,
            slots: Vec::new(),
            passed: 0,
            failed: 0,
            timeouts: 0,
        }
    }

    /// A spinner for a phase (the build); its message can change until
    /// [`end_phase`](Progress::end_phase).
    pub fn phase(&self, message: &str) -> ProgressBar {
        let spinner = self.multi.add(ProgressBar::new_spinner());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}")
                .expect("a valid template"),
        );
        spinner.set_prefix(message.to_string());
        spinner.enable_steady_tick(TICK);
        spinner
    }

    /// Ends a phase, leaving `summary` as a line.
    pub fn end_phase(&self, spinner: ProgressBar, summary: &str) {
        spinner.finish_and_clear();
        self.multi.remove(&spinner);
        self.line(summary);
    }

    /// Starts the overall bar for `runs` runs on `workers` workers.
    pub fn start_runs(&mut self, runs: usize, workers: usize) {
        let overall = self.multi.add(ProgressBar::new(runs as u64));
        overall.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:40} {pos}/{len} runs  {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        overall.enable_steady_tick(TICK);
        self.overall = Some(overall);
        self.slots = (0..workers)
            .map(|_| {
                let slot = self.multi.add(ProgressBar::new_spinner());
                slot.set_style(
                    ProgressStyle::with_template("  {spinner} {wide_msg} {elapsed}")
                        .expect("a valid template"),
                );
                slot
            })
            .collect();
        self.show_counts();
    }

    /// Worker `slot` started the run `label`.
    pub fn started(&self, slot: usize, label: &str) {
        if let Some(bar) = self.slots.get(slot) {
            bar.reset_elapsed();
            bar.set_message(label.to_string());
            bar.enable_steady_tick(TICK);
        }
    }

    /// Worker `slot` finished the run `label`.
    pub fn finished(
        &mut self,
        slot: usize,
        label: &str,
        outcome: Outcome,
        took: Duration,
        why: &str,
    ) {
        let mark = match outcome {
            Outcome::Passed => {
                self.passed += 1;
                "pass"
            }
            Outcome::Failed => {
                self.failed += 1;
                "FAIL"
            }
            Outcome::TimedOut => {
                self.timeouts += 1;
                "TIME"
            }
        };
        let mut line = format!("{mark} {label} ({:.1} s)", took.as_secs_f64());
        if !why.is_empty() {
            line.push_str(": ");
            line.push_str(why);
        }
        self.line(&line);
        if let Some(bar) = self.slots.get(slot) {
            bar.disable_steady_tick();
            bar.set_message("idle");
        }
        if let Some(overall) = &self.overall {
            overall.inc(1);
        }
        self.show_counts();
    }

    fn show_counts(&self) {
        if let Some(overall) = &self.overall {
            overall.set_message(format!(
                "{} passed, {} failed, {} timed out",
                self.passed, self.failed, self.timeouts
            ));
        }
    }

    /// Prints `text` above the bars.
    fn line(&self, text: &str) {
        let _ = self.multi.println(text);
    }

    /// Removes the bars.
    pub fn finish(&self) {
        for bar in self.slots.iter().chain(&self.overall) {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}
