//! The process-wide logger. It prints to stderr what `RUST_LOG` asks for
//! (env_logger syntax, e.g. `RUST_LOG=raft=debug`), and it keeps the last
//! few debug lines of each peer so a failing test can show them even when
//! `RUST_LOG` is unset.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use log::{Level, Log, Metadata, Record};
use parking_lot::Mutex;

/// Lines at this level or more severe are kept, whatever `RUST_LOG` says.
const KEPT_LEVEL: Level = Level::Debug;

/// How many recent lines are kept per peer.
const KEPT_PER_SOURCE: usize = 20;

/// Who logged a line: a peer, recognised by the `S{n} ` prefix every Raft
/// line starts with, or anything else (labrpc warnings, the harness).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Peer(usize),
    Other,
}

struct Capture {
    printer: env_logger::Logger,
    recent: Mutex<Recent>,
}

struct Recent {
    /// Line times are shown relative to this: the start of the current test.
    since: Instant,
    lines: BTreeMap<Source, VecDeque<String>>,
}

static CAPTURE: OnceLock<Option<&'static Capture>> = OnceLock::new();

/// Installs the logger, once per process. If something else installed a
/// logger first, nothing is captured and [`tails`] says so.
fn capture() -> Option<&'static Capture> {
    *CAPTURE.get_or_init(|| {
        let printer = env_logger::Builder::from_default_env().build();
        let max_level = printer.filter().max(KEPT_LEVEL.to_level_filter());
        let capture: &'static Capture = Box::leak(Box::new(Capture {
            printer,
            recent: Mutex::new(Recent {
                since: Instant::now(),
                lines: BTreeMap::new(),
            }),
        }));
        log::set_logger(capture).ok()?;
        log::set_max_level(max_level);
        Some(capture)
    })
}

/// Installs the logger if needed and forgets the lines of earlier tests;
/// line times count from now.
pub(crate) fn start_test() {
    if let Some(capture) = capture() {
        let mut recent = capture.recent.lock();
        recent.since = Instant::now();
        recent.lines.clear();
    }
}

/// The last lines each peer logged in this test, as a printable block.
pub(crate) fn tails() -> String {
    let Some(capture) = capture() else {
        return "(no log lines: another logger was installed before the harness's)\n".into();
    };
    let recent = capture.recent.lock();
    if recent.lines.is_empty() {
        return "(nothing was logged at debug level or above)\n".into();
    }
    let mut out = String::new();
    for (source, lines) in &recent.lines {
        let _ = match source {
            Source::Peer(n) => writeln!(out, "S{n}, last {} lines:", lines.len()),
            Source::Other => writeln!(out, "other, last {} lines:", lines.len()),
        };
        for line in lines {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

fn source_of(message: &str) -> Source {
    let digits = message
        .strip_prefix('S')
        .and_then(|rest| rest.split_once(' '))
        .map(|(digits, _)| digits);
    match digits.and_then(|d| d.parse().ok()) {
        Some(n) => Source::Peer(n),
        None => Source::Other,
    }
}

impl Log for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= KEPT_LEVEL || self.printer.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        self.printer.log(record); // Prints only what RUST_LOG selects.
        if record.level() > KEPT_LEVEL {
            return;
        }
        let message = record.args().to_string();
        let source = source_of(&message);
        let mut recent = self.recent.lock();
        let at = recent.since.elapsed().as_secs_f64();
        let line = format!("{at:8.3}s {:<5} {message}", record.level());
        let lines = recent.lines.entry(source).or_default();
        if lines.len() == KEPT_PER_SOURCE {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn flush(&self) {
        self.printer.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raft_lines_are_filed_under_their_peer() {
        assert!(matches!(
            source_of("S12 T3 becomes leader"),
            Source::Peer(12)
        ));
        assert!(matches!(source_of("Sx T3 ..."), Source::Other));
        assert!(matches!(source_of("labrpc: end made twice"), Source::Other));
    }
}
