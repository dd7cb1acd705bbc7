//! The events of the running test (the `runlog` crate's [`Event`]s): the
//! harness's actions on peers and the network, what each peer said of its
//! state when asked, what it applied, and every line it logged or printed.
//! When the test fails they are saved as JSON lines and as an HTML
//! timeline, and the failure report names both files.
//!
//! The files go to `$RAFT_LABS_RUN_DIR`, else to `target/runs/`. Under the
//! grader, which gives the run a completion token and confines it to its
//! scratch directory, nothing is saved unless the variable names a place.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Instant;

use parking_lot::Mutex;
use runlog::{Event, Kind};

use crate::completion;

/// The log target of the harness's own lines about its actions: they are
/// recorded as structured events, not as log lines.
pub(crate) const HARNESS_TARGET: &str = "harness";

/// The most events one test keeps; later ones are counted, not kept (a
/// peer that logs in a loop must not exhaust the judge's memory).
const MAX_EVENTS: usize = 500_000;

struct Record {
    since: Instant,
    /// The test's name (its thread's), for the files' names.
    test: String,
    events: Vec<Event>,
    left_out: usize,
    failed: bool,
}

static RECORD: Mutex<Option<Record>> = parking_lot::const_mutex(None);

/// Forgets the events of earlier tests; times count from now. Call on the
/// test's own thread.
pub(crate) fn start_test() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            failed(message);
            previous(info);
        }));
    });
    let test = std::thread::current()
        .name()
        .unwrap_or("test")
        .replace("::", "-");
    *RECORD.lock() = Some(Record {
        since: Instant::now(),
        test,
        events: Vec::new(),
        left_out: 0,
        failed: false,
    });
}

impl Record {
    fn push(&mut self, peer: Option<usize>, term: Option<u64>, kind: Kind) {
        let t = self.since.elapsed().as_secs_f64();
        self.events.push(Event {
            t,
            peer,
            term,
            kind,
        });
    }
}

/// Records an event of the running test (none runs: nothing happens).
pub(crate) fn record(peer: Option<usize>, term: Option<u64>, kind: Kind) {
    let mut guard = RECORD.lock();
    let Some(record) = guard.as_mut() else { return };
    if record.events.len() >= MAX_EVENTS {
        record.left_out += 1;
        return;
    }
    record.push(peer, term, kind);
}

/// Records a line logged at `level` under `target`; its peer is `peer`,
/// else the one the line starts with (`S2 T5 ...`), as is its term.
pub(crate) fn logged(peer: Option<usize>, level: log::Level, target: &str, message: &str) {
    let (named, term, text) = split_line(message);
    let kind = Kind::Log {
        level: level.to_string(),
        topic: target.to_string(),
        text: text.to_string(),
    };
    record(peer.or(named), term, kind);
}

/// Records the check that failed the test; only the first failure counts
/// (the rest are its echoes, such as a helper thread's panic re-raised).
/// Kept even past [`MAX_EVENTS`]: it is what the timeline marks.
pub(crate) fn failed(message: &str) {
    let mut guard = RECORD.lock();
    let Some(record) = guard.as_mut() else { return };
    if std::mem::replace(&mut record.failed, true) {
        return;
    }
    let kind = Kind::Failed {
        message: message.to_string(),
    };
    record.push(None, None, kind);
}

/// Logs `S<peer> [harness] <what>` (the failure report's tails show it)
/// and records `kind` for the peer.
pub(crate) fn harness_action(peer: usize, kind: Kind, what: &str) {
    log::debug!(target: HARNESS_TARGET, "S{peer} [harness] {what}");
    record(Some(peer), None, kind);
}

/// Logs a change to the network (`S<peer> [harness] <what>` when it is
/// about a peer) and records it.
pub(crate) fn network_change(peer: Option<usize>, what: &str) {
    let text = match peer {
        Some(peer) => {
            log::debug!(target: HARNESS_TARGET, "S{peer} [harness] {what}");
            format!("S{peer} {what}")
        }
        None => {
            log::debug!(target: HARNESS_TARGET, "[harness] network: {what}");
            what.to_string()
        }
    };
    record(None, None, Kind::Network { text });
}

