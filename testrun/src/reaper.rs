//! No process a run or a build started outlives it, not even one that left
//! its process group or its session (`setsid`): the program running the
//! tests (the runner) is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so
//! such a process, once its parent has died, becomes a child of the runner,
//! and [`sweep`] kills and reaps every child of the runner that it did not
//! start itself.
//!
//! Every process the runner starts goes through [`spawn`], which records
//! it until [`reaped`] is called for it.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::process::{Child, Command};
use std::sync::Mutex;

use crate::error::Error;

/// The processes the runner started and has not reaped yet.
static STARTED: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Makes the runner the reaper of every orphan among its descendants.
pub fn become_subreaper() -> Result<(), Error> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes one integer argument
    // and touches no memory of ours.
    let done = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if done == 0 {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "cannot become a child subreaper: {}",
            io::Error::last_os_error()
        )))
    }
}

/// Spawns `command`, recording the child as started by the runner (so
/// [`sweep`] leaves it alone) until [`reaped`] is called with its pid.
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    // Held across the spawn, so a sweep never sees the new child
    // unrecorded.
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    let child = command.spawn()?;
    started.insert(child.id());
    Ok(child)
}

/// Forgets the child `pid`, which the runner has waited for.
pub fn reaped(pid: u32) {
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pid);
}

/// Kills and reaps every child of the runner it did not [`spawn`] (orphans
/// re-parented to it), again and again until there is none: killing one
/// hands its own children to the runner. Returns how many were still
/// running when found.
pub fn sweep() -> usize {
    let mut killed = 0;
    loop {
        let orphans = orphans();
        if orphans.is_empty() {
            return killed;
        }
        for &(pid, running) in &orphans {
            kill(pid);
            killed += usize::from(running);
        }
        for &(pid, _) in &orphans {
            // SAFETY: waits for our own child `pid`, storing no status.
            unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
        }
    }
}

/// Reaps the orphans re-parented to the runner that have died, leaving the
/// running ones alone (their own run kills them).
pub fn reap_dead() {
    for (pid, _) in orphans().into_iter().filter(|&(_, running)| !running) {
        // SAFETY: waits for our own child `pid`, which has exited.
        unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
    }
}

/// The children of the runner it did not [`spawn`], each with whether it is
/// still running.
fn orphans() -> Vec<(u32, bool)> {
    let started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    children_of(std::process::id())
        .into_iter()
        .filter(|(pid, _)| !started.contains(pid))
        .collect()
}

/// Sends SIGKILL to the process `pid`; one already gone is no error.
pub fn kill(pid: u32) {
    // SAFETY: kill takes two integers.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

/// Whether a process of the group `group` is still running (not a zombie).
pub fn group_running(group: u32) -> bool {
    processes().any(|p| p.group == group && p.running)
}

/// The children of `parent`, each with whether it is still running (not a
/// zombie).
fn children_of(parent: u32) -> Vec<(u32, bool)> {
    processes()
        .filter(|p| p.parent == parent)
        .map(|p| (p.pid, p.running))
        .collect()
}

/// A process, as `/proc/<pid>/stat` shows it.
struct Process {
    pid: u32,
    running: bool,
    parent: u32,
    group: u32,
}

/// Every process of the machine (that this one can see).
fn processes() -> impl Iterator<Item = Process> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?;
            let parent = fields.next()?.parse().ok()?;
            let group = fields.next()?.parse().ok()?;
            Some(Process {
                pid,
                running: state != "Z",
                parent,
                group,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::{Duration, Instant};

    #[test]
    fn a_detached_grandchild_is_swept() {
        become_subreaper().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The shell starts a detached sleep in a session of its own, notes
        // its pid, and exits: the sleep is re-parented to us.
        let script = format!(
            "setsid sleep 600 & echo $! > {}",
            pid_file.to_str().unwrap()
        );
        let mut shell = spawn(Command::new("sh").args(["-c", &script])).unwrap();
        shell.wait().unwrap();
        reaped(shell.id());
        let pid: u32 = fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let proc_dir = format!("/proc/{pid}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while sweep() == 0 && Path::new(&proc_dir).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !Path::new(&proc_dir).exists(),
            "the detached sleep lives on"
        );
    }
}
