//! Runs one test of a test binary in its own process group, confined, with
//! a timeout, and decides from the harness's completion record
//! ([`crate::completion`], handed over as file descriptors) whether it
//! passed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use testrun::run::{run_to_file, JUDGED_VAR};

use crate::completion::Completion;
use crate::confine::{Confinement, Jail};
use crate::error::{io_error, Error};
use crate::runfile;
use crate::supervise::{describe, Ended};

/// The variable that sets the simulated network's seed.
pub const SEED_VAR: &str = "LABRPC_SEED";

/// The directory, in a run's directory, that the run may write in: its
/// temporary files. (Its token and record are file descriptors.)
const SCRATCH: &str = "box";

/// How long listing a binary's tests may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// One run of one test.
pub struct TestRun<'a> {
    /// The test binary.
    pub binary: &'a Path,
    /// The binary its peers run in.
    pub judged: &'a Path,
    /// The test's exact name.
    pub test: &'a str,
    /// The working directory of the test (the tree's root, as under cargo).
    pub cwd: &'a Path,
    /// An empty directory of this run: token, record, output.
    pub dir: &'a Path,
    /// After this long the run's process group is killed.
    pub timeout: Duration,
    /// The network seed; `None` lets each run draw its own.
    pub seed: Option<u64>,
    /// How the run's processes are confined.
    pub confinement: &'a Confinement,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Exited with status 0, and the harness recorded this run's token.
    Passed,
    /// Anything else but a timeout; the reason in one line.
    Failed(String),
    /// Killed at the timeout.
    TimedOut,
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub verdict: Verdict,
    /// From start to exit.
    pub duration: Duration,
    /// What the run printed, standard output and error interleaved (its
    /// head and tail if it printed more than the cap).
    pub output: PathBuf,
    /// How many bytes of its output were cut.
    pub cut: u64,
    /// How many processes it left behind, killed once it ended.
    pub left_behind: usize,
}

/// Runs `<binary> --exact <test> --test-threads 1 --nocapture`, confined,
/// and judges it.
pub fn run_test(run: &TestRun) -> Result<Finished, Error> {
    let scratch = run.dir.join(SCRATCH);
    let jail = run
        .confinement
        .jail(&[run.binary, run.judged], run.cwd, &scratch)?;
    let completion = Completion::create()?;
    let output = run.dir.join("output.log");

    let mut command = Command::new(run.binary);
    command
        .args(["--exact", run.test, "--test-threads", "1", "--nocapture"])
        .current_dir(run.cwd)
        .env(JUDGED_VAR, run.judged)
        .env("TMPDIR", scratch.join("tmp"));
    match run.seed {
        Some(seed) => command.env(SEED_VAR, seed.to_string()),
        None => command.env_remove(SEED_VAR),
    };
    let (ended, cut) = run_confined(
        command,
        run.binary,
        &output,
        run.timeout,
        &jail,
        Some(&completion),
    )?;
    if ended.interrupted {
        return Err(Error::Interrupted);
    }

    let verdict = if ended.timed_out {
        Verdict::TimedOut
    } else if ended.status.success() && completion.recorded() {
        Verdict::Passed
    } else if let Some(why) = jail.out_of_memory(
        ended.status,
        &runfile::read_end(&output, 1 << 16).map_err(io_error(&output))?,
    ) {
        Verdict::Failed(why)
    } else if let Some(why) = jail.too_many_processes() {
        Verdict::Failed(why)
    } else {
        Verdict::Failed(reason(ended.status, completion.token_unread(), run.test))
    };
    Ok(Finished {
        verdict,
        duration: ended.duration,
        output,
        cut,
        left_behind: ended.left_behind,
    })
}