/// The peer a judged process's label names: `S2` is 2; clerks (`C0`) are
/// no peer.
pub(crate) fn peer_of(label: &str) -> Option<usize> {
    label.strip_prefix('S')?.parse().ok()
}

/// The peer and term a log line starts with (`S2 T5 becomes leader`), and
/// the rest of the line.
fn split_line(message: &str) -> (Option<usize>, Option<u64>, &str) {
    let mut rest = message;
    let mut take = |prefix: char| -> Option<u64> {
        let (word, after) = rest.split_once(' ')?;
        let number = word.strip_prefix(prefix)?.parse().ok()?;
        rest = after;
        Some(number)
    };
    let peer = take('S').map(|p| p as usize);
    let term = peer.and_then(|_| take('T'));
    (peer, term, rest)
}

/// Saves the events of the failed test titled `title` (network seed
/// `seed`) and returns the failure report's lines naming the files, or
/// why they could not be saved; nothing under the grader unless
/// [`runlog::RUN_DIR_VAR`] is set.
pub(crate) fn save_failed_run(title: &str, seed: Option<u64>) -> String {
    let dir = match std::env::var_os(runlog::RUN_DIR_VAR) {
        Some(dir) => PathBuf::from(dir),
        None if completion::graded() => return String::new(),
        None => match default_dir() {
            Some(dir) => dir,
            None => return "(the events of this run were not saved: no target directory)\n".into(),
        },
    };
    // Copied out, so that nothing below runs under the lock the panic
    // hook takes.
    let Some((test, recorded, left_out)) = RECORD
        .lock()
        .as_ref()
        .map(|r| (r.test.clone(), r.events.clone(), r.left_out))
    else {
        return String::new();
    };
    let seed = seed.map_or("noseed".to_string(), |s| s.to_string());
    let stem = format!("{}-{test}-{seed}", binary_target());
    let events = dir.join(format!("{stem}.jsonl"));
    let timeline = dir.join(format!("{stem}.html"));
    let lines: String = recorded.iter().map(|e| e.to_json_line() + "\n").collect();
    let page = runlog::timeline::html(title, &recorded);
    let written = fs::create_dir_all(&dir)
        .and_then(|()| fs::write(&events, lines))
        .and_then(|()| fs::write(&timeline, page));
    let left_out = match left_out {
        0 => String::new(),
        n => format!(" ({n} later events left out: a test keeps {MAX_EVENTS})"),
    };
    match written {
        Ok(()) => format!(
            "events of this run: {}{left_out}\n  (per-peer columns: cargo run --release -p labs -- log {})\n\
             {}{} (open it in a browser)\n",
            events.display(),
            events.display(),
            runlog::TIMELINE_LINE,
            timeline.display()
        ),
        Err(e) => format!("(the events of this run were not saved in {}: {e})\n", dir.display()),
    }
}

/// `target/runs`: the test binary is `target/<profile>/deps/lab2c-<hash>`.
fn default_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    Some(target.join("runs"))
}

/// The test target of this binary: `lab2c` for `lab2c-<hash>`.
fn binary_target() -> String {
    std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.split('-').next())
        .unwrap_or("test")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_their_peer_and_term() {
        assert_eq!(
            split_line("S2 T5 becomes leader"),
            (Some(2), Some(5), "becomes leader")
        );
        assert_eq!(split_line("S12 granted"), (Some(12), None, "granted"));
        assert_eq!(split_line("T5 S2 odd"), (None, None, "T5 S2 odd"));
        assert_eq!(
            split_line("labrpc: end made twice"),
            (None, None, "labrpc: end made twice")
        );
        assert_eq!(peer_of("S3"), Some(3));
        assert_eq!(peer_of("C0"), None);
    }
}
