//! `handout check`: builds the handout in a scratch directory and proves it
//! is what students should get.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::tree::{self, SolutionLine, Summary};
use crate::{io_error, markers, Error};

/// How long the stubbed handout's 2A tests may run before they count as hung.
pub const FAIL_FAST_LIMIT: Duration = Duration::from_secs(60);

/// Solution lines shorter than this are too generic to prove a leak
/// (`}`, `Ok(())`, `return;`).
const MIN_TELLING_LINE: usize = 16;

/// Runs every check on the handout of `source`; prints one line per step.
pub fn check(source: &Path) -> Result<(), Error> {
    let scratch = tempfile::tempdir().map_err(io_error(Path::new("(temporary directory)")))?;
    let out = scratch.path().join("handout");
    let summary = tree::build(source, &out, false)?;
    println!(
        "built the handout: {} files, {} left out, {} solution lines removed",
        summary.written.len(),
        summary.omitted.len(),
        summary.solution.len()
    );

    no_marker_left(&out, &summary)?;
    println!("ok: no marker is left");
    no_solution_line_left(&out, &summary)?;
    println!("ok: no solution line survives");

    let lock = fs::read(out.join("Cargo.lock")).ok();
    let target = source.join("target").join("handout-check");
    cargo(
        &out,
        &target,
        &["build", "--all-targets"],
        &[("RUSTFLAGS", "-Dwarnings")],
    )?;
    println!("ok: the handout compiles with no warnings");
    cargo(
        &out,
        &target,
        &["clippy", "--all-targets", "--", "-D", "warnings"],
        &[],
    )?;
    println!("ok: the handout is clippy clean");
    if fs::read(out.join("Cargo.lock")).ok() != lock {
        return Err(Error::Other(
            "building the handout rewrote its Cargo.lock: it does not match the student workspace"
                .into(),
        ));
    }
    println!("ok: the handout's Cargo.lock is the one its build uses");
    cargo(&out, &target, &["test", "--doc"], &[])?;
    println!("ok: the handout's doc tests pass (examples that need a later part only compile)");
    gitignore_keeps_target(&out)?;
    println!("ok: .gitignore keeps target/ out of git");
    no_manifest_says_reference(&out, &summary)?;
    println!("ok: no manifest calls itself the reference solution");
    let (declared, newest) = rust_version_holds(&out)?;
    println!("ok: rust-version {declared} covers every dependency (the newest needs {newest})");

    let output = stubbed_2a_fails_fast(&out, &target)?;
    println!("ok: the handout's 2A tests fail fast, naming 2A");
    let saved = failed_runs_are_saved(&output)?;
    println!("ok: each failed 2A test saved its events ({saved} runs) and an HTML timeline");
    runner_reports_failures(&out, &target)?;
    println!("ok: the runner (`labs`) reports each failed 2A run with its output file");

    let reference_target = source.join("target");
    cargo(
        source,
        &reference_target,
        &["test", "--release", "--test", "lab2a"],
        &[],
    )?;
    println!("ok: the reference tree passes 2A");
    Ok(())
}

fn no_marker_left(out: &Path, summary: &Summary) -> Result<(), Error> {
    for file in summary
        .written
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let path = out.join(file);
        let text = fs::read_to_string(&path).map_err(io_error(&path))?;
        if markers::has_marker(&text) {
            return Err(Error::Other(format!(
                "{}: a solution marker survived into the handout",
                file.display()
            )));
        }
    }
    Ok(())
}

/// The solution lines that prove a leak if found: long enough to be telling
/// and not also written outside the regions (public API, stubs).
pub fn telling_lines(summary: &Summary) -> Vec<&SolutionLine> {
    let kept: HashSet<&str> = summary.kept_lines.iter().map(String::as_str).collect();
    summary
        .solution
        .iter()
        .filter(|l| l.text.len() >= MIN_TELLING_LINE && !kept.contains(l.text.as_str()))
        .collect()
}

fn no_solution_line_left(out: &Path, summary: &Summary) -> Result<(), Error> {
    let telling = telling_lines(summary);
    let mut handout_lines = HashSet::new();
    for file in &summary.written {
        let path = out.join(file);
        if let Ok(text) = fs::read_to_string(&path) {
            handout_lines.extend(text.lines().map(|l| l.trim().to_string()));
        }
    }
    match telling.iter().find(|l| handout_lines.contains(&l.text)) {
        Some(leak) => Err(Error::Other(format!(
            "{}:{}: this solution line survives in the handout: {}",
            leak.file.display(),
            leak.line,
            leak.text
        ))),
        None => Ok(()),
    }
}

