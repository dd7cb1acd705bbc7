//! The completion record, the grader's side (the harness's is
//! `tests/harness/completion.rs`), over file descriptors rather than paths.
//!
//! For each run the grader makes a pipe holding a fresh random token (its
//! write end closed at once) and an anonymous memory file (`memfd`) for the
//! record, and hands the test process both, naming their descriptor numbers
//! in [`TOKEN_FD_VAR`] and [`RECORD_FD_VAR`] (3 and 4). When a test begins, before any
//! peer starts, the harness reads the token and closes the pipe, and marks
//! the record's descriptor close-on-exec; when the test passes it writes
//! `passed <token>` to it. Nothing of either lives in a directory a judged
//! process can write: there is no path to replace with a FIFO or a link to
//! `/dev/zero`, and the grader reads the record from its own descriptor,
//! non-blocking and capped at [`RECORD_CAP`] bytes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::error::Error;

/// The variable naming the descriptor the run's token is read from.
pub const TOKEN_FD_VAR: &str = "RAFT_LABS_TOKEN_FD";
/// The variable naming the descriptor the harness writes `passed <token>` to.
pub const RECORD_FD_VAR: &str = "RAFT_LABS_RECORD_FD";
/// The descriptor number of the token's pipe in the run's process.
pub const TOKEN_FD: RawFd = 3;
/// The descriptor number of the record in the run's process.
pub const RECORD_FD: RawFd = 4;
/// How much of the record the grader reads.
pub const RECORD_CAP: usize = 4096;

/// One run's token and record.
#[derive(Debug)]
pub struct Completion {
    token: String,
    /// The read end of the token's pipe (the write end is closed).
    token_pipe: OwnedFd,
    /// The record: an anonymous memory file.
    record: OwnedFd,
}

impl Completion {
    /// A fresh token in a new pipe, and an empty record.
    pub fn create() -> Result<Completion, Error> {
        let failed = |what: &str| {
            let e = io::Error::last_os_error();
            Error::Other(format!("cannot make the run's {what}: {e}"))
        };
        let token = format!("{:032x}", rand::random::<u128>());
        let mut ends = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two descriptors into `ends`, which are then
        // ours alone. Close-on-exec: only the run's process gets them, in
        // its pre_exec (see hand_to); non-blocking: no read of the grader
        // can wait on it.
        let (read, write) = unsafe {
            if libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) != 0 {
                return Err(failed("token pipe"));
            }
            (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1]))
        };
        // 32 bytes into an empty pipe: written whole, at once.
        // SAFETY: write reads `token.len()` bytes of `token`.
        let written = unsafe { libc::write(write.as_raw_fd(), token.as_ptr().cast(), token.len()) };
        if written != token.len() as isize {
            return Err(failed("token"));
        }
        drop(write);
        // SAFETY: memfd_create takes a string and flags; the descriptor it
        // returns is ours alone.
        let record = unsafe {
            let fd = libc::memfd_create(c"raft-labs-record".as_ptr(), libc::MFD_CLOEXEC);
            if fd < 0 {
                return Err(failed("record"));
            }
            OwnedFd::from_raw_fd(fd)
        };
        Ok(Completion {
            token,
            token_pipe: read,
            record,
        })
    }

    /// Hands the token's pipe and the record to the process `command`
    /// starts (and to no other: they stay close-on-exec in the grader), as
    /// descriptors [`TOKEN_FD`] and [`RECORD_FD`], named in its
    /// environment. Call it after any other `pre_exec` of `command` (it
    /// takes over those two numbers in the child); the completion must live
    /// until the process has started.
    pub fn hand_to(&self, command: &mut Command) {
        let fds = [self.token_pipe.as_raw_fd(), self.record.as_raw_fd()];
        command
            .env(TOKEN_FD_VAR, TOKEN_FD.to_string())
            .env(RECORD_FD_VAR, RECORD_FD.to_string());
        // SAFETY: between fork and exec only fcntl, dup2 and close, which
        // are async-signal-safe, on descriptors the child has (a fork
        // copies them). Copied above the low numbers first, so that moving
        // one to its number cannot close the other; dup2 clears
        // close-on-exec on the copy it makes.
        unsafe {
            command.pre_exec(move || {
                let high = fds.map(|fd| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100));
                if high.iter().any(|&fd| fd < 0) {
                    return Err(io::Error::last_os_error());
                }
                for (from, to) in high.into_iter().zip([TOKEN_FD, RECORD_FD]) {
                    if libc::dup2(from, to) != to {
                        return Err(io::Error::last_os_error());
                    }
                    libc::close(from);
                }
                Ok(())
            });
        }
    }

    /// Whether the record holds the line `passed <token>`.
    pub fn recorded(&self) -> bool {
        let mut bytes = vec![0u8; RECORD_CAP];
        // SAFETY: pread writes at most `bytes.len()` bytes into `bytes`.
        let read = unsafe {
            libc::pread(
                self.record.as_raw_fd(),
                bytes.as_mut_ptr().cast(),
                bytes.len(),
                0,
            )
        };
        let Ok(read) = usize::try_from(read) else {
            return false;
        };
        let expected = format!("passed {}", self.token);
        String::from_utf8_lossy(&bytes[..read])
            .lines()
            .any(|line| line.trim() == expected)
    }

    /// Whether the harness never took the token (it never started the
    /// test): the pipe still holds it. Never waits (the pipe is
    /// non-blocking).
    pub fn token_unread(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: read writes at most one byte into `byte`.
        let read = unsafe { libc::read(self.token_pipe.as_raw_fd(), (&raw mut byte).cast(), 1) };
        read > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    fn run(script: &str) -> Completion {
        let completion = Completion::create().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", script]).stdin(Stdio::null());
        completion.hand_to(&mut command);
        assert!(command.status().unwrap().success());
        completion
    }

    #[test]
    fn only_the_runs_own_token_counts() {
        let completion = run(
            r#"read -r token <&"$RAFT_LABS_TOKEN_FD"; echo "other" >&"$RAFT_LABS_RECORD_FD"; echo "passed $token" >&"$RAFT_LABS_RECORD_FD""#,
        );
        assert!(!completion.token_unread() && completion.recorded());
        let forged =
            run(r#"echo "passed 0123456789abcdef0123456789abcdef" >&"$RAFT_LABS_RECORD_FD""#);
        assert!(forged.token_unread() && !forged.recorded());
    }
}