/// The tests of a test binary (`--list --format terse`), in its order; the
/// listing runs confined, in a scratch directory below `dir`.
pub fn list_tests(
    binary: &Path,
    cwd: &Path,
    dir: &Path,
    confinement: &Confinement,
) -> Result<Vec<String>, Error> {
    let output = dir.join("list.txt");
    let scratch = dir.join("list");
    let jail = confinement.jail(&[binary], cwd, &scratch)?;
    let mut command = Command::new(binary);
    command
        .args(["--list", "--format", "terse"])
        .current_dir(cwd)
        .env("TMPDIR", scratch.join("tmp"));
    let (ended, _) = run_confined(command, binary, &output, LIST_TIMEOUT, &jail, None)?;
    let text = runfile::read_capped(&output).map_err(io_error(&output))?;
    if ended.timed_out || !ended.status.success() {
        let how = if ended.timed_out {
            format!("did not finish within {} s", LIST_TIMEOUT.as_secs())
        } else {
            describe(ended.status)
        };
        return Err(Error::Other(format!(
            "{} --list {how}: {}",
            binary.display(),
            text.trim()
        )));
    }
    Ok(text
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// Why a run that did not time out failed, in one line.
fn reason(status: ExitStatus, token_unread: bool, test: &str) -> String {
    if !status.success() {
        return describe(status);
    }
    if token_unread {
        format!(
            "exited with status 0, but the harness never started test `{test}` (it did not read its token)"
        )
    } else {
        "exited with status 0 before the harness recorded the test as passed (did the code under test end the process?)"
            .to_string()
    }
}

/// Runs `command` confined by `jail` (see [`testrun::run::run_to_file`]),
/// handed `completion` if given: once the leader has exited, the processes
/// the jail tracks, or else every orphan, are killed too.
fn run_confined(
    mut command: Command,
    program: &Path,
    output: &Path,
    timeout: Duration,
    jail: &Jail,
    completion: Option<&Completion>,
) -> Result<(Ended, u64), Error> {
    jail.apply(&mut command);
    // After the jail's own steps, which may use descriptors 3 and 4.
    if let Some(completion) = completion {
        completion.hand_to(&mut command);
    }
    let running = || jail.running();
    let tracked = jail
        .tracks_processes()
        .then_some(&running as &dyn Fn() -> Vec<u32>);
    Ok(run_to_file(command, program, output, timeout, tracked)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{KEPT_HEAD, KEPT_TAIL};
    use crate::sandbox;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::thread;
    use std::time::Instant;

    /// A stand-in for a libtest binary built with the harness: it lists
    /// its tests, and each test does what its name says.
    const FAKE_TEST_BINARY: &str = r#"#!/bin/sh
if [ "$1" = "--list" ]; then
  for t in pass exit_early fail forge hang never_started write_outside hog flood detach whoami forkbomb; do echo "$t: test"; done
  exit 0
fi
test="$2"
if [ "$test" != never_started ]; then
  read -r token <&"$RAFT_LABS_TOKEN_FD"
fi
case "$test" in
  pass) echo "passed $token" >&"$RAFT_LABS_RECORD_FD"; exit 0 ;;
  exit_early) exit 0 ;;
  fail) echo "seed ${LABRPC_SEED:-none}"; exit 101 ;;
  forge) echo "passed 0123456789abcdef0123456789abcdef" >&"$RAFT_LABS_RECORD_FD"; exit 0 ;;
  hang) sleep 600 & echo "$!" > "$TMPDIR/../child"; sleep 600 ;;
  never_started) exit 0 ;;
  write_outside) echo hacked > outside && exit 0; exit 42 ;;
  hog) head -c 400000000 /dev/zero | tail -n 1 > /dev/null ;;
  flood) head -c 20000000 /dev/zero | tr '\0' x; exit 1 ;;
  whoami) id -u; exit 1 ;;
  # Bounded, so that without a limit it would only pass late.
  forkbomb) i=0; while [ $i -lt 300 ]; do sleep 20 & i=$((i+1)); done; echo "all forked"; exit 0 ;;
  # The pause: until setsid has run, the child is still in the group.
  detach) setsid sleep 600 & echo "$!" > "$TMPDIR/../child"; sleep 1; exit 1 ;;
