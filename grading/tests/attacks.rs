//! A dishonest student's submissions, one per threat class, each planted in
//! a copy of the stub handout (honest score: 0) and graded on 2A. Each
//! must score 0, leave the reference tree and the report directory as the
//! grader alone would, leave no process behind, and have the grader name
//! what happened.
//!
//! Every process a grading starts carries a mark in its environment, so a
//! process left behind is found wherever it went.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use grading::exit;
use support::plant::{grade_2a_in_turn, handout_in, plant_file, plant_in_new, submission, turn};
use support::{assert_no_marked_process, mark, reference, Graded, MARK_VAR};

/// How long a detached process gets, after the grader has exited, to do
/// its damage before the reports are read again.
const AFTERMATH: Duration = Duration::from_secs(3);

/// What of the reference tree an attack would change: the official files,
/// the solution, the root manifests (not `grading/` or `handout/`, where
/// an instructor may be editing while the tests run).
const GUARDED: [&str; 6] = [
    "tests",
    "labrpc",
    "raft",
    "kvraft",
    "Cargo.toml",
    "Cargo.lock",
];

/// Every file of the [`GUARDED`] part of the reference tree, with its
/// contents.
fn reference_files() -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("target") || name == ".git" {
                continue;
            }
            let relative = dir.join(&name);
            if !GUARDED.iter().any(|g| relative.starts_with(g)) {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(root, &relative, files);
            } else {
                files.insert(relative, fs::read(entry.path()).unwrap_or_default());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&reference(), Path::new(""), &mut files);
    files
}

/// The report directory's files, with their contents.
fn report_files(graded: &Graded) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, String>) {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let entry = entry.unwrap();
            let relative = dir.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                walk(root, &relative, files);
            } else {
                let text = fs::read(entry.path()).unwrap_or_default();
                files.insert(relative, String::from_utf8_lossy(&text).into_owned());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(graded.report.path(), Path::new(""), &mut files);
    files
}

/// Whether the grader writes `relative` into a report directory.
fn written_by_the_grader(relative: &Path) -> bool {
    let name = relative.to_string_lossy();
    ["results.json", "junit.xml", "gradescope/results.json"].contains(&name.as_ref())
        || (name.starts_with("runs/2A-") && name.ends_with(".log"))
}

/// Grades the stub handout with `plant` applied to it (on 2A, with `args`),
/// then checks what every attack must leave: a score of 0, the reference
/// tree as it was, only the grader's files in the report directory (still
/// as the grader left them a few seconds after it exited), and no process.
/// Returns the grading and everything it printed and reported, for the
/// attack's own checks.
fn attack(name: &str, plant: impl FnOnce(&Path), args: &[&str]) -> (Graded, String) {
    let tree = tempfile::tempdir().unwrap();
    handout_in(tree.path());
    plant(tree.path());
    let mark = mark(name);
    // Held until the checks are done: another attack may change the
    // reference tree only while it grades.
    let _turn = turn();
    let before = reference_files();
    let mut all = vec!["--submission", submission(tree.path())];
    all.extend_from_slice(args);
    let graded = grade_2a_in_turn(&all, &[(MARK_VAR, &mark)], |_| {});
    let reports = report_files(&graded);
    thread::sleep(AFTERMATH);

    let changed: Vec<&PathBuf> = before
        .iter()
        .filter(|(path, text)| fs::read(reference().join(path)).ok().as_ref() != Some(text))
        .map(|(path, _)| path)
        .collect();
    let added: Vec<PathBuf> = reference_files()
        .into_keys()
        .filter(|path| !before.contains_key(path))
        .collect();
    // Put the reference back before failing, for the tests that follow.
    for path in &changed {
        fs::write(reference().join(path), &before[*path]).unwrap();
    }
    for path in &added {
        fs::remove_file(reference().join(path)).unwrap();
    }
    assert!(
        changed.is_empty() && added.is_empty(),
        "the reference tree was changed: {changed:?}, added: {added:?}"
    );
    assert_no_marked_process(&mark);
    let foreign: Vec<&PathBuf> = reports
        .keys()
        .filter(|p| !written_by_the_grader(p))
        .collect();
    assert!(foreign.is_empty(), "not the grader's: {foreign:?}");
    assert_eq!(
        report_files(&graded),
        reports,
        "the reports changed after the grader exited"
    );
    assert_ne!(
        graded.code,
        i32::from(exit::ERROR),
        "the grader blamed itself: {}",
        graded.describe()
    );
    let results = graded.results();
    assert_eq!(results["score"], 0.0, "{}", graded.describe());
    let said = format!(
        "{}\n{}\n{}",
        graded.stdout,
        graded.stderr,
        reports.values().cloned().collect::<Vec<_>>().join("\n")
    );
    (graded, said)
}

