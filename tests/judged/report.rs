//! What the judged process tells the judge about itself: its log lines,
//! and its death by panic.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::sync::Arc;

use harness::protocol::FromPeer;
use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::link::Link;

/// Lines at this level or more severe always go to the judge, which keeps
/// the last of them for a failure report; `RUST_LOG` may ask for more.
const KEPT_LEVEL: Level = Level::Debug;

struct ToJudge {
    link: Arc<Link>,
    /// What `RUST_LOG` selects, for lines below [`KEPT_LEVEL`].
    filter: env_logger::Logger,
}

impl Log for ToJudge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= KEPT_LEVEL || self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.link.send(&FromPeer::Log {
                level: record.level() as u8,
                target: record.target().to_string(),
                message: record.args().to_string(),
            });
        }
    }

    fn flush(&self) {}
}

/// Sends the process's log lines to the judge.
pub fn install_logger(link: &Arc<Link>) {
    let filter = env_logger::Builder::from_default_env().build();
    let max = filter.filter().max(LevelFilter::Debug);
    let logger = ToJudge {
        link: Arc::clone(link),
        filter,
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max);
    }
}

/// A panic anywhere in the process is its death: the judge hears the
/// message (with a backtrace, when `RUST_BACKTRACE` asks for one), and the
/// process aborts, so a peer never limps on without a thread. Nothing goes
/// to stderr, whose last lines the judge keeps for the failure report.
pub fn die_on_panic(link: &Arc<Link>) {
    let link = Arc::clone(link);
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let mut message = format!(
            "thread '{}' panicked at {}",
            thread.name().unwrap_or("<unnamed>"),
            describe(info)
        );
        let backtrace = Backtrace::capture();
        if backtrace.status() == BacktraceStatus::Captured {
            message.push_str(&format!("\nstack backtrace:\n{backtrace}"));
        }
        link.send(&FromPeer::Panicked { message });
        std::process::abort();
    }));
}

fn describe(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_string());
    match info.location() {
        Some(at) => format!("{}:{}:{}:\n{message}", at.file(), at.line(), at.column()),
        None => message,
    }
}
