//! The generator on small fixture trees, through the `handout` binary as an
//! instructor runs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const MANIFEST: &str = "[workspace]\nmembers = [\"labrpc\", \"raft\", \"handout\", \"grading\"]\n";
const LIB: &str = "pub fn answer() -> u32 {\n    // @solution 2A\n    let secret_answer_value = 6 * 7;\n    secret_answer_value\n    // @stub\n    //> // Your code here (2A).\n    //> panic!(\"2A: not implemented\")\n    // @end\n}\n\n// @solution 2B\nfn secret_helper_for_part_2b() {}\n// @stub\n// @end\n\npub fn replicate() {\n    // @solution 2B\n    secret_helper_for_part_2b();\n    // @stub\n    //> // Your code here (2B).\n    // @end\n}\n";

/// A reference tree with a nested directory and a file with several regions.
fn fixture() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files: [(&str, &str); 9] = [
        ("Cargo.toml", MANIFEST),
        ("README.md", "instructor readme\n"),
        ("raft/src/lib.rs", LIB),
        (
            "raft/src/nested/deep/election.rs",
            "// @solution-file 2A\nfn secret_election() {}\n",
        ),
        ("labrpc/src/lib.rs", "pub fn network() {}\n"),
        ("handout/README.student.md", "student readme\n"),
        ("handout/labs/2A.md", "# Lab 2A\n"),
        ("grading/src/main.rs", "fn main() {}\n"),
        ("target/debug/junk", "build output\n"),
    ];
    for (path, text) in files {
        write(dir.path(), path, text);
    }
    dir
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn handout(source: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handout"))
        .arg("--source")
        .arg(source)
        .args(args)
        .output()
        .unwrap()
}

fn build_into(source: &Path, out: &Path, extra: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    handout(source, &[&["build", "--out", out][..], extra].concat())
}

/// Asserts a failed run printed exactly one line naming `needle`.
fn assert_one_line_error(output: &Output, needle: &str) {
    assert!(!output.status.success(), "the generator succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(
        stderr.contains(needle),
        "{stderr:?} does not name {needle:?}"
    );
}

fn all_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn builds_the_student_tree() {
    let source = fixture();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("handout");
    let result = build_into(source.path(), &target, &[]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );

    let files = all_files(&target);
    let expected: Vec<PathBuf> = [
        "Cargo.toml",
        "README.md",
        "labrpc/src/lib.rs",
        "labs/2A.md",
        "raft/src/lib.rs",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(files, expected);

    let lib = fs::read_to_string(target.join("raft/src/lib.rs")).unwrap();
    assert_eq!(
        lib,
        "pub fn answer() -> u32 {\n    // Your code here (2A).\n    panic!(\"2A: not implemented\")\n}\n\n\npub fn replicate() {\n    // Your code here (2B).\n}\n"
    );
    assert_eq!(
        fs::read_to_string(target.join("README.md")).unwrap(),
        "student readme\n"
    );
    let manifest = fs::read_to_string(target.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("\"labrpc\", \"raft\""), "{manifest}");
    assert!(
        !manifest.contains("handout") && !manifest.contains("grading"),
        "{manifest}"
    );
    for file in files {
        let text = fs::read_to_string(target.join(&file)).unwrap();
        assert!(
            !text.contains("secret"),
            "{} leaks solution text",
            file.display()
        );
        assert!(
            !text.contains("@solution") && !text.contains("@stub"),
            "{} keeps a marker",
            file.display()
        );
    }
}

/// Plants `text` as a file in a fixture and checks the build refuses it with
/// one line naming the file, the line and `needle`.
fn refuses(text: &str, line: usize, needle: &str) {
    let source = fixture();
    write(source.path(), "raft/src/bad.rs", text);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("handout");
    let result = build_into(source.path(), &target, &[]);
    assert_one_line_error(&result, &format!("raft/src/bad.rs:{line}: "));
    assert_one_line_error(&result, needle);
    assert!(!target.exists(), "a refused build wrote files");
}

#[test]
fn refuses_an_unclosed_region() {
    refuses(
        "fn a() {}\n// @solution 2A\nfn b() {}\n// @stub\n",
        2,
        "never closed",
    );
}

#[test]
fn refuses_a_nested_region() {
    refuses(
        "// @solution 2A\n// @solution 2B\n// @stub\n// @end\n",
        2,
        "do not nest",
    );
}

#[test]
fn refuses_an_unknown_part() {
    refuses(
        "\n\n// @solution 5A\n// @stub\n// @end\n",
        3,
        "unknown part \"5A\"",
    );
}

#[test]
fn refuses_a_region_without_a_stub() {
    refuses(
        "// @solution 2C\nfn x() {}\n// @end\n",
        3,
        "without a `// @stub`",
    );
}

#[test]
fn refuses_a_non_empty_output_unless_forced() {
    let source = fixture();
    let out = tempfile::tempdir().unwrap();
    write(out.path(), "old-file", "from before\n");
    assert_one_line_error(&build_into(source.path(), out.path(), &[]), "is not empty");
    assert!(out.path().join("old-file").exists());

    let forced = build_into(source.path(), out.path(), &["--force"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(!out.path().join("old-file").exists());
    assert!(out.path().join("raft/src/lib.rs").exists());
}

#[test]
fn refuses_an_output_inside_the_reference_tree() {
    let source = fixture();
    let inside = source.path().join("raft");
    assert_one_line_error(
        &build_into(source.path(), &inside, &["--force"]),
        "inside the reference tree",
    );
    assert!(source.path().join("raft/src/lib.rs").exists());
}

#[test]
fn refuses_a_missing_source() {
    let out = tempfile::tempdir().unwrap();
    let missing = out.path().join("no-such-tree");
    assert_one_line_error(
        &build_into(&missing, &out.path().join("h"), &[]),
        "no-such-tree",
    );
}