fn gitignore_keeps_target(out: &Path) -> Result<(), Error> {
    let path = out.join(".gitignore");
    let text = fs::read_to_string(&path).map_err(io_error(&path))?;
    if text.lines().any(|l| l.trim() == "/target") {
        return Ok(());
    }
    Err(Error::Other(
        ".gitignore does not ignore /target: a student's first `git add -A` would commit the build"
            .into(),
    ))
}

fn no_manifest_says_reference(out: &Path, summary: &Summary) -> Result<(), Error> {
    let manifests = summary
        .written
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "Cargo.toml"));
    for manifest in manifests {
        let path = out.join(manifest);
        let text = fs::read_to_string(&path).map_err(io_error(&path))?;
        if text.to_lowercase().contains("reference solution") {
            return Err(Error::Other(format!(
                "{}: the student's manifest calls itself the reference solution",
                manifest.display()
            )));
        }
    }
    Ok(())
}

/// The workspace's declared rust-version and the newest any dependency of
/// the handout declares; an error unless the first covers the second.
fn rust_version_holds(out: &Path) -> Result<(String, String), Error> {
    let output = crate::cargo_command()
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", "x86_64-unknown-linux-gnu"])
        .current_dir(out)
        .output()
        .map_err(io_error(Path::new("cargo")))?;
    if !output.status.success() {
        return Err(Error::Other(format!(
            "`cargo metadata` failed in the handout:\n{}",
            tail(&String::from_utf8_lossy(&output.stderr), 10)
        )));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::Other(format!("`cargo metadata` printed no JSON: {e}")))?;
    let version = |p: &serde_json::Value| p["rust_version"].as_str().map(str::to_owned);
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let members: HashSet<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .collect();
    let declared = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .map(|p| {
            version(p).ok_or_else(|| {
                Error::Other(format!(
                    "{}: declares no rust-version (inherit the workspace's)",
                    p["name"].as_str().unwrap_or("a member")
                ))
            })
        })
        .collect::<Result<Vec<String>, Error>>()?;
    let newest_dependency = packages
        .iter()
        .filter(|p| !p["id"].as_str().is_some_and(|id| members.contains(id)))
        .filter_map(|p| Some((version(p)?, p["name"].as_str()?.to_owned())))
        .max_by_key(|(v, _)| parse_version(v))
        .unwrap_or_else(|| ("0".into(), "none".into()));
    let oldest_declared = declared
        .into_iter()
        .min_by_key(|v| parse_version(v))
        .unwrap_or_else(|| "0".into());
    if parse_version(&oldest_declared) < parse_version(&newest_dependency.0) {
        return Err(Error::Other(format!(
            "rust-version {oldest_declared} is older than {} needs ({}): declare the version the \
             handout really builds with",
            newest_dependency.1, newest_dependency.0
        )));
    }
    Ok((
        oldest_declared,
        format!("{}, {}", newest_dependency.0, newest_dependency.1),
    ))
}

/// `1.88` or `1.88.0` as numbers, for comparing (a missing part is 0).
fn parse_version(version: &str) -> [u64; 3] {
    let mut parts = version.split('.').map(|n| n.parse().unwrap_or(0));
    [(); 3].map(|()| parts.next().unwrap_or(0))
}