/// Asserts that the grader said `expected` somewhere (output or reports).
fn assert_said(said: &str, expected: &str) {
    assert!(said.contains(expected), "never said `{expected}`:\n{said}");
}

/// A build script in the student's raft crate (enabled by the student's
/// manifest), running `body` (Rust statements) at build time.
fn build_script(tree: &Path, body: &str) {
    plant_file(
        tree,
        "raft/Cargo.toml",
        &fs::read_to_string(tree.join("raft/Cargo.toml"))
            .unwrap()
            .replace("build = false", "build = \"build.rs\""),
    );
    plant_file(
        tree,
        "raft/build.rs",
        &format!("fn main() {{\n{body}\n}}\n"),
    );
}

/// The 2A tests, rewritten to pass whatever the code under test does.
fn always_passing_tests() -> String {
    ["initial_election", "re_election", "many_elections"]
        .map(|test| {
            format!(
                "#[test]\nfn {test}() {{\n    let session = harness::Session::start();\n    session.begin(\"{test}\");\n    session.passed(\"planted\");\n}}\n"
            )
        })
        .concat()
}

#[test]
fn a_build_script_that_rewrites_the_tests_is_never_run() {
    let (_, said) = attack(
        "rewrites_tests",
        |tree| {
            build_script(
                tree,
                &format!(
                    "std::fs::write(\"../tests/lab2a.rs\", {:?}).unwrap();",
                    always_passing_tests()
                ),
            )
        },
        &[],
    );
    assert_said(
        &said,
        "raft/build.rs was not compiled or run: the official manifests say build = false",
    );
    assert_said(&said, "replaced raft/Cargo.toml with the official one");
}

#[test]
fn a_build_script_that_rewrites_the_reference_is_never_run() {
    let target = reference().join("tests/lab2a.rs");
    let (_, said) = attack(
        "rewrites_reference",
        |tree| {
            build_script(
                tree,
                &format!(
                    "std::fs::write({:?}, {:?}).unwrap();",
                    target.display().to_string(),
                    always_passing_tests()
                ),
            )
        },
        &[],
    );
    assert_said(&said, "raft/build.rs was not compiled or run");
}

#[test]
fn a_build_that_hangs_with_a_detached_process_is_never_run() {
    let (_, said) = attack(
        "hung_build",
        |tree| {
            build_script(
                tree,
                r#"std::process::Command::new("setsid").args(["sleep", "600"]).spawn().unwrap();
                loop { std::thread::sleep(std::time::Duration::from_secs(1)); }"#,
            )
        },
        &["--build-timeout", "120"],
    );
    assert_said(&said, "raft/build.rs was not compiled or run");
}

#[test]
fn a_detached_process_that_rewrites_the_reports_is_killed_with_its_run() {
    // It finds the report directory on the grader's command line.
    let (graded, said) = attack(
        "detached",
        |tree| {
            plant_in_new(
                tree,
                r#"{
            // Up the process tree (peer, judge, grader) to the grader's.
            let mut pid = std::process::id().to_string();
            let mut words: Vec<String> = Vec::new();
            while pid != "0" && !words.iter().any(|w| w == "--report") {
                words = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .unwrap_or_default()
                    .split(|&b| b == 0)
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect();
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                pid = stat.rsplit(')').next().unwrap_or("").split_whitespace().nth(1)
                    .unwrap_or("0").to_string();
            }
            if let Some(at) = words.iter().position(|w| w == "--report") {
                let report = &words[at + 1];
                let script = format!(
                    "while true; do echo forged > '{report}/results.json'; echo forged > '{report}/planted'; sleep 0.2; done"
                );
                let _ = std::process::Command::new("setsid").args(["sh", "-c", &script]).spawn();
            }
        }"#,
            )
        },
        &["--jobs", "3"],
    );
    let results = graded.results();
    for test in results["tests"].as_array().unwrap() {
        let reason = test["runs"][0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("process(es) running outside its process group, killed when it ended"),
            "{reason}"
        );
    }
    assert!(!said.contains("forged"), "{said}");
}

