//! The process-wide logger. It prints to stderr what `RUST_LOG` asks for
//! (env_logger syntax, e.g. `RUST_LOG=raft=debug`), and it keeps the last
//! few debug lines of each peer so a failing test can show them even when
//! `RUST_LOG` is unset. Every line it keeps goes to the test's event record
//! too ([`crate::runrecord`]).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use log::{Level, Log, Metadata, Record};
use parking_lot::Mutex;
use runlog::Kind;

use crate::runrecord;

/// Lines at this level or more severe are kept, whatever `RUST_LOG` says.
const KEPT_LEVEL: Level = Level::Debug;

/// How many recent lines are kept per peer.
const KEPT_PER_SOURCE: usize = 20;

/// Who a line is about: a judged process (`S2`, `C0`: the lines it logged
/// or printed, and the harness's lines starting `S2 `), or anything else
/// (labrpc warnings, the harness).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Process(String),
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
            Source::Process(label) => writeln!(out, "{label}, last {} lines:", lines.len()),
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
    match digits.and_then(|d| d.parse::<usize>().ok()) {
        Some(n) => Source::Process(format!("S{n}")),
        None => Source::Other,
    }
}

/// Keeps a line logged in judged process `label` (and prints it if
/// `RUST_LOG` selects it), as if it had been logged here.
pub(crate) fn judged_log(label: &str, level: Level, target: &str, message: &str) {
    let Some(capture) = capture() else { return };
    let args = format_args!("{message}");
    let record = Record::builder()
        .level(level)
        .target(target)
        .args(args)
        .build();
    if capture.printer.enabled(record.metadata()) {
        capture.printer.log(&record);
    }
    if level <= KEPT_LEVEL {
        capture.keep(Source::Process(label.to_string()), level, message);
        runrecord::logged(runrecord::peer_of(label), level, target, message);
    }
}

/// Keeps a line judged process `label` wrote to its stdout or stderr; with
/// `RUST_LOG` set (a student debugging), prints it too.
pub(crate) fn judged_output(label: &str, stream: &str, line: &str) {
    let Some(capture) = capture() else { return };
    if std::env::var_os("RUST_LOG").is_some() {
        eprintln!("{label} {stream}: {line}");
    }
    let line = format!("{stream}: {line}");
    capture.keep(Source::Process(label.to_string()), Level::Info, &line);
    runrecord::record(runrecord::peer_of(label), None, Kind::Output { text: line });
}

impl Capture {
    fn keep(&self, source: Source, level: Level, message: &str) {
        let mut recent = self.recent.lock();
        let at = recent.since.elapsed().as_secs_f64();
        let line = format!("{at:8.3}s {level:<5} {message}");
        let lines = recent.lines.entry(source).or_default();
        if lines.len() == KEPT_PER_SOURCE {
            lines.pop_front();
        }
        lines.push_back(line);
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
        self.keep(source_of(&message), record.level(), &message);
        // The harness's actions are recorded as events of their own.
        if record.target() != runrecord::HARNESS_TARGET {
            runrecord::logged(None, record.level(), record.target(), &message);
        }
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
        assert!(source_of("S12 T3 becomes leader") == Source::Process("S12".into()));
        assert!(matches!(source_of("Sx T3 ..."), Source::Other));
        assert!(matches!(source_of("labrpc: end made twice"), Source::Other));
    }
}
