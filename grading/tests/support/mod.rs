//! Runs the `grade` binary the way an instructor does, and reads what it
//! wrote.

#![allow(dead_code)] // each test file uses its own share of the helpers

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The reference tree: the workspace around this crate.
pub fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("grading/ is inside the workspace")
        .to_path_buf()
}

/// What one `grade` invocation did.
pub struct Graded {
    /// Its exit code.
    pub code: i32,
    /// Its standard output (the text table unless `--format` said otherwise).
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// The report directory it wrote.
    pub report: tempfile::TempDir,
}

impl Graded {
    /// A JSON report in the report directory.
    pub fn json(&self, name: &str) -> Value {
        let path = self.report.path().join(name);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.describe()));
        serde_json::from_str(&text).unwrap()
    }

    /// The grader's own results.
    pub fn results(&self) -> Value {
        self.json("results.json")
    }

    /// Everything it printed, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `grade --report <fresh dir> <args>` with `env` added.
pub fn grade(args: &[&str], env: &[(&str, &str)]) -> Graded {
    grade_while(args, env, |_| {})
}

/// [`grade`], calling `while_running` with the grader's pid once it has
/// started.
pub fn grade_while(args: &[&str], env: &[(&str, &str)], while_running: impl FnOnce(u32)) -> Graded {
    let report = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_grade"))
        .arg("--report")
        .arg(report.path())
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("grade runs");
    while_running(child.id());
    let output = child.wait_with_output().expect("grade runs");
    Graded {
        code: output.status.code().expect("grade exits"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        report,
    }
}
