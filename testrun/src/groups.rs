//! The process groups of the runs in progress, and stopping them.
//!
//! Each run is the leader of its own process group, so the terminal's
//! Ctrl-C reaches the program running the tests but not the tests.
//! [`install_interrupt`] makes Ctrl-C (and SIGTERM) kill every live group
//! and stop the program's work; it then reports the runs that finished. A
//! second Ctrl-C ends the program at once.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::error::Error;

/// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it):
/// the exit code of a second Ctrl-C.
pub const INTERRUPTED_EXIT: u8 = 130;

/// Set by the first Ctrl-C or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The process groups of the runs in progress.
static LIVE: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// The name the interruption notice starts with.
static PROGRAM: OnceLock<&'static str> = OnceLock::new();

/// Makes Ctrl-C and SIGTERM interrupt the work of `program` (the name its
/// notice starts with; see the module docs).
pub fn install_interrupt(program: &'static str) -> Result<(), Error> {
    PROGRAM.get_or_init(|| program);
    ctrlc::set_handler(interrupt).map_err(|e| Error::Other(format!("cannot handle Ctrl-C: {e}")))
}

/// Stops the work: kills every live run's group; later runs are killed as
/// they start. Called a second time, ends the process with
/// [`INTERRUPTED_EXIT`].
pub fn interrupt() {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        std::process::exit(i32::from(INTERRUPTED_EXIT));
    }
    let program = PROGRAM.get().copied().unwrap_or("interrupted");
    eprintln!(
        "\n{program}: interrupted: killing the runs in progress (Ctrl-C again to quit at once)"
    );
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    for &group in live.iter() {
        kill_group(group);
    }
}

/// Whether the work was interrupted.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A live run's process group, known to [`interrupt`] until dropped.
pub struct LiveGroup(u32);

impl LiveGroup {
    /// Registers `group`; if the work is already interrupted, the group
    /// is killed at once.
    pub fn register(group: u32) -> LiveGroup {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        if interrupted() {
            kill_group(group);
        }
        live.insert(group);
        LiveGroup(group)
    }
}

impl Drop for LiveGroup {
    fn drop(&mut self) {
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// Sends SIGKILL to every process of the group `group`; a group that is
/// already gone is not an error.
pub fn kill_group(group: u32) {
    // SAFETY: kill takes two integers; a negative pid names a group.
    unsafe { libc::kill(-(group as libc::pid_t), libc::SIGKILL) };
}