#[test]
fn unbounded_output_of_a_peer_stays_out_of_the_log() {
    // The judge reads each peer's output and keeps its last lines for the
    // failure report; the grader's own cap (tested in the runner) is the
    // second line of defence.
    let (graded, _) = attack(
        "output",
        |tree| {
            plant_in_new(
                tree,
                r#"std::thread::spawn(|| {
                let line = "flood ".repeat(200);
                loop { println!("{line}"); }
            });"#,
            )
        },
        &["--jobs", "3", "--timeout", "30"],
    );
    let logs: Vec<(PathBuf, String)> = report_files(&graded)
        .into_iter()
        .filter(|(name, _)| name.starts_with("runs"))
        .collect();
    assert!(!logs.is_empty(), "no run logs");
    for (name, text) in logs {
        assert!(
            text.len() < 1 << 20,
            "{} holds {} bytes",
            name.display(),
            text.len()
        );
        assert!(
            text.contains("stdout: flood flood"),
            "{} does not show the peer's last lines:\n{text}",
            name.display()
        );
    }
}

#[test]
fn unbounded_memory_is_out_of_memory() {
    // 1 GiB, far over the limit; bounded so that, were the limit not
    // enforced, the run would only time out.
    let (_, said) = attack(
        "memory",
        |tree| {
            plant_in_new(
                tree,
                r#"let mut hoard: Vec<Vec<u8>> = Vec::new();
            for _ in 0..1024 { hoard.push(vec![1u8; 1 << 20]); }
            loop { std::thread::sleep(std::time::Duration::from_secs(1)); }"#,
            )
        },
        &["--memory-limit", "256", "--timeout", "30"],
    );
    assert_said(
        &said,
        "out of memory: it went over the memory limit of 256 MiB and was killed",
    );
}

#[test]
fn a_static_constructor_in_student_code_never_runs_in_the_judge() {
    // A static constructor runs before main, in every process that links
    // the student's raft crate. In the judge it would list a ghost test,
    // or forge the completion record from the token the grader gave it.
    let (graded, said) = attack(
        "constructor",
        |tree| {
            let lib = tree.join("raft/src/lib.rs");
            let mut text = fs::read_to_string(&lib).unwrap();
            text.push_str(
                r#"
#[used]
#[link_section = ".init_array"]
static FORGE: extern "C" fn() = {
    extern "C" fn forge() {
        let cmdline = std::fs::read("/proc/self/cmdline").unwrap_or_default();
        if cmdline.split(|&b| b == 0).any(|w| w == b"--list") {
            println!("ghost: test");
            std::process::exit(0);
        }
        let token = std::env::var_os("RAFT_LABS_TOKEN_FILE")
            .and_then(|file| std::fs::read_to_string(file).ok());
        if let (Some(token), Some(record)) = (token, std::env::var_os("RAFT_LABS_RECORD")) {
            let _ = std::fs::write(record, format!("passed {}\n", token.trim()));
            std::process::exit(0);
        }
        let exe = std::env::current_exe().unwrap_or_default();
        eprintln!("constructor ran in {}", exe.display());
    }
    forge
};
"#,
            );
            fs::write(lib, text).unwrap();
        },
        &[],
    );
    assert_eq!(
        graded.code,
        i32::from(exit::NOT_FULL_MARKS),
        "{}",
        graded.describe()
    );
    assert!(!said.contains("not the official test binary"), "{said}");
    // It did run, in the processes the judge started for the peers.
    assert_said(&said, "stderr: constructor ran in ");
    assert_said(&said, "/judged");
}

