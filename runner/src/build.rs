//! Builds the chosen parts' test binaries, and the program the tests start
//! each peer in, with cargo, as `cargo test --release` would.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use testrun::cargo::{self, CargoMessage};

/// The package of the staged tests.
const TEST_PACKAGE: &str = "raft-labs";
/// The binary each peer of a test runs in.
const JUDGED_BINARY: &str = "judged";

/// What the build made.
#[derive(Debug)]
pub struct Built {
    /// Each test target's binary (`lab2c` and its path).
    pub tests: BTreeMap<String, PathBuf>,
    /// The binary the tests start each peer in.
    pub judged: PathBuf,
}

impl Built {
    /// Cargo's target directory (`target`): the judged binary is in its
    /// `release` directory.
    pub fn target_dir(&self) -> &Path {
        self.judged
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("target"))
    }
}

/// Cargo: the one that runs us, else the one on the path.
fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// The root of the workspace around the current directory.
pub fn workspace() -> Result<PathBuf, String> {
    let output = Command::new(cargo_program())
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err("not inside the labs' workspace (cargo cannot find Cargo.toml)".to_string());
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    manifest
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{}: a manifest without a directory", manifest.display()))
}

/// Builds `targets` (`lab2a`, ...) of the tree at `workspace`; cargo's
/// progress and compiler errors go to standard error as usual.
pub fn build(workspace: &Path, targets: &[String]) -> Result<Built, String> {
    let mut command = Command::new(cargo_program());
    command
        .current_dir(workspace)
        .args([
            "test",
            "--release",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--package", TEST_PACKAGE]);
    for target in targets {
        command.args(["--test", target]);
    }
    let mut cargo = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = cargo.stdout.take().expect("stdout is piped");
    let mut tests = BTreeMap::new();
    let mut judged = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(CargoMessage::Artifact {
            name,
            test,
            bin,
            executable: Some(path),
        }) = cargo::parse(&line)
        {
            if test && targets.contains(&name) {
                tests.insert(name, path);
            } else if bin && name == JUDGED_BINARY {
                judged = Some(path);
            }
        }
    }
    let status = cargo.wait().map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("the build failed: cargo's errors are above".to_string());
    }
    let judged = judged.ok_or("cargo built the tests but reported no `judged` binary")?;
    if let Some(missing) = targets.iter().find(|t| !tests.contains_key(*t)) {
        return Err(format!(
            "cargo built the tests but reported no binary for {missing}"
        ));
    }
    Ok(Built { tests, judged })
}
