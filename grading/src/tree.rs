//! The trees the grader builds: the reference tree it belongs to, and a
//! scratch copy of a submission with the official tests, harness, network
//! and workspace manifests laid over it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{io_error, Error};

/// What a submission cannot change: these come from the reference tree,
/// replacing whatever the submission holds under the same names. The
/// manifests of `raft/` and `kvraft/` fix their dependencies and say
/// `build = false`, so no build script of a submission is compiled or run.
pub const OFFICIAL: [&str; 11] = [
    "tests",
    "labrpc",
    "raft-messages",
    "lincheck",
    "runlog",
    "testrun",
    "runner",
    "Cargo.toml",
    "Cargo.lock",
    "raft/Cargo.toml",
    "kvraft/Cargo.toml",
];

/// How many notes on a submission's tree [`prepare_submission`] returns at
/// most (and then how many more there were).
const MAX_NOTES: usize = 10;

/// Never copied from a submission, at any depth: version control, build
/// output, and files that change how cargo or rustup build.
const SKIPPED: [&str; 4] = [".git", ".cargo", "rust-toolchain", "rust-toolchain.toml"];

/// The reference tree the grader belongs to: the workspace around this
/// crate when it still holds the official tests, else the raft-labs
/// workspace around the current directory.
pub fn find_reference() -> Result<PathBuf, Error> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).parent();
    if let Some(root) = built_from.filter(|dir| is_reference(dir)) {
        return Ok(root.to_path_buf());
    }
    let here = std::env::current_dir().map_err(io_error(Path::new(".")))?;
    here.ancestors()
        .find(|dir| is_reference(dir))
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Error::Other(format!(
                "cannot find the raft-labs reference tree (a workspace holding tests/harness/lib.rs and labrpc/) around {}",
                here.display()
            ))
        })
}

fn is_reference(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file()
        && dir.join("tests/harness/lib.rs").is_file()
        && dir.join("labrpc/Cargo.toml").is_file()
}

/// Copies `submission` into the empty directory `into`, leaving out the
/// [`OFFICIAL`] files, instructor-only crates, version control and build
/// output (symbolic links are not followed), then lays the official files
/// of `reference` over it. The workspace manifest is the reference's,
/// without the instructor-only members.
///
/// Returns what the grader did not take from the submission that it would
/// have used otherwise, one note each: official files it holds in another
/// version, build scripts, cargo and toolchain settings.
pub fn prepare_submission(
    reference: &Path,
    submission: &Path,
    into: &Path,
) -> Result<Vec<String>, Error> {
    if !submission.is_dir() {
        return Err(Error::NoSubmission(submission.to_path_buf()));
    }
    copy_dir(submission, into, &|relative| !replaced(relative))?;
    for name in OFFICIAL {
        let from = reference.join(name);
        let to = into.join(name);
        if name == "Cargo.toml" {
            let text = fs::read_to_string(&from).map_err(io_error(&from))?;
            let student = handout::tree::student_manifest(&text)
                .map_err(|e| Error::Other(format!("{}: {e}", from.display())))?;
            fs::write(&to, student).map_err(io_error(&to))?;
        } else if from.is_dir() {
            copy_dir(&from, &to, &|_| true)?;
        } else if from.is_file() {
            fs::copy(&from, &to).map_err(io_error(&from))?;
        }
    }
    let mut notes = Vec::new();
    audit(reference, submission, Path::new(""), &mut notes)?;
    if notes.len() > MAX_NOTES {
        let more = notes.len() - MAX_NOTES;
        notes.truncate(MAX_NOTES);
        notes.push(format!(
            "... and {more} more files not taken from the submission"
        ));
    }
    Ok(notes)
}

/// Whether the submission's file or directory `relative` is replaced by
/// the reference's or left out as instructor-only.
fn replaced(relative: &Path) -> bool {
    OFFICIAL.iter().any(|o| relative.starts_with(o))
        || handout::tree::INSTRUCTOR_ONLY
            .iter()
            .any(|o| relative.starts_with(o))
}