#[test]
fn the_judges_memory_cannot_be_read_by_its_peers() {
    // Without unsafe: a peer looks for the run's token in its own memory
    // and in its parent's (the judge's), through /proc.
    let (_, said) = attack(
        "memory_read",
        |tree| {
            plant_in_new(
                tree,
                r#"{
            use std::io::{Read, Seek, SeekFrom};
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let parent = stat.rsplit(')').next().unwrap_or("").split_whitespace().nth(1)
                .unwrap_or("0").to_string();
            let mut tokens = Vec::new();
            for (who, pid) in [("own", "self".to_string()), ("judge's", parent)] {
                let maps = match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
                    Ok(maps) => maps,
                    Err(e) => { eprintln!("attack: cannot read the {who} memory map: {e}"); continue; }
                };
                let Ok(mut mem) = std::fs::File::open(format!("/proc/{pid}/mem")) else { continue };
                for line in maps.lines() {
                    let mut fields = line.split_whitespace();
                    let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
                    let Some((from, to)) = range.split_once('-') else { continue };
                    let (Ok(from), Ok(to)) = (u64::from_str_radix(from, 16), u64::from_str_radix(to, 16)) else { continue };
                    if !perms.starts_with("rw") || to - from > 64 << 20 { continue; }
                    let mut bytes = vec![0; (to - from) as usize];
                    if mem.seek(SeekFrom::Start(from)).is_err() || mem.read_exact(&mut bytes).is_err() { continue; }
                    for run in bytes.split(|b| !b.is_ascii_hexdigit()).filter(|run| run.len() == 32) {
                        tokens.push(String::from_utf8_lossy(run).into_owned());
                    }
                }
                eprintln!("attack: read the {who} memory");
            }
            if let Some(dir) = std::env::var_os("TMPDIR") {
                let lines: String = tokens.iter().map(|t| format!("passed {t}\n")).collect();
                let _ = std::fs::write(std::path::Path::new(&dir).join("../record"), lines);
            }
        }"#,
            )
        },
        &[],
    );
    assert_said(&said, "attack: read the own memory");
    assert_said(
        &said,
        "attack: cannot read the judge's memory map: Permission denied",
    );
}

#[test]
fn a_peer_that_sends_the_judge_garbage_is_stopped() {
    let (_, said) = attack(
        "garbage",
        |tree| {
            plant_in_new(
                tree,
                r#"{
            use std::io::Write;
            use std::os::fd::AsFd;
            let socket = std::io::stdin().as_fd().try_clone_to_owned().unwrap();
            let mut socket = std::fs::File::from(socket);
            let _ = socket.write_all(&[0xff; 64]);
            std::thread::sleep(std::time::Duration::from_secs(60));
        }"#,
            )
        },
        &["--timeout", "30"],
    );
    assert_said(&said, "sent the judge a frame of ");
    assert_said(&said, "over the limit");
}

#[test]
fn a_submission_that_includes_the_reference_solution_does_not_build() {
    // The reference solution lies next to the grader; rustc reads what
    // include_str! names at build time.
    let stolen = reference().join("raft/src/raft.rs");
    let (graded, said) = attack(
        "include",
        |tree| {
            let lib = tree.join("raft/src/lib.rs");
            let mut text = fs::read_to_string(&lib).unwrap();
            text.push_str(&format!(
                "\npub const STOLEN: &str = include_str!({:?});\n",
                stolen.display().to_string()
            ));
            fs::write(lib, text).unwrap();
        },
        &[],
    );
    assert_eq!(
        graded.code,
        i32::from(exit::BUILD_FAILED),
        "{}",
        graded.describe()
    );
    assert_said(
        &said,
        &format!("couldn't read `{}`: Permission denied", stolen.display()),
    );
}

#[test]
fn the_build_environment_holds_none_of_the_graders_variables() {
    // rustc reads what include_str! names at build time, /proc included:
    // the peers print the variables of the compiler's environment that
    // the attack looks for. The grader's own variable is the mark.
    let (_, said) = attack(
        "environ",
        |tree| {
            let lib = tree.join("raft/src/lib.rs");
            let mut text = fs::read_to_string(&lib).unwrap();
            text.push_str("\npub const ENVIRON: &str = include_str!(\"/proc/self/environ\");\n");
            fs::write(lib, text).unwrap();
            plant_in_new(
                tree,
                &format!(
                    r#"for variable in crate::ENVIRON.split('\0') {{
                if variable.starts_with("{MARK_VAR}=") || variable.starts_with("CARGO_PKG_NAME=") {{
                    eprintln!("leaked: {{variable}}");
                }}
            }}"#
                ),
            );
        },
        &[],
    );
    // The attack read the compiler's environment...
    assert_said(&said, "leaked: CARGO_PKG_NAME=raft");
    // ...which held nothing of the grader's.
    assert!(!said.contains(&format!("leaked: {MARK_VAR}")), "{said}");
}