esac
"#;

    struct Fake {
        dir: tempfile::TempDir,
        binary: PathBuf,
    }

    /// Every fake run gets 64 MiB and 64 processes.
    fn confinement() -> Confinement {
        Confinement::new(64 << 20, "nobody")
            .unwrap()
            .with_pids_limit(64)
    }

    fn fake() -> Fake {
        // As the grader is.
        crate::reaper::become_subreaper().unwrap();
        let dir = tempfile::tempdir().unwrap();
        // The runs' user must reach the binary.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let binary = dir.path().join("lab2a-fake");
        fs::write(&binary, FAKE_TEST_BINARY).unwrap();
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
        Fake { dir, binary }
    }

    fn run(fake: &Fake, test: &str, timeout: Duration, seed: Option<u64>) -> Finished {
        let dir = fake.dir.path().join(test);
        fs::create_dir(&dir).unwrap();
        run_test(&TestRun {
            binary: &fake.binary,
            judged: &fake.binary,
            test,
            cwd: fake.dir.path(),
            dir: &dir,
            timeout,
            seed,
            confinement: &confinement(),
        })
        .unwrap()
    }

    fn verdict(test: &str) -> Verdict {
        run(&fake(), test, Duration::from_secs(30), None).verdict
    }

    #[test]
    fn lists_tests() {
        let fake = fake();
        let tests = list_tests(
            &fake.binary,
            fake.dir.path(),
            fake.dir.path(),
            &confinement(),
        )
        .unwrap();
        assert_eq!(tests.len(), 12);
        assert_eq!(tests[..3], ["pass", "exit_early", "fail"]);
    }

    #[test]
    fn a_recorded_token_passes() {
        assert_eq!(verdict("pass"), Verdict::Passed);
    }

    #[test]
    fn exit_zero_without_the_record_fails() {
        assert_eq!(
            verdict("exit_early"),
            Verdict::Failed("exited with status 0 before the harness recorded the test as passed (did the code under test end the process?)".into())
        );
    }

    #[test]
    fn a_forged_record_fails() {
        assert!(matches!(verdict("forge"), Verdict::Failed(_)));
    }

    #[test]
    fn a_test_the_harness_never_started_fails() {
        assert_eq!(
            verdict("never_started"),
            Verdict::Failed("exited with status 0, but the harness never started test `never_started` (it did not read its token)".into())
        );
    }

    #[test]
    fn a_failure_keeps_its_output_and_gets_the_seed() {
        let fake = fake();
        let finished = run(&fake, "fail", Duration::from_secs(30), Some(42));
        assert_eq!(
            finished.verdict,
            Verdict::Failed("exited with status 101".into())
        );
        assert_eq!(fs::read_to_string(finished.output).unwrap(), "seed 42\n");
    }

    #[test]
    fn a_hang_is_killed_with_its_whole_group() {
        let fake = fake();
        let finished = run(&fake, "hang", Duration::from_millis(500), None);
        assert_eq!(finished.verdict, Verdict::TimedOut);
        assert!(finished.duration < Duration::from_secs(10));
        assert_gone(&fake, "hang");
    }

    /// Asserts that the child the fake test `test` noted is gone.
    fn assert_gone(fake: &Fake, test: &str) {
        let noted = fake.dir.path().join(test).join(SCRATCH).join("child");
        let child = fs::read_to_string(noted).unwrap();
        let stat = format!("/proc/{}/stat", child.trim());
        // Gone, or a zombie waiting for a parent that does not reap; a
        // killed process may take a moment to get there.
        let state = || {
            let text = fs::read_to_string(&stat).unwrap_or_default();
            let fields = text.rsplit(')').next().unwrap_or("").to_string();
            fields.split_whitespace().next().map(str::to_string)
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(state().as_deref(), None | Some("Z")) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let state = state();
        assert!(
            matches!(state.as_deref(), None | Some("Z")),
            "the hung test's child lives on: {state:?}"
        );
    }

    #[test]
    fn a_run_cannot_write_outside_its_scratch_directory() {
        if sandbox::kernel_abi().is_none() {
            eprintln!("this kernel has no Landlock: nothing to check");
            return;
        }
        let fake = fake();
        let finished = run(&fake, "write_outside", Duration::from_secs(30), None);
        assert_eq!(
            finished.verdict,
            Verdict::Failed("exited with status 42".into())
        );
        assert!(!fake.dir.path().join("outside").exists());
    }

    #[test]
    fn a_run_over_the_memory_limit_is_out_of_memory() {
        if !confinement().has_cgroups() {
            eprintln!(
                "no memory cgroup here: a shell's pipeline cannot show its allocation failure"
            );
            return;
        }
        let finished = run(&fake(), "hog", Duration::from_secs(60), None);
        assert_eq!(
            finished.verdict,
            Verdict::Failed(
                "out of memory: it went over the memory limit of 64 MiB and was killed".into()
            )
        );
    }

    #[test]
    fn a_flood_of_output_is_cut_in_the_middle() {
        let fake = fake();
        let finished = run(&fake, "flood", Duration::from_secs(60), None);
        let kept = (KEPT_HEAD + KEPT_TAIL) as u64;
        assert_eq!(finished.cut, 20_000_000 - kept);
        let log = fs::read_to_string(&finished.output).unwrap();
        assert!(log.contains(&format!(
            "[grade: {} bytes of output cut here;",
            finished.cut
        )));
        assert!(log.len() < kept as usize + 200, "{} bytes kept", log.len());
    }

    #[test]
    fn a_detached_child_is_killed_and_counted() {
        let _turn = crate::SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        let fake = fake();
        let finished = run(&fake, "detach", Duration::from_secs(30), None);
        if confinement().has_cgroups() {
            assert_eq!(finished.left_behind, 1);
        } else {
            // A parallel run's sweep may have killed it first.
            assert!(finished.left_behind <= 1);
        }
        assert_gone(&fake, "detach");
    }

    #[test]
    fn a_run_of_a_root_grader_runs_as_nobody() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("the grader is not root: runs keep its user");
            return;
        }
        let fake = fake();
        let finished = run(&fake, "whoami", Duration::from_secs(30), None);
        let nobody = crate::confine::User::lookup("nobody").unwrap();
        assert_eq!(
            fs::read_to_string(&finished.output).unwrap().trim(),
            nobody.uid.to_string()
        );
    }

    #[test]
    fn a_fork_bomb_fails_its_own_run_only() {
        if !confinement().has_pids_cgroups() {
            eprintln!("no pids cgroup here: a run's processes are not limited");
            return;
        }
        let fake = fake();
        let bomb = {
            let fake = Fake {
                dir: tempfile::tempdir_in(fake.dir.path()).unwrap(),
                binary: fake.binary.clone(),
            };
            fs::set_permissions(fake.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
            // The fake comes back with the run: its directory holds the log.
            thread::spawn(move || (run(&fake, "forkbomb", Duration::from_secs(60), None), fake))
        };
        // Beside it, at the same time.
        let beside = run(&fake, "pass", Duration::from_secs(60), None);
        let (bomb, _its_fake) = bomb.join().unwrap();
        assert_eq!(beside.verdict, Verdict::Passed);
        assert_eq!(
            bomb.verdict,
            Verdict::Failed(
                "too many processes: it went over the limit of 64 processes and threads, and a fork was refused".into()
            )
        );
        let log = fs::read_to_string(&bomb.output).unwrap();
        assert!(!log.contains("all forked"), "{log}");
    }
}
