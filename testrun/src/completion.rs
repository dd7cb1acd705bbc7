//! The completion record, the runner's side (the harness's is
//! `tests/harness/completion.rs`): for each run a fresh random token goes to
//! a fresh file named in `RAFT_LABS_TOKEN_FILE`, and a record file that does
//! not exist yet is named in `RAFT_LABS_RECORD`. The harness reads and
//! deletes the token file when the test begins, before any code under test
//! runs, and appends `passed <token>` to the record when the test passes.
//! A run passes only if its process exited with status 0 and the record
//! holds that line: code under test that ends the process early, or prints
//! what a passing test prints, earns nothing. A harness given a token also
//! prints the CPU line ([`crate::output::cpu`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{io_error, Error};

/// The variable naming the file that holds a run's token.
pub const TOKEN_FILE_VAR: &str = "RAFT_LABS_TOKEN_FILE";
/// The variable naming the file the harness appends `passed <token>` to.
pub const RECORD_VAR: &str = "RAFT_LABS_RECORD";

/// One run's token and record.
#[derive(Debug)]
pub struct Completion {
    token: String,
    /// The file holding the token, until the harness takes it.
    pub token_file: PathBuf,
    /// The record the harness appends to.
    pub record: PathBuf,
}

impl Completion {
    /// Writes a fresh token to `token_file`; the record will be `record`.
    pub fn create(token_file: &Path, record: &Path) -> Result<Completion, Error> {
        let token = format!("{:032x}", rand::random::<u128>());
        fs::write(token_file, &token).map_err(io_error(token_file))?;
        Ok(Completion {
            token,
            token_file: token_file.to_path_buf(),
            record: record.to_path_buf(),
        })
    }

    /// Names the token file and the record in `command`'s environment.
    pub fn hand_to(&self, command: &mut Command) {
        command
            .env(TOKEN_FILE_VAR, &self.token_file)
            .env(RECORD_VAR, &self.record);
    }

    /// Whether the record holds the line `passed <token>`.
    pub fn recorded(&self) -> bool {
        let expected = format!("passed {}", self.token);
        fs::read_to_string(&self.record)
            .is_ok_and(|text| text.lines().any(|line| line.trim() == expected))
    }

    /// Whether the harness never took the token (it never started the test).
    pub fn token_unread(&self) -> bool {
        self.token_file.exists()
    }

    /// Removes the token file, if still there, and the record.
    pub fn remove(&self) {
        let _ = fs::remove_file(&self.token_file);
        let _ = fs::remove_file(&self.record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_runs_own_token_counts() {
        let dir = tempfile::tempdir().unwrap();
        let completion =
            Completion::create(&dir.path().join("token"), &dir.path().join("record")).unwrap();
        assert!(completion.token_unread() && !completion.recorded());
        let token = fs::read_to_string(&completion.token_file).unwrap();
        assert_eq!(token.len(), 32);
        fs::write(
            &completion.record,
            "passed 0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        assert!(!completion.recorded());
        fs::write(&completion.record, format!("other\npassed {token}\n")).unwrap();
        assert!(completion.recorded());
        completion.remove();
        assert!(!completion.token_unread() && !completion.record.exists());
    }
}
