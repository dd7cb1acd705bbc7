//! The completion record the grader trusts instead of an exit code.
//!
//! For each run the grader writes a fresh secret token to a file and names
//! it in `RAFT_LABS_TOKEN_FILE`, and names a record file in
//! `RAFT_LABS_RECORD`. When a test begins, before any student code runs,
//! the harness reads the token and deletes its file; when the test passes,
//! it appends `passed <token>` to the record. A process that exits 0 early
//! (say, from a student's `Raft::new`) leaves no such line, so it scores
//! nothing. Student code never runs in this process (it runs in the judged
//! processes, which get none of the judge's environment), and this process
//! is made undumpable, so they cannot read the token out of its memory.
//! Outside the grader neither variable is set and this is a no-op.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Names the file holding this run's token.
pub const TOKEN_FILE_ENV: &str = "RAFT_LABS_TOKEN_FILE";
/// Names the file the harness appends `passed <token>` to.
pub const RECORD_ENV: &str = "RAFT_LABS_RECORD";

struct Claim {
    token: String,
    record: PathBuf,
}

static CLAIM: OnceLock<Option<Claim>> = OnceLock::new();

/// Takes this run's token, once per process: reads it and deletes its file,
/// so code that runs later cannot learn it (knowing the record's path is no
/// help without the token).
pub fn claim_token() {
    CLAIM.get_or_init(|| {
        let token_file = std::env::var_os(TOKEN_FILE_ENV)?;
        let record = std::env::var_os(RECORD_ENV)?;
        let token = fs::read_to_string(&token_file).ok()?;
        let _ = fs::remove_file(&token_file);
        // The token now lives only in this process's memory. The judged
        // processes run as the same user; a process that is not dumpable
        // cannot be read through /proc/<pid>/mem or traced by them.
        // SAFETY: prctl(PR_SET_DUMPABLE) takes integers and changes only a
        // flag of this process.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        Some(Claim {
            token: token.trim().to_string(),
            record: PathBuf::from(record),
        })
    });
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
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&claim.record)
        .and_then(|mut file| writeln!(file, "passed {}", claim.token));
    if let Err(e) = written {
        // The grader will count the run as failed; say why.
        eprintln!(
            "harness: cannot write the completion record {}: {e}",
            claim.record.display()
        );
    }
}
