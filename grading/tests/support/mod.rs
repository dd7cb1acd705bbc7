//! Runs the `grade` binary the way an instructor does, and reads what it
//! wrote.

#![allow(dead_code)] // each test file uses its own share of the helpers

pub mod plant;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Part 2A of the official points table: test name to points.
fn official_2a() -> toml::Table {
    let table = fs::read_to_string(reference().join("grading/points.toml")).unwrap();
    let mut table: toml::Table = table.parse().unwrap();
    match table.remove("2A") {
        Some(toml::Value::Table(part)) => part,
        other => panic!("points.toml has no [2A] table: {other:?}"),
    }
}

/// How many tests part 2A has in the official points table.
pub fn tests_in_2a() -> usize {
    official_2a().len()
}

/// The points part 2A is worth in the official points table.
pub fn points_in_2a() -> i64 {
    official_2a()
        .values()
        .filter_map(toml::Value::as_integer)
        .sum()
}

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

/// The variable a test hands the grader (and so every process it starts)
/// to find those processes again.
pub const MARK_VAR: &str = "GRADE_TEST_MARK";

/// A fresh value for [`MARK_VAR`], unique to this test process and `name`.
pub fn mark(name: &str) -> String {
    format!("{}-{name}", std::process::id())
}

/// A process carrying a mark, as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    /// Its pid.
    pub pid: u32,
    /// Its command name.
    pub name: String,
}

/// The running (not zombie) processes whose environment holds
/// `GRADE_TEST_MARK=<mark>`, wherever they are: in a run's group, in a
/// session of their own, re-parented anywhere.
pub fn marked(mark: &str) -> Vec<Marked> {
    let wanted = format!("{MARK_VAR}={mark}");
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
            let has_mark = environ.split(|&b| b == 0).any(|v| v == wanted.as_bytes());
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let running = fields.first().is_some_and(|s| *s != "Z");
            (has_mark && running).then_some(Marked { pid, name })
        })
        .collect()
}

/// The parent of process `pid`, if it is still there.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Waits a few seconds for every process carrying `mark` to be gone, and
/// asserts that none is left.
pub fn assert_no_marked_process(mark: &str) {
    // A killed process may take a moment to be gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !marked(mark).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let left = marked(mark);
    assert!(left.is_empty(), "processes live on: {left:?}");
}