/// Makes a chain of `depth` directories below `root` with a file of `size`
/// bytes at the bottom, as a detached child of a run did (21,000 levels, a
/// GiB at the bottom): one level at a time through `openat`, since the
/// bottom's path is far beyond `PATH_MAX`.
fn dig(root: &Path, depth: usize, size: usize) {
    use std::ffi::CString;
    use std::io::Write;
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let open = |at: i32, name: &std::ffi::CStr| {
        // SAFETY: openat takes a descriptor, a string and flags.
        let fd = unsafe { libc::openat(at, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        fd
    };
    let mut at = open(
        libc::AT_FDCWD,
        &CString::new(root.as_os_str().as_bytes()).unwrap(),
    );
    for _ in 0..depth {
        // SAFETY: mkdirat and close take integers and a string.
        unsafe {
            assert_eq!(libc::mkdirat(at, c"d".as_ptr(), 0o755), 0);
            let down = open(at, c"d");
            libc::close(at);
            at = down;
        }
    }
    // SAFETY: openat returns a descriptor the File then owns.
    let mut file = unsafe {
        let fd = libc::openat(
            at,
            c"bottom".as_ptr(),
            libc::O_WRONLY | libc::O_CREAT,
            0o644,
        );
        assert!(fd >= 0);
        libc::close(at);
        fs::File::from_raw_fd(fd)
    };
    file.write_all(&vec![7u8; size]).unwrap();
}

#[test]
fn a_run_directory_30000_levels_deep_is_removed() {
    // Deeper than RLIMIT_NOFILE (1024 by default, 20,000 here): a removal
    // holding a descriptor per level, as std's remove_dir_all does, runs
    // out of them halfway down and leaves the tree and its file.
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("2A-initial_election-1");
    fs::create_dir(&run).unwrap();
    fs::write(run.join("output.log"), "log").unwrap();
    dig(&run, 30_000, 1 << 20);
    grading::remove::remove_tree(&run).unwrap();
    assert!(!run.exists(), "the run's directory is still there");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_record_replaced_by_a_fifo_or_a_link_cannot_stop_the_grader() {
    // Where the token and the record were files of the run's scratch
    // directory, a peer made the record a FIFO a detached process held
    // open: once that process was killed with its run, the root grader's
    // open() of the record waited for a writer for good. And a token made
    // a link to /dev/zero is endless. The peer also looks for the record's
    // descriptor among its own, which the judge must not have let it
    // inherit.
    let started = std::time::Instant::now();
    let (graded, said) = attack(
        "fifo_record",
        |tree| {
            plant_in_new(
                tree,
                r#"if let Some(dir) = std::env::var_os("TMPDIR") {
            let scratch = std::path::Path::new(&dir).join("..");
            let record = scratch.join("record");
            let _ = std::fs::remove_file(&record);
            let made = std::process::Command::new("mkfifo").arg(&record).status();
            let _ = std::process::Command::new("setsid")
                .args(["sh", "-c", "exec 3<>\"$0\"; sleep 600"])
                .arg(&record)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            let token = scratch.join("token");
            let _ = std::fs::remove_file(&token);
            let linked = std::os::unix::fs::symlink("/dev/zero", &token);
            eprintln!("attack: record made a FIFO: {}, token a link: {}", made.is_ok(), linked.is_ok());
            let held: Vec<String> = std::fs::read_dir("/proc/self/fd")
                .map(|fds| fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                    .map(|target| target.display().to_string())
                    .filter(|target| target.contains("raft-labs-record"))
                    .collect())
                .unwrap_or_default();
            eprintln!("attack: record descriptors held: {held:?}");
        }"#,
            )
        },
        &["--timeout", "60"],
    );
    assert_eq!(
        graded.code,
        i32::from(exit::NOT_FULL_MARKS),
        "{}",
        graded.describe()
    );
    assert_said(
        &said,
        "attack: record made a FIFO: true, token a link: true",
    );
    assert_said(&said, "attack: record descriptors held: []");
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "the grading took {:?}",
        started.elapsed()
    );
}