/// Runs cargo in `dir`; a failure carries the last lines cargo printed.
fn cargo(dir: &Path, target: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), Error> {
    let output = crate::cargo_command()
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .envs(env.iter().copied())
        .output()
        .map_err(io_error(Path::new("cargo")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Other(format!(
        "`cargo {}` failed in {}:\n{}",
        args.join(" "),
        dir.display(),
        tail(&String::from_utf8_lossy(&output.stderr), 30)
    )))
}

/// Runs the stubbed handout's 2A tests, which must fail within
/// [`FAIL_FAST_LIMIT`] naming 2A; returns what they printed.
fn stubbed_2a_fails_fast(out: &Path, target: &Path) -> Result<String, Error> {
    let test = ["test", "--release", "--test", "lab2a"];
    cargo(out, target, &[&test[..], &["--no-run"]].concat(), &[])?;
    let started = Instant::now();
    let mut child = crate::cargo_command()
        .args(test)
        .current_dir(out)
        .env("CARGO_TARGET_DIR", target)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(io_error(Path::new("cargo")))?;
    let collectors = [
        read_all(child.stdout.take().expect("piped stdout")),
        read_all(child.stderr.take().expect("piped stderr")),
    ];
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io_error(out))? {
            break Some(status);
        }
        if started.elapsed() > FAIL_FAST_LIMIT {
            kill_group(child.id());
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let output: String = collectors
        .into_iter()
        .map(|c| c.join().unwrap_or_default())
        .collect();
    match status {
        None => Err(Error::Other(format!(
            "the handout's 2A tests still ran after {} s: a stub hangs instead of failing",
            FAIL_FAST_LIMIT.as_secs()
        ))),
        Some(s) if s.success() => Err(Error::Other(
            "the handout's 2A tests pass: some solution code was not stubbed".into(),
        )),
        Some(_) if !output.contains("2A") => Err(Error::Other(format!(
            "the handout's 2A tests fail without naming 2A; their output ends:\n{}",
            tail(&output, 20)
        ))),
        Some(_) => Ok(output),
    }
}

/// Every events file the failure reports name holds events ending in the
/// failure, and has its HTML timeline beside it; returns how many.
fn failed_runs_are_saved(output: &str) -> Result<usize, Error> {
    let named: Vec<&str> = output
        .lines()
        .filter_map(|line| line.strip_prefix("events of this run: "))
        .map(|rest| rest.split(" (").next().unwrap_or(rest).trim())
        .collect();
    if named.is_empty() {
        return Err(Error::Other(format!(
            "the handout's failed 2A tests named no events file; their output ends:\n{}",
            tail(output, 20)
        )));
    }
    for file in &named {
        let path = Path::new(file);
        let reader = fs::File::open(path).map_err(io_error(path))?;
        let events = runlog::read_events(std::io::BufReader::new(reader))
            .map_err(|e| Error::Other(format!("{file}: {e}")))?;
        if !events
            .iter()
            .any(|e| matches!(e.kind, runlog::Kind::Failed { .. }))
        {
            return Err(Error::Other(format!("{file}: no failure among its events")));
        }
        let timeline = path.with_extension("html");
        if !timeline.is_file() {
            return Err(Error::Other(format!("{}: missing", timeline.display())));
        }
    }
    Ok(named.len())
}

/// The student's runner, on the stubbed handout, runs one 2A test twice,
/// exits 1, and names each failed run's output file, which holds the run.
fn runner_reports_failures(out: &Path, target: &Path) -> Result<(), Error> {
    let args = [
        "run",
        "--release",
        "-q",
        "-p",
        "labs",
        "--",
        "initial_election",
        "--runs",
        "2",
    ];
    let output = crate::cargo_command()
        .args(args)
        .current_dir(out)
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::null())
        .output()
        .map_err(io_error(Path::new("cargo")))?;
    let table = String::from_utf8_lossy(&output.stdout);
    let failure = |what: &str| {
        Error::Other(format!(
            "`cargo {}` in the handout {what}; it printed:\n{}\n{}",
            args.join(" "),
            tail(&table, 20),
            tail(&String::from_utf8_lossy(&output.stderr), 20)
        ))
    };
    if output.status.code() != Some(1) || !table.contains("2 of 2 runs failed") {
        return Err(failure("did not exit 1 reporting both runs failed"));
    }
    let files: Vec<&str> = table
        .lines()
        .filter_map(|line| line.trim().strip_prefix("output: "))
        .collect();
    if files.len() != 2 {
        return Err(failure("did not name an output file for each failed run"));
    }
    for file in files {
        let path = out.join(file);
        let text = fs::read_to_string(&path).map_err(io_error(&path))?;
        if !text.contains("2A") {
            return Err(failure(&format!(
                "kept {file}, which does not hold the 2A run"
            )));
        }
    }
    Ok(())
}

fn read_all(mut stream: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status();
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The reference tree: the directory holding the workspace manifest, found
/// from the current directory upwards.
pub fn find_reference_root() -> Result<PathBuf, Error> {
    let here = std::env::current_dir().map_err(io_error(Path::new(".")))?;
    here.ancestors()
        .find(|dir| {
            fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|m| m.contains("[workspace]"))
        })
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Error::Other(format!(
                "{}: not inside the raft-labs reference tree (no workspace Cargo.toml above it); pass --source",
                here.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(parse_version("1.88"), parse_version("1.88.0"));
        assert!(parse_version("1.9") < parse_version("1.88"));
        assert!(parse_version("1.88.1") > parse_version("1.88"));
    }
}
