//! The completion record the grader trusts instead of an exit code.
//!
//! For each run the grader hands the test process two file descriptors,
//! named in `RAFT_LABS_TOKEN_FD` and `RAFT_LABS_RECORD_FD`: a pipe holding
//! a fresh secret token, and the record (an anonymous memory file). When a
//! test begins, before any peer starts and so before any student code
//! runs, the harness reads the token and closes the pipe, and marks the
//! record close-on-exec, so no process the judge starts inherits either;
//! when the test passes, it writes `passed <token>` to the record. A process
//! that exits 0 early leaves no such line, so it scores nothing. Neither
//! travels through a path a judged process could replace. Student code
//! never runs in this process (it runs in the judged processes, which get
//! none of the judge's environment), and this process is made undumpable,
//! so they cannot read the token out of its memory or its descriptors.
//!
//! The students' runner (`cargo run -p runner`) still names files instead,
//! in `RAFT_LABS_TOKEN_FILE` and `RAFT_LABS_RECORD`: the harness reads and
//! deletes the token file, and appends to the record. Outside both, no
//! variable is set and this is a no-op.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Names the descriptor of the pipe holding this run's token (the grader).
pub const TOKEN_FD_ENV: &str = "RAFT_LABS_TOKEN_FD";
/// Names the descriptor the harness writes `passed <token>` to (the grader).
pub const RECORD_FD_ENV: &str = "RAFT_LABS_RECORD_FD";
/// Names the file holding this run's token (the students' runner).
pub const TOKEN_FILE_ENV: &str = "RAFT_LABS_TOKEN_FILE";
/// Names the file the harness appends `passed <token>` to (the runner).
pub const RECORD_ENV: &str = "RAFT_LABS_RECORD";

/// The most of a token the harness reads.
const TOKEN_CAP: usize = 256;

enum Record {
    /// The grader's descriptor.
    Handed(File),
    /// The runner's file.
    Named(PathBuf),
}

struct Claim {
    token: String,
    record: Record,
}

static CLAIM: OnceLock<Option<Claim>> = OnceLock::new();

/// Takes this run's token, once per process: reads it and closes its pipe
/// (or deletes its file), so code that runs later cannot learn it, and
/// keeps the record's descriptor from every process started later.
pub fn claim_token() {
    CLAIM.get_or_init(|| {
        let claim = claim_handed().or_else(claim_named)?;
        // The token now lives only in this process's memory. The judged
        // processes run as the same user; a process that is not dumpable
        // cannot be read through /proc/<pid>/mem or /proc/<pid>/fd, or
        // traced, by them.
        // SAFETY: prctl(PR_SET_DUMPABLE) takes integers and changes only a
        // flag of this process.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        Some(claim)
    });
}

/// The descriptor named by `var`, close-on-exec from now on.
fn handed_fd(var: &str) -> Option<RawFd> {
    let fd: RawFd = std::env::var(var).ok()?.trim().parse().ok()?;
    // SAFETY: fcntl takes integers; on a descriptor that is not open it
    // fails, and nothing is taken over.
    (fd > 2 && unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == 0).then_some(fd)
}

fn claim_handed() -> Option<Claim> {
    let token_fd = handed_fd(TOKEN_FD_ENV);
    let record_fd = handed_fd(RECORD_FD_ENV);
    // SAFETY: each descriptor is open (handed_fd checked) and was handed
    // to this process to own; each File closes its own when dropped.
    let (token_pipe, record) = unsafe {
        (
            token_fd.map(|fd| File::from_raw_fd(fd)),
            record_fd.map(|fd| File::from_raw_fd(fd)),
        )
    };
    let (mut token_pipe, record) = (token_pipe?, record?);
    // The grader wrote the token and closed its end before the run
    // started; the pipe is non-blocking, so read what is there.
    let mut bytes = Vec::new();
    let mut chunk = [0u8; TOKEN_CAP];
    while bytes.len() < TOKEN_CAP {
        match token_pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(token_pipe);
    Some(Claim {
        token: String::from_utf8_lossy(&bytes).trim().to_string(),
        record: Record::Handed(record),
    })
}

fn claim_named() -> Option<Claim> {
    let token_file = std::env::var_os(TOKEN_FILE_ENV)?;
    let record = std::env::var_os(RECORD_ENV)?;
    let token = fs::read_to_string(&token_file).ok()?;
    let _ = fs::remove_file(&token_file);
    Some(Claim {
        token: token.trim().to_string(),
        record: Record::Named(PathBuf::from(record)),
    })
}

/// Whether this run is under the grader (it handed over a token).
pub fn graded() -> bool {
    matches!(CLAIM.get(), Some(Some(_)))
}

/// Records that the running test passed; call only once it has.
pub fn record_pass() {
    let Some(Some(claim)) = CLAIM.get() else {
        return;
    };
    let line = format!("passed {}\n", claim.token);
    let written = match &claim.record {
        Record::Handed(file) => (&*file).write_all(line.as_bytes()),
        Record::Named(path) => OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(line.as_bytes())),
    };
    if let Err(e) = written {
        // The grader will count the run as failed; say why.
        eprintln!("harness: cannot write the completion record: {e}");
    }
}
