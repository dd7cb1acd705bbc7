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

    stubbed_2a_fails_fast(&out, &target)?;
    println!("ok: the handout's 2A tests fail fast, naming 2A");

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

/// Runs cargo in `dir`; a failure carries the last lines cargo printed.
fn cargo(dir: &Path, target: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), Error> {
    let output = Command::new(env!("CARGO", "cargo"))
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

fn stubbed_2a_fails_fast(out: &Path, target: &Path) -> Result<(), Error> {
    let test = ["test", "--release", "--test", "lab2a"];
    cargo(out, target, &[&test[..], &["--no-run"]].concat(), &[])?;
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO", "cargo"))
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
        Some(_) => Ok(()),
    }
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
