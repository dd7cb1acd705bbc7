//! Runs one process tree, a test run or a build, to its end: the command is
//! the leader of a new process group, known to Ctrl-C, killed with its
//! whole group at a timeout; once the leader has exited, whatever is left
//! of its group is killed, and so is every process it left behind outside
//! the group ([`crate::reaper`]).

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdout, Command, ExitStatus};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{spawn_error, Error};
use crate::groups::{self, kill_group, LiveGroup};
use crate::reaper;

/// The signal [`kill_group`] sends.
const SIGKILL: i32 = 9;

/// How many times [`Supervised::wait`] waits for a group to die, or kills
/// the processes a tree left behind, before it gives up on one that will
/// not die.
const KILL_ROUNDS: usize = 100;

/// A started process tree.
pub struct Supervised {
    group: u32,
    _live: LiveGroup,
    exited: Receiver<io::Result<ExitStatus>>,
    started: Instant,
    program: PathBuf,
}

/// The piped standard output and error of a [`Supervised`] leader, if the
/// command asked for pipes.
pub struct Pipes {
    /// Standard output.
    pub stdout: Option<ChildStdout>,
    /// Standard error.
    pub stderr: Option<ChildStderr>,
}

/// How a process tree ended.
#[derive(Debug)]
pub struct Ended {
    /// How its leader exited.
    pub status: ExitStatus,
    /// Killed at the timeout.
    pub timed_out: bool,
    /// Killed because the work was interrupted: it has no verdict.
    pub interrupted: bool,
    /// From start to the leader's exit.
    pub duration: Duration,
    /// Processes it left running outside its process group, killed.
    pub left_behind: usize,
}

/// How a process exited, in a few words: `exited with status 101`,
/// `killed by signal 9`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => format!("ended: {status}"),
    }
}

impl Supervised {
    /// Starts `command` (the program `program`) as the leader of a new
    /// process group.
    pub fn spawn(mut command: Command, program: &Path) -> Result<(Supervised, Pipes), Error> {
        let started = Instant::now();
        let mut child = reaper::spawn(command.process_group(0)).map_err(spawn_error(program))?;
        let group = child.id();
        let live = LiveGroup::register(group);
        // Drop the parent's copies of the child's files at once.
        drop(command);
        let pipes = Pipes {
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        };
        let (sender, exited) = mpsc::channel();
        thread::spawn(move || {
            let status = child.wait();
            reaper::reaped(group);
            let _ = sender.send(status);
        });
        let supervised = Supervised {
            group,
            _live: live,
            exited,
            started,
            program: program.to_path_buf(),
        };
        Ok((supervised, pipes))
    }

    /// Waits for the leader to exit, killing the group at `timeout`, then
    /// kills what is left of the tree: the group, then, if `tree` can name
    /// every process of the tree still running (a cgroup can), those; else
    /// every orphan re-parented to the runner.
    pub fn wait(
        self,
        timeout: Duration,
        tree: Option<&dyn Fn() -> Vec<u32>>,
    ) -> Result<Ended, Error> {
        let (status, timed_out) = match self.exited.recv_timeout(timeout) {
            Ok(status) => (status, false),
            Err(_) => {
                kill_group(self.group);
                (
                    self.exited.recv().expect("the waiting thread reports"),
                    true,
                )
            }
        };
        let duration = self.started.elapsed();
        kill_group(self.group);
        // Until the group has died, its members' children outside it are
        // neither orphans nor known to have left it.
        for _ in 0..KILL_ROUNDS {
            if !reaper::group_running(self.group) {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let left_behind = match tree {
            Some(running) => {
                let mut left = 0;
                for _ in 0..KILL_ROUNDS {
                    let alive = running();
                    if alive.is_empty() {
                        break;
                    }
                    left = left.max(alive.len());
                    alive.into_iter().for_each(reaper::kill);
                    thread::sleep(Duration::from_millis(10));
                    reaper::reap_dead();
                }
                reaper::reap_dead();
                left
            }
            None => reaper::sweep(),
        };
        let status = status.map_err(spawn_error(&self.program))?;
        let interrupted = groups::interrupted() && status.signal() == Some(SIGKILL);
        Ok(Ended {
            status,
            timed_out,
            interrupted,
            duration,
            left_behind,
        })
    }
}