/// Notes, for every file below `dir` of the submission, what the grader
/// did instead of using it (see [`prepare_submission`]).
fn audit(
    reference: &Path,
    submission: &Path,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<(), Error> {
    let source = submission.join(dir);
    let mut entries = fs::read_dir(&source)
        .map_err(io_error(&source))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error(&source))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let relative = dir.join(&name);
        let shown = relative.display();
        let kind = entry.file_type().map_err(io_error(&entry.path()))?;
        if kind.is_dir() && is_build_output(&name.to_string_lossy()) || name == ".git" {
            continue;
        }
        if SKIPPED.iter().any(|s| name == *s) {
            notes.push(format!(
                "left out {shown}: cargo and toolchain settings come from the grader"
            ));
        } else if handout::tree::INSTRUCTOR_ONLY
            .iter()
            .any(|o| relative.starts_with(o))
        {
            continue;
        } else if kind.is_dir() {
            audit(reference, submission, &relative, notes)?;
        } else if name == "build.rs" {
            notes.push(format!(
                "{shown} was not compiled or run: the official manifests say build = false"
            ));
        } else if kind.is_file() && replaced(&relative) {
            let official = official_bytes(reference, &relative);
            let theirs = fs::read(entry.path()).map_err(io_error(&entry.path()))?;
            if official.as_ref() != Some(&theirs) {
                notes.push(match official {
                    Some(_) => format!("replaced {shown} with the official one"),
                    None => format!("left out {shown}: not an official file"),
                });
            }
        }
    }
    Ok(())
}

/// The official version of `relative`, as laid over a submission.
fn official_bytes(reference: &Path, relative: &Path) -> Option<Vec<u8>> {
    let bytes = fs::read(reference.join(relative)).ok()?;
    if relative != Path::new("Cargo.toml") {
        return Some(bytes);
    }
    let text = String::from_utf8(bytes).ok()?;
    handout::tree::student_manifest(&text)
        .ok()
        .map(String::into_bytes)
}

/// Copies the directory tree `from` into `to`, keeping the entries whose
/// path relative to `from` passes `keep`.
fn copy_dir(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<(), Error> {
    copy_below(from, to, Path::new(""), keep)
}

fn copy_below(
    root: &Path,
    to: &Path,
    dir: &Path,
    keep: &dyn Fn(&Path) -> bool,
) -> Result<(), Error> {
    let destination = to.join(dir);
    fs::create_dir_all(&destination).map_err(io_error(&destination))?;
    let source = root.join(dir);
    for entry in fs::read_dir(&source).map_err(io_error(&source))? {
        let entry = entry.map_err(io_error(&source))?;
        let name = entry.file_name();
        let relative = dir.join(&name);
        let kind = entry.file_type().map_err(io_error(&entry.path()))?;
        let build_output = kind.is_dir() && is_build_output(&name.to_string_lossy());
        if build_output || SKIPPED.iter().any(|s| name == *s) || !keep(&relative) {
            continue;
        }
        if kind.is_dir() {
            copy_below(root, to, &relative, keep)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&relative)).map_err(io_error(&entry.path()))?;
        }
    }
    Ok(())
}

