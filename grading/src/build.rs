//! Builds the test binaries of a tree once, in release mode, and finds them
//! from cargo's JSON messages.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use testrun::cargo::{self, CargoMessage};

use crate::error::{io_error, Error};
use crate::parts::Part;
use crate::sandbox;
use crate::supervise::Supervised;

/// The package holding the staged tests (the root package).
const TEST_PACKAGE: &str = "raft-labs";

/// The workspace crates compiled anew whenever the tree differs from the
/// last one built in the directory, whatever cargo's fingerprints say:
/// every tree has them at the same paths relative to its workspace, so
/// their artifacts share names, and a tree whose files are older than the
/// last build's artifacts would pass for fresh.
const WORKSPACE_CRATES: [&str; 5] = ["labrpc", "lincheck", "raft", "kvraft", TEST_PACKAGE];

/// The variables of the grader's environment that cargo, and so rustc and
/// the linker, keep for a build; they get none of its others. A submission
/// can compile its compiler's environment into its code
/// (`include_str!("/proc/self/environ")`, `env!`) and print it in a test,
/// so a variable of the grader's (a secret, a path) would end up in the
/// reports. These are what a build needs: where the programs are, where the
/// toolchain and the registry are (and which toolchain), the locale and the
/// temporary directory. The grader sets no variable of its own for a build
/// (the build directory is `--target-dir`).
const BUILD_ENVIRONMENT: [&str; 7] = [
    "PATH",
    "HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "LANG",
    "TMPDIR",
];

/// The file, in the build directory, naming the tree built there last.
const LAST_TREE: &str = "grading-last-tree";

/// Progress lines of cargo, left out of the errors reported for a build
/// that failed.
const CARGO_STATUS: [&str; 14] = [
    "Compiling",
    "Checking",
    "Blocking",
    "Downloading",
    "Downloaded",
    "Updating",
    "Locking",
    "Adding",
    "Finished",
    "Fresh",
    "Running",
    "Executable",
    "Removed",
    "Cleaning",
];

/// A cargo target directory shared by gradings (so dependencies are
/// compiled once), held for one grading: gradings take turns from before
/// the tree is prepared until its test binaries are copied out.
pub struct BuildDir {
    path: PathBuf,
    _lock: File,
}

