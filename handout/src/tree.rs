//! Writes the student tree: every reference file, with solution regions
//! replaced by stubs, instructor-only parts left out, the student README,
//! `.gitignore` and lab instructions put in place, and a `Cargo.lock`
//! that lists only what the student workspace uses.

use std::fs;
use std::path::{Path, PathBuf};

use crate::markers::{self, Outcome};
use crate::{io_error, Error};

/// Top-level directories that only instructors get.
pub const INSTRUCTOR_ONLY: [&str; 3] = ["handout", "grading", "mutants"];
/// The student README, inside the reference tree; it becomes `README.md`.
pub const STUDENT_README: &str = "handout/README.student.md";
/// The lab instructions, inside the reference tree; they become `labs/`.
pub const LAB_INSTRUCTIONS: &str = "handout/labs";
/// The student `.gitignore`, inside the reference tree under a name the
/// walk does not skip as a dotfile; it becomes `.gitignore`.
pub const STUDENT_GITIGNORE: &str = "handout/gitignore.student";

/// A removed solution line, for the check that none survives.
#[derive(Debug, Clone)]
pub struct SolutionLine {
    /// The reference file, relative to the tree.
    pub file: PathBuf,
    /// 1-based line number in the reference file.
    pub line: usize,
    /// The line's text, trimmed.
    pub text: String,
}

/// What [`build`] wrote.
#[derive(Debug, Default)]
pub struct Summary {
    /// Files written to the handout (relative paths).
    pub written: Vec<PathBuf>,
    /// Reference files left out as solution.
    pub omitted: Vec<PathBuf>,
    /// Every solution line removed.
    pub solution: Vec<SolutionLine>,
    /// Every line the handout's Rust sources kept from the reference, or
    /// took from a stub, trimmed.
    pub kept_lines: Vec<String>,
}

/// Writes the handout of the reference tree `source` into `out`.
///
/// `out` must not exist or be empty, unless `force` is set, in which case
/// its contents are replaced. Nothing is written if any marker is wrong.
pub fn build(source: &Path, out: &Path, force: bool) -> Result<Summary, Error> {
    guard_output(source, out, force)?;
    let mut files = Vec::new();
    collect(source, Path::new(""), &mut files)?;
    files.sort();

    // Process everything first, so a marker mistake writes nothing.
    let mut planned: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut summary = Summary::default();
    for relative in files {
        let path = source.join(&relative);
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        let destination = destination(&relative);
        let Some(destination) = destination else {
            continue;
        };
        if relative.extension().is_some_and(|e| e == "rs") {
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::Other(format!("{}: not valid UTF-8", relative.display())))?;
            match markers::process(&text).map_err(|error| Error::Marker {
                file: relative.clone(),
                error,
            })? {
                Outcome::Omit { .. } => summary.omitted.push(relative),
                Outcome::Keep { text, solution } => {
                    summary
                        .kept_lines
                        .extend(text.lines().map(|l| l.trim().to_string()));
                    summary
                        .solution
                        .extend(solution.into_iter().map(|(line, text)| SolutionLine {
                            file: relative.clone(),
                            line,
                            text,
                        }));
                    planned.push((destination, text.into_bytes()));
                }
            }
        } else if relative == Path::new("Cargo.toml") {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| Error::Other("Cargo.toml: not valid UTF-8".into()))?;
            let student =
                student_manifest(text).map_err(|e| Error::Other(format!("Cargo.toml: {e}")))?;
            planned.push((destination, student.into_bytes()));
        } else {
            planned.push((destination, bytes));
        }
    }

    if out.exists() {
        fs::remove_dir_all(out).map_err(io_error(out))?;
    }
    for (relative, bytes) in planned {
        let path = out.join(&relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        fs::write(&path, bytes).map_err(io_error(&path))?;
        summary.written.push(relative);
    }
    prune_lock(out)?;
    Ok(summary)
}

/// Drops the instructor-only crates' packages from the handout's
/// `Cargo.lock`, every other version kept, so that a student's first build
/// does not rewrite it.
fn prune_lock(out: &Path) -> Result<(), Error> {
    if !out.join("Cargo.lock").exists() {
        return Ok(());
    }
    let output = crate::cargo_command()
        .args(["update", "--workspace", "--offline", "--quiet"])
        .current_dir(out)
        .output()
        .map_err(io_error(Path::new("cargo")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Other(format!(
        "`cargo update --workspace --offline` in the handout failed:\n{}",
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Where a reference file goes in the handout, if anywhere.
fn destination(relative: &Path) -> Option<PathBuf> {
    if relative == Path::new("README.md") {
        return None; // replaced by the student README
    }
    if relative == Path::new(STUDENT_README) {
        return Some(PathBuf::from("README.md"));
    }
    if relative == Path::new(STUDENT_GITIGNORE) {
        return Some(PathBuf::from(".gitignore"));
    }
    if let Ok(lab) = relative.strip_prefix(LAB_INSTRUCTIONS) {
        return Some(Path::new("labs").join(lab));
    }
    let top = relative.components().next()?.as_os_str().to_str()?;
    if INSTRUCTOR_ONLY.contains(&top) {
        return None;
    }
    Some(relative.to_path_buf())
}

/// Lists the files under `dir`, skipping build output, VCS and CI folders.
fn collect(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    let full = root.join(dir);
    for entry in fs::read_dir(&full).map_err(io_error(&full))? {
        let entry = entry.map_err(io_error(&full))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name.starts_with("target-") {
            continue;
        }
        let relative = dir.join(&*name);
        let kind = entry.file_type().map_err(io_error(&entry.path()))?;
        if kind.is_dir() {
            collect(root, &relative, files)?;
        } else if kind.is_file() {
            files.push(relative);
        }
    }
    Ok(())
}

/// The workspace manifest `reference` without the instructor-only member
/// crates ([`INSTRUCTOR_ONLY`]), its formatting and comments kept. The
/// handout writes it, and the grader lays it over a submission.
pub fn student_manifest(reference: &str) -> Result<String, String> {
    let mut manifest: toml_edit::DocumentMut = reference
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    if let Some(members) = manifest
        .get_mut("workspace")
        .and_then(|w| w.get_mut("members"))
        .and_then(|m| m.as_array_mut())
    {
        members.retain(|m| {
            m.as_str()
                .is_none_or(|name| !INSTRUCTOR_ONLY.contains(&name))
        });
    }
    Ok(manifest.to_string())
}

fn guard_output(source: &Path, out: &Path, force: bool) -> Result<(), Error> {
    let source = source.canonicalize().map_err(io_error(source))?;
    let absolute = std::path::absolute(out).map_err(io_error(out))?;
    if let Ok(inside) = absolute.strip_prefix(&source) {
        let top = inside
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy());
        if !top.is_some_and(|t| t == "target" || t.starts_with("target-")) {
            return Err(Error::Other(format!(
                "{}: the output directory is inside the reference tree; choose one outside it (or under target/)",
                out.display()
            )));
        }
    }
    if out.exists() {
        let canonical = out.canonicalize().map_err(io_error(out))?;
        if source.starts_with(&canonical) {
            return Err(Error::Other(format!(
                "{}: the output directory holds the reference tree; choose another",
                out.display()
            )));
        }
        let empty = fs::read_dir(out).map_err(io_error(out))?.next().is_none();
        if !empty && !force {
            return Err(Error::OutputNotEmpty(out.to_path_buf()));
        }
    }
    Ok(())
}
