//! The live view on standard error: an overall bar with the failures so
//! far, a line per running test, and a line for every failed run as it
//! fails. Without a terminal, only the failures are printed.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pool::RunResult;
use crate::select::Chosen;
use crate::summary;

/// How often the bars redraw.
const TICK: Duration = Duration::from_millis(250);

/// The view.
pub struct View {
    multi: MultiProgress,
    overall: ProgressBar,
    failed: AtomicU64,
    visible: bool,
}

impl View {
    /// A view of `total` runs, drawn if `visible`.
    pub fn new(total: usize, visible: bool) -> View {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:40} {pos}/{len} runs  {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        overall.set_message("0 failed");
        overall.enable_steady_tick(TICK);
        View {
            multi,
            overall,
            failed: AtomicU64::new(0),
            visible,
        }
    }

    /// A line for a run that starts now.
    pub fn start(&self, label: &str) -> ProgressBar {
        let slot = self.multi.add(ProgressBar::new_spinner());
        slot.set_style(
            ProgressStyle::with_template("  {spinner} {wide_msg} {elapsed}")
                .expect("a valid template"),
        );
        slot.set_message(label.to_string());
        slot.enable_steady_tick(TICK);
        slot
    }

    /// Removes the line of a run that did not finish (Ctrl-C).
    pub fn abandon(&self, slot: ProgressBar) {
        slot.finish_and_clear();
        self.multi.remove(&slot);
    }

    /// Removes the line of a finished run of `chosen`, counts it, and
    /// prints it if it failed (paths relative to `root`).
    pub fn finished(&self, slot: ProgressBar, chosen: &Chosen, result: &RunResult, root: &Path) {
        self.abandon(slot);
        self.overall.inc(1);
        if result.passed() {
            return;
        }
        let failed = self.failed.fetch_add(1, Ordering::SeqCst) + 1;
        self.overall.set_message(format!("{failed} failed"));
        let line = format!(
            "{}: {}\n{}",
            summary::label(chosen, result.run),
            summary::verdict(result),
            summary::details(chosen, result, root, "    ").trim_end()
        );
        if self.visible {
            self.multi.suspend(|| eprintln!("{line}"));
        } else {
            eprintln!("{line}");
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        self.overall.finish_and_clear();
    }
}