impl BuildDir {
    /// Takes the directory `path` (creating it), waiting for the grading
    /// that holds it, if any, after calling `on_wait`.
    pub fn take(path: &Path, on_wait: &mut dyn FnMut(&str)) -> Result<BuildDir, Error> {
        fs::create_dir_all(path).map_err(io_error(path))?;
        let lock_path = path.join("grading.lock");
        let lock = File::create(&lock_path).map_err(io_error(&lock_path))?;
        if lock.try_lock().is_err() {
            on_wait("waiting for another grading's build to finish");
            lock.lock().map_err(io_error(&lock_path))?;
        }
        Ok(BuildDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

/// What to build.
pub struct Request<'a> {
    /// The cargo to build with ([`cargo_program`]).
    pub cargo: &'a Path,
    /// The workspace to build.
    pub tree: &'a Path,
    /// The parts whose test targets to build.
    pub parts: &'a [Part],
    /// Where to copy the built test binaries, so a later build in the same
    /// directory cannot replace them while they run.
    pub keep_in: &'a Path,
    /// After this long the build is killed with every process it started.
    pub timeout: Duration,
}

/// The binary every Raft peer, KV server and clerk of a test runs in (the
/// root package's `[[bin]]`).
const JUDGED_BINARY: &str = "judged";

/// The copies of a build's binaries.
#[derive(Debug)]
pub struct Binaries {
    /// Each part's test binary.
    pub tests: BTreeMap<Part, PathBuf>,
    /// The `judged` binary the tests start their peers in.
    pub judged: PathBuf,
}

/// The result of a build.
#[derive(Debug)]
pub enum Build {
    /// Every binary was built: the copies.
    Built(Binaries),
    /// The tree does not compile, or did not within the timeout.
    Failed {
        /// The compiler's errors, then cargo's; or the timeout.
        errors: String,
    },
}

/// What the thread reading cargo's messages tells the build.
enum Message {
    Compiled(String),
    TestBinary(Part, PathBuf),
    Judged(PathBuf),
    Error(String),
}

/// Builds the test targets of `request.parts` in `dir` with
/// `cargo test --release --no-run --message-format=json`, calling
/// `on_progress` with a short note as crates finish.
pub fn build(
    dir: &BuildDir,
    request: &Request,
    on_progress: &mut dyn FnMut(&str),
) -> Result<Build, Error> {
    let deadline = Instant::now() + request.timeout;
    let last_tree = dir.path.join(LAST_TREE);
    let this_tree = request.tree.display().to_string();
    if fs::read_to_string(&last_tree).ok().as_deref() != Some(this_tree.as_str()) {
        clean_workspace_crates(request.cargo, &dir.path, request.tree, request.timeout)?;
        fs::write(&last_tree, &this_tree).map_err(io_error(&last_tree))?;
    }

    let mut command = cargo_command(request.cargo);
    command
        .current_dir(request.tree)
        .args(["test", "--release", "--no-run", "--message-format=json"])
        .arg("--target-dir")
        .arg(&dir.path)
        .args(["--package", TEST_PACKAGE]);
    for part in request.parts {
        command.args(["--test", part.target()]);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let ruleset = match sandbox::kernel_abi() {
        Some(_) => sandbox::build_ruleset(request.tree, &dir.path, &toolchain_homes())
            .map_err(|e| Error::Other(format!("cannot make the build's Landlock ruleset: {e}")))?,
        None => None,
    };
    if let Some(fd) = ruleset.as_ref().map(AsRawFd::as_raw_fd) {
        // SAFETY: restrict_self makes system calls only.
        unsafe { command.pre_exec(move || sandbox::restrict_self(fd)) };
    }
    let (cargo, pipes) = Supervised::spawn(command, request.cargo)?;
    let stderr = pipes.stderr.expect("stderr is piped");
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let stdout = pipes.stdout.expect("stdout is piped");
    let (sender, messages) = mpsc::channel();
    thread::spawn(move || read_messages(stdout, &sender));

    let mut binaries = BTreeMap::new();
    let mut judged = None;
    let mut errors = Vec::new();
    while let Ok(message) =
        messages.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        match message {
            Message::Compiled(name) => on_progress(&format!("compiled {name}")),
            Message::TestBinary(part, path) => {
                binaries.insert(part, path);
            }
            Message::Judged(path) => judged = Some(path),
            Message::Error(text) => errors.push(text),
        }
    }
    let ended = cargo.wait(deadline.saturating_duration_since(Instant::now()), None)?;
    let stderr = stderr.join().unwrap_or_default();
    if ended.timed_out {
        return Ok(Build::Failed {
            errors: format!(
                "the build did not finish within {} s; it was killed with every process it started",
                request.timeout.as_secs()
            ),
        });
    }
    if !ended.status.success() {
        errors.push(without_cargo_status(&stderr));
        return Ok(Build::Failed {
            errors: errors.join("\n").trim().to_string(),
        });
    }

    let mut kept = BTreeMap::new();
    for &part in request.parts {
        let built = binaries.get(&part).ok_or_else(|| {
            Error::Other(format!(
                "cargo built the tree but reported no test binary for {}",
                part.target()
            ))
        })?;
        let copy = request.keep_in.join(part.target());
        fs::copy(built, &copy).map_err(io_error(built))?;
        kept.insert(part, copy);
    }
    let built = judged.ok_or_else(|| {
        Error::Other(format!(
            "cargo built the tree but reported no {JUDGED_BINARY} binary"
        ))
    })?;
    let judged = request.keep_in.join(JUDGED_BINARY);
    fs::copy(&built, &judged).map_err(io_error(&built))?;
    Ok(Build::Built(Binaries {
        tests: kept,
        judged,
    }))
}

/// Reads cargo's JSON messages from `stdout` until it closes, sending what
/// the build needs of them.
fn read_messages(stdout: impl Read, sender: &mpsc::Sender<Message>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        let message = match cargo::parse(&line) {
            Some(CargoMessage::Artifact {
                name,
                test,
                bin,
                executable,
            }) => {
                match (executable, test) {
                    (Some(path), true) => {
                        if let Some(part) = Part::from_target(&name) {
                            let _ = sender.send(Message::TestBinary(part, path));
                        }
                    }
                    (Some(path), false) if bin && name == JUDGED_BINARY => {
                        let _ = sender.send(Message::Judged(path));
                    }
                    _ => {}
                }
                Message::Compiled(name)
            }
            Some(CargoMessage::Error(text)) => Message::Error(text),
            None => continue,
        };
        if sender.send(message).is_err() {
            return;
        }
    }
}

/// Where cargo and rustup keep the toolchain, the registry and their locks:
/// `CARGO_HOME` and `RUSTUP_HOME`, else `~/.cargo` and `~/.rustup`.
fn toolchain_homes() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")]
        .into_iter()
        .filter_map(|(variable, default)| {
            std::env::var_os(variable)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(default)))
        })
        .collect()
}