/// A cargo target directory: `target`, or `target-<name>` as in this
/// workspace.
fn is_build_output(dir_name: &str) -> bool {
    dir_name == "target" || dir_name.starts_with("target-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn read(root: &Path, relative: &str) -> Option<String> {
        fs::read_to_string(root.join(relative)).ok()
    }

    #[test]
    fn official_files_replace_the_submissions() {
        let reference = tempfile::tempdir().unwrap();
        let reference = reference.path();
        write(
            reference,
            "Cargo.toml",
            "[workspace]\nmembers = [\"labrpc\", \"raft\", \"handout\", \"grading\"]\n",
        );
        write(reference, "Cargo.lock", "official lock");
        write(reference, "tests/lab2a.rs", "official test");
        write(reference, "tests/harness/lib.rs", "official harness");
        write(reference, "labrpc/src/lib.rs", "official network");
        write(reference, "raft/src/lib.rs", "reference solution");
        write(reference, "raft/Cargo.toml", "[package]\nbuild = false\n");

        let submission = tempfile::tempdir().unwrap();
        let submission = submission.path();
        write(submission, "Cargo.toml", "[workspace]\nmembers = []\n");
        write(submission, "tests/lab2a.rs", "fn always_pass() {}");
        write(submission, "tests/extra.rs", "a test of the student's own");
        write(submission, "labrpc/src/lib.rs", "a friendlier network");
        write(submission, "raft/src/lib.rs", "student raft");
        write(
            submission,
            "raft/Cargo.toml",
            "[package]\nbuild = \"build.rs\"\n",
        );
        write(
            submission,
            "raft/build.rs",
            "fn main() { /* rewrite the tests */ }",
        );
        write(
            submission,
            "raft/src/.cargo/config.toml",
            "[build]\nrustc-wrapper = \"x\"\n",
        );
        write(submission, "raft/notes/design.md", "notes");
        write(submission, "raft/src/target.rs", "mod target");
        write(submission, "target-mine/x", "build output");
        write(submission, "grading/points.toml", "[2A]\nx = 1000\n");
        write(
            submission,
            ".cargo/config.toml",
            "[build]\nrustflags = []\n",
        );
        write(submission, "rust-toolchain.toml", "[toolchain]\n");
        write(submission, "target/release/lab2a", "stale binary");
        write(submission, ".git/HEAD", "ref");

        let scratch = tempfile::tempdir().unwrap();
        let into = scratch.path().join("tree");
        let notes = prepare_submission(reference, submission, &into).unwrap();

        assert_eq!(
            read(&into, "raft/src/lib.rs").as_deref(),
            Some("student raft")
        );
        assert_eq!(
            read(&into, "raft/notes/design.md").as_deref(),
            Some("notes")
        );
        assert!(read(&into, "raft/src/target.rs").is_some());
        assert_eq!(
            read(&into, "tests/lab2a.rs").as_deref(),
            Some("official test")
        );
        assert_eq!(
            read(&into, "tests/harness/lib.rs").as_deref(),
            Some("official harness")
        );
        assert_eq!(
            read(&into, "labrpc/src/lib.rs").as_deref(),
            Some("official network")
        );
        assert_eq!(read(&into, "Cargo.lock").as_deref(), Some("official lock"));
        assert_eq!(
            read(&into, "raft/Cargo.toml").as_deref(),
            Some("[package]\nbuild = false\n")
        );
        assert_eq!(
            notes,
            [
                "left out .cargo: cargo and toolchain settings come from the grader",
                "replaced Cargo.toml with the official one",
                "replaced labrpc/src/lib.rs with the official one",
                "replaced raft/Cargo.toml with the official one",
                "raft/build.rs was not compiled or run: the official manifests say build = false",
                "left out raft/src/.cargo: cargo and toolchain settings come from the grader",
                "left out rust-toolchain.toml: cargo and toolchain settings come from the grader",
                "left out tests/extra.rs: not an official file",
                "replaced tests/lab2a.rs with the official one",
            ]
        );
        for gone in [
            "raft/src/.cargo/config.toml",
            "tests/extra.rs",
            "grading/points.toml",
            ".cargo/config.toml",
            "rust-toolchain.toml",
            "target/release/lab2a",
            "target-mine/x",
            ".git/HEAD",
        ] {
            assert_eq!(read(&into, gone), None, "{gone} was copied");
        }
        let manifest: toml::Table = read(&into, "Cargo.toml").unwrap().parse().unwrap();
        assert_eq!(
            manifest["workspace"]["members"],
            toml::Value::from(vec!["labrpc", "raft"])
        );
    }

    #[test]
    fn a_missing_submission_is_named() {
        let scratch = tempfile::tempdir().unwrap();
        let missing = scratch.path().join("nowhere");
        let error =
            prepare_submission(scratch.path(), &missing, &scratch.path().join("tree")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{}: no such submission directory", missing.display())
        );
    }

    #[test]
    fn the_reference_is_found() {
        let root = find_reference().unwrap();
        assert!(root.join("grading/Cargo.toml").is_file());
    }
}
