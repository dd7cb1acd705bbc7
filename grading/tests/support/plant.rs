//! Submissions for the end-to-end tests: copies of the reference tree or of
//! the stub handout with code planted in them, graded on 2A one at a time
//! (gradings share the build directory and the machine's cores, and the
//! tests they run are timing-sensitive).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::{grade_while, reference, Graded};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// This test's turn to grade: no other grading of this test binary runs
/// while it is held.
pub fn turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `grade --parts 2A --runs 1 <args>`, one grading at a time.
pub fn grade_2a(args: &[&str], env: &[(&str, &str)]) -> Graded {
    grade_2a_while(args, env, |_| {})
}

/// [`grade_2a`], calling `while_running` with the grader's pid once it has
/// started.
pub fn grade_2a_while(
    args: &[&str],
    env: &[(&str, &str)],
    while_running: impl FnOnce(u32),
) -> Graded {
    let _turn = turn();
    grade_2a_in_turn(args, env, while_running)
}

/// [`grade_2a_while`] for a caller that holds its [`turn`].
pub fn grade_2a_in_turn(
    args: &[&str],
    env: &[(&str, &str)],
    while_running: impl FnOnce(u32),
) -> Graded {
    let mut all = vec!["--parts", "2A", "--runs", "1"];
    all.extend_from_slice(args);
    grade_while(&all, env, while_running)
}

/// Asserts the run outcomes and score of a finished 2A grading.
pub fn assert_scored(graded: &Graded, code: u8, score: f64, outcome: &str) {
    assert_eq!(graded.code, i32::from(code), "{}", graded.describe());
    let results = graded.results();
    assert_eq!(results["finished"], true, "{}", graded.describe());
    assert_eq!(results["score"], score, "{}", graded.describe());
    let tests = results["tests"].as_array().unwrap();
    assert_eq!(tests.len(), super::tests_in_2a(), "{}", graded.describe());
    for test in tests {
        assert_eq!(test["runs"].as_array().unwrap().len(), 1, "{test}");
        assert_eq!(test["runs"][0]["outcome"], outcome, "{test}");
    }
}

/// A copy of the reference tree.
pub fn reference_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&reference(), dir.path());
    dir
}

/// The stub handout (what a student starts from; it scores 0), in `dir`.
pub fn handout_in(dir: &Path) {
    handout::tree::build(&reference(), dir, false).unwrap();
}

/// Puts `code` first in the body of the raft function of `tree` whose
/// signature starts with `signature` and mentions `mentioning`.
pub fn plant_in_fn(tree: &Path, signature: &str, mentioning: &str, code: &str) {
    let sources = rust_files(&tree.join("raft/src"));
    let planted = sources.iter().any(|file| {
        let text = fs::read_to_string(file).unwrap();
        let body = text.match_indices(signature).find_map(|(at, _)| {
            let open = at + text[at..].find('{')?;
            text[at..open].contains(mentioning).then_some(open + 1)
        });
        body.is_some_and(|at| {
            fs::write(file, format!("{}\n{code}\n{}", &text[..at], &text[at..])).unwrap();
            true
        })
    });
    assert!(
        planted,
        "no `{signature}` mentioning `{mentioning}` in raft/src"
    );
}

/// Puts `code` first in the body of `Raft::new` of `tree`.
pub fn plant_in_new(tree: &Path, code: &str) {
    plant_in_fn(tree, "pub fn new(", "apply_ch", code);
}

/// Writes `text` to `relative` in `tree`.
pub fn plant_file(tree: &Path, relative: &str, text: &str) {
    let path = tree.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Copies the tree `from` into `to`, without build output and hidden files.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("target") || name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            fs::create_dir(to.join(&name)).unwrap();
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The submission directory `dir`, as an argument.
pub fn submission(dir: &Path) -> &str {
    dir.to_str().unwrap()
}