/// A command running `cargo` with only the [`BUILD_ENVIRONMENT`] of the
/// grader's environment.
fn cargo_command(cargo: &Path) -> Command {
    let mut command = Command::new(cargo);
    command.env_clear().envs(
        BUILD_ENVIRONMENT
            .iter()
            .filter_map(|&name| Some((name, std::env::var_os(name)?))),
    );
    command
}

/// The cargo that runs the grader (`cargo run`), else the one on `PATH`.
pub fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// Removes the release artifacts of the workspace crates from
/// `target_dir`. A tree whose manifests are broken cannot be cleaned; its
/// build reports why.
fn clean_workspace_crates(
    cargo: &Path,
    target_dir: &Path,
    tree: &Path,
    timeout: Duration,
) -> Result<(), Error> {
    let mut command = cargo_command(cargo);
    command
        .current_dir(tree)
        .args(["clean", "--release", "--quiet", "--target-dir"])
        .arg(target_dir);
    for name in WORKSPACE_CRATES {
        command.args(["--package", name]);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let (clean, _) = Supervised::spawn(command, cargo)?;
    clean.wait(timeout, None)?;
    Ok(())
}

fn without_cargo_status(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| {
            let word = line.split_whitespace().next().unwrap_or("");
            !CARGO_STATUS.contains(&word)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_that_hangs_is_killed_with_what_it_started() {
        use std::os::unix::fs::PermissionsExt;
        let _turn = crate::SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        crate::reaper::become_subreaper().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // A cargo that starts a detached process, then never finishes.
        let cargo = dir.path().join("cargo");
        fs::write(
            &cargo,
            format!(
                "#!/bin/sh\n[ \"$1\" = clean ] && exit 0\nsetsid sleep 600 & echo $! > {}\nsleep 600\n",
                pid_file.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&cargo, fs::Permissions::from_mode(0o755)).unwrap();
        let target = BuildDir::take(&dir.path().join("target"), &mut |_| {}).unwrap();
        let started = Instant::now();
        let built = build(
            &target,
            &Request {
                cargo: &cargo,
                tree: dir.path(),
                parts: &[Part::P2A],
                keep_in: dir.path(),
                timeout: Duration::from_secs(1),
            },
            &mut |_| {},
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            matches!(&built, Build::Failed { errors } if errors == "the build did not finish within 1 s; it was killed with every process it started"),
            "{built:?}"
        );
        let pid = fs::read_to_string(&pid_file).unwrap();
        assert!(
            !Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "the build's detached process lives on"
        );
    }

    #[test]
    fn cargo_status_lines_are_left_out_of_errors() {
        let stderr = "   Compiling raft v0.1.0 (/t/raft)\nerror: could not compile `raft` (lib) due to 1 previous error\n    Blocking waiting for file lock";
        assert_eq!(
            without_cargo_status(stderr),
            "error: could not compile `raft` (lib) due to 1 previous error"
        );
    }
}
