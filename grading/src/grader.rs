//! One grading, from the command line to the scores: find the reference
//! tree, prepare and build the tree to grade, list its tests, run each one
//! the asked number of times in parallel, and keep the reports up to date.

use std::fmt::Write as _;
use std::fs;
use std::ops::ControlFlow;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::build::{self, Binaries, Build, BuildDir};
use crate::capture::KEPT_HEAD;
use crate::cli::Cli;
use crate::confine::Confinement;
use crate::digest;
use crate::error::{io_error, Error};
use crate::grades::{BuildStatus, Failure, Grades, Outcome, RunRecord, TestGrade};
use crate::groups;
use crate::listing::{self, Listing};
use crate::output;
use crate::parts::Part;
use crate::plan::{Plan, Share};
use crate::points::{PointsTable, DEFAULT_TABLE};
use crate::progress::Progress;
use crate::remove::{self, RemovedOnDrop};
use crate::report;
use crate::runfile;
use crate::runner::{self, Finished, TestRun, Verdict};
use crate::schedule::{self, Event};
use crate::shard::Shard;
use crate::timings::Timings;
use crate::tree;

/// The cargo target directory, under the reference tree, that every
/// grading builds in (the reference tree in place, submissions as scratch
/// copies).
const TARGET_DIR: &str = "target/grading";

/// Where, under the reference tree, each grading has its scratch directory
/// (the submission's copy, the test binaries, the runs' directories).
const SCRATCH_DIR: &str = "target/grading/scratch";

/// How much of the end of a failed run's output is read for its seed and
/// message (the full output is kept in the report directory).
const OUTPUT_READ_LIMIT: u64 = 4 << 20;

/// How many lines of a failed run's output the reports quote.
const TAIL_LINES: usize = 40;
/// How much of a passed run's output is read for its CPU line, which the
/// harness prints last.
const CPU_READ_LIMIT: u64 = 64 << 10;

/// One run of one test.
struct Job {
    test: usize,
    part: Part,
    name: String,
    run: u32,
}

/// What every grading of one command line shares: the reference tree, the
/// points table, the expected times and the official tests' version.
#[derive(Debug)]
pub struct Setup {
    /// The reference tree.
    pub reference: PathBuf,
    /// The points table.
    pub table: PointsTable,
    /// The tests' expected times.
    pub timings: Timings,
    /// The version of the official tests.
    pub tests_version: String,
}

impl Setup {
    /// Finds the reference tree and reads the tables `cli` names.
    pub fn new(cli: &Cli) -> Result<Setup, Error> {
        let reference = tree::find_reference()?;
        let points_file = cli
            .points
            .clone()
            .unwrap_or_else(|| reference.join(DEFAULT_TABLE));
        let table = PointsTable::load(&points_file)?;
        for part in cli.parts() {
            table.tests(part)?;
        }
        let timings = match &cli.timings {
            Some(file) => Timings::load(file)?,
            None => Timings::default(),
        };
        let tests_version = digest::tests_version(&reference)?;
        Ok(Setup {
            reference,
            table,
            timings,
            tests_version,
        })
    }
}

/// Where one grading stands in its plan.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The plan's identity.
    pub plan: &'a str,
    /// The shard being run, if only one.
    pub shard: Option<Shard>,
    /// The runs this shard (or the whole grading) runs.
    pub share: &'a Share,
    /// The graded submission's index in the plan.
    pub submission: usize,
}

/// Grades what `cli` asks for, only `shard`'s share of it if given; the
/// progress view is drawn when `visible`.
///
/// A submission that does not build is graded (score 0, the compiler's
/// errors in [`Grades::build`]); an `Err` means nothing could be graded.
pub fn grade(cli: &Cli, shard: Option<Shard>, visible: bool) -> Result<Grades, Error> {
    let setup = Setup::new(cli)?;
    let name = match &cli.submission {
        Some(dir) => dir
            .canonicalize()
            .ok()
            .and_then(|d| Some(d.file_name()?.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string()),
        None => "reference".to_string(),
    };
    let plan = Plan::new(cli, &setup.table, &setup.timings, vec![name])?;
    let share = plan.share(shard);
    let stamp = Stamp {
        plan: &plan.id,
        shard,
        share: &share,
        submission: 0,
    };
    grade_in(cli, &setup, stamp, visible)
}

/// Grades `cli.submission` (or the reference tree) as `stamp` places it
/// in its plan: only the runs of its share.
pub fn grade_in(
    cli: &Cli,
    setup: &Setup,
    stamp: Stamp<'_>,
    visible: bool,
) -> Result<Grades, Error> {
    let started = Instant::now();
    let (reference, table) = (setup.reference.clone(), &setup.table);
    let parts = cli.parts();
    let planned = |part: Part, test: &str| stamp.share.runs(stamp.submission, part, test);
    let submission = match &cli.submission {
        Some(dir) => Some(
            dir.canonicalize()
                .ok()
                .filter(|d| d.is_dir())
                .ok_or_else(|| Error::NoSubmission(dir.clone()))?,
        ),
        None => None,
    };
    if let Some(dir) = &cli.report {
        report::create_dir(dir)?;
    }
    let confinement =
        Confinement::new(cli.memory_limit << 20, &cli.run_as)?.with_pids_limit(cli.pids_limit);
    // Not in /tmp: cargo reads `.cargo/config.toml` from every directory
    // above the tree it builds, and anyone can write /tmp/.cargo.
    let scratch_root = reference.join(SCRATCH_DIR);
    fs::create_dir_all(&scratch_root).map_err(io_error(&scratch_root))?;
    // Removed at any depth a run's detached child may have dug to.
    let scratch = RemovedOnDrop::new(
        tempfile::Builder::new()
            .prefix("grade-")
            .tempdir_in(&scratch_root)
            .map_err(io_error(&scratch_root))?
            .keep(),
    );
    // The runs' user reaches the test binaries and the tree through it.
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o755))
        .map_err(io_error(scratch.path()))?;
    // Before the build, which a run the user cannot start would waste.
    confinement.check_reachable(scratch.path())?;
    let mut progress = Progress::new(visible);
    let spinner = progress.phase(&match &submission {
        Some(dir) => format!("building {}", dir.display()),
        None => "building the reference tree".to_string(),
    });
    let build_dir = BuildDir::take(&reference.join(TARGET_DIR), &mut |note| {
        spinner.set_message(note.to_string())
    })?;
    let (tree, notes) = match &submission {
        Some(dir) => {
            let into = scratch.path().join("tree");
            let notes = tree::prepare_submission(&reference, dir, &into)?;
            (into, notes)
        }
        None => (reference.clone(), Vec::new()),
    };
    let notes = confinement.shortfalls().into_iter().chain(notes).collect();
    let bin_dir = scratch.path().join("bin");
    fs::create_dir(&bin_dir).map_err(io_error(&bin_dir))?;
    let build_started = Instant::now();
    let built = build::build(
        &build_dir,
        &build::Request {
            cargo: &build::cargo_program(),
            tree: &tree,
            parts: &parts,
            keep_in: &bin_dir,
            timeout: Duration::from_secs(cli.build_timeout),
        },
        &mut |note| spinner.set_message(note.to_string()),
    );
    drop(build_dir);
    let build_time = build_started.elapsed();
    if groups::interrupted() {
        progress.end_phase(spinner, "interrupted");
        return Err(Error::Interrupted);
    }
    let mut grades = Grades {
        submission: submission.clone(),
        tree: tree.clone(),
        parts: parts.clone(),
        runs_per_test: cli.runs,
        jobs: cli.jobs(),
        timeout: Duration::from_secs(cli.timeout),
        policy: table.policy,
        seed: cli.seed,
        build: BuildStatus::Built(build_time),
        notes,
        tests: Vec::new(),
        elapsed: started.elapsed(),
        finished: false,
        shard: stamp.shard,
        plan: stamp.plan.to_string(),
        tests_version: setup.tests_version.clone(),
    };
    let binaries = match built {
        Err(error) => {
            progress.end_phase(spinner, "the build could not run");
            return Err(error);
        }
        Ok(Build::Failed { errors }) => {
            progress.end_phase(
                spinner,
                &format!("does not compile ({:.1} s)", build_time.as_secs_f64()),
            );
            for &part in &parts {
                let names = table.tests(part)?.keys().cloned().collect();
                grades.tests.extend(tests_of(part, names, table, &planned)?);
            }
            grades.tests = selected(grades.tests, &cli.tests)?;
            grades.build = BuildStatus::Failed {
                duration: build_time,
                errors,
            };
            grades.finished = true;
            grades.elapsed = started.elapsed();
            write_reports(cli, &grades)?;
            return Ok(grades);
        }
        Ok(Build::Built(binaries)) => binaries,
    };
    progress.end_phase(
        spinner,
        &format!("built in {:.1} s", build_time.as_secs_f64()),
    );

    for &part in &parts {
        // Only the binary's own failure to list its tests is the
        // submission's; the grader's I/O, or an interrupt, stops it.
        let listed =
            match runner::list_tests(&binaries.tests[&part], &tree, scratch.path(), &confinement) {
                Err(error @ (Error::Interrupted | Error::Io { .. } | Error::Spawn { .. })) => {
                    return Err(error)
                }
                listed => listed,
            };
        match listing::check(part, listed, table, submission.is_some())? {
            Listing::Official(tests) => grades.tests.extend(graded_tests(part, tests, &planned)),
            Listing::Foreign(why) => {
                let names = table.tests(part)?.keys().cloned().collect();
                let mut tests = tests_of(part, names, table, &planned)?;
                for test in &mut tests {
                    let job = |run| Job {
                        test: 0,
                        part,
                        name: test.name.clone(),
                        run,
                    };
                    test.runs = (test.planned.iter())
                        .map(|&run| never_ran(cli, submission.as_deref(), &job(run), &why))
                        .collect();
                }
                grades.notes.push(format!("{why}: part {part} scores 0"));
                grades.tests.extend(tests);
            }
        }
    }
    grades.tests = selected(grades.tests, &cli.tests)?;
    write_reports(cli, &grades)?;
    let ran = run_all(
        cli,
        &mut grades,
        &binaries,
        scratch.path(),
        &confinement,
        &mut progress,
        started,
    );
    progress.finish();
    grades.finished = ran?;
    grades.elapsed = started.elapsed();
    write_reports(cli, &grades)?;
    Ok(grades)
}

/// Runs every test of `grades` `cli.runs` times, `cli.jobs` at once,
/// recording each finished run and rewriting the reports. `Ok(false)`:
/// the grading was interrupted before every run finished.
fn run_all(
    cli: &Cli,
    grades: &mut Grades,
    binaries: &Binaries,
    scratch: &Path,
    confinement: &Confinement,
    progress: &mut Progress,
    started: Instant,
) -> Result<bool, Error> {
    let tree = grades.tree.clone();
    let submission = grades.submission.clone();
    let jobs: Vec<Job> = grades
        .tests
        .iter()
        .enumerate()
        .filter(|(_, t)| t.runs.is_empty())
        .flat_map(|(test, t)| {
            t.planned.iter().map(move |&run| Job {
                test,
                part: t.part,
                name: t.name.clone(),
                run,
            })
        })
        .collect();
    let runs_dir = scratch.join("runs");
    fs::create_dir(&runs_dir).map_err(io_error(&runs_dir))?;
    fs::set_permissions(&runs_dir, fs::Permissions::from_mode(0o755))
        .map_err(io_error(&runs_dir))?;
    let workers = cli.jobs().min(jobs.len()).max(1);
    progress.start_runs(jobs.len(), workers);
    let mut failure: Option<Error> = None;
    schedule::run(
        &jobs,
        workers,
        |job| {
            let dir = runs_dir.join(format!("{}-{}-{}", job.part, job.name, job.run));
            fs::create_dir(&dir).map_err(io_error(&dir))?;
            runner::run_test(&TestRun {
                binary: &binaries.tests[&job.part],
                judged: &binaries.judged,
                test: &job.name,
                cwd: &tree,
                dir: &dir,
                timeout: Duration::from_secs(cli.timeout),
                seed: cli.seed,
                confinement,
            })
        },
        |event| match event {
            Event::Started { slot, job } => {
                progress.started(slot, &label(cli, job));
                ControlFlow::Continue(())
            }
            Event::Finished { slot, job, result } => {
                let recorded = result.and_then(|finished| {
                    let record = record(cli, submission.as_deref(), job, &finished)?;
                    let why = record.failure.as_ref().map_or(String::new(), |f| {
                        f.message.clone().unwrap_or_else(|| f.reason.clone())
                    });
                    let first_line = why.lines().next().unwrap_or("");
                    progress.finished(
                        slot,
                        &label(cli, job),
                        record.outcome,
                        record.duration,
                        first_line,
                    );
                    let runs = &mut grades.tests[job.test].runs;
                    let at = runs.partition_point(|r| r.run < record.run);
                    runs.insert(at, record);
                    grades.elapsed = started.elapsed();
                    if let Some(dir) = finished.output.parent() {
                        let _ = remove::remove_tree(dir);
                    }
                    write_reports(cli, grades)
                });
                match recorded {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(Error::Interrupted) => ControlFlow::Break(()),
                    Err(error) => {
                        failure.get_or_insert(error);
                        ControlFlow::Break(())
                    }
                }
            }
        },
    );
    match failure {
        Some(error) => Err(error),
        None => Ok(grades.all_ran()),
    }
}

/// The runs of a test of a part that a grading runs.
type Planned<'a> = dyn Fn(Part, &str) -> Vec<u32> + 'a;

/// The tests `names` of `part`, with their points and planned runs.
fn tests_of(
    part: Part,
    names: Vec<String>,
    table: &PointsTable,
    planned: &Planned<'_>,
) -> Result<Vec<TestGrade>, Error> {
    Ok(graded_tests(
        part,
        table.match_tests(part, &names)?,
        planned,
    ))
}

/// The tests of `part`, with their points and planned runs, yet to run.
fn graded_tests(part: Part, tests: Vec<(String, u32)>, planned: &Planned<'_>) -> Vec<TestGrade> {
    tests
        .into_iter()
        .map(|(name, points)| TestGrade {
            part,
            planned: planned(part, &name),
            name,
            points,
            runs: Vec::new(),
        })
        .collect()
}

/// A run of `job` that failed before it started, for `why`.
fn never_ran(cli: &Cli, submission: Option<&Path>, job: &Job, why: &str) -> RunRecord {
    RunRecord {
        run: job.run,
        outcome: Outcome::Failed,
        duration: Duration::ZERO,
        cpu: None,
        failure: Some(Failure {
            reason: format!("not run: {why}"),
            message: None,
            seed: None,
            log: None,
            tail: String::new(),
            replay: replay(cli, submission, job, None),
        }),
    }
}

/// The tests named by `--test`, or all of them when it was not given.
fn selected(tests: Vec<TestGrade>, names: &[String]) -> Result<Vec<TestGrade>, Error> {
    if let Some(unknown) = names.iter().find(|n| !tests.iter().any(|t| &&t.name == n)) {
        return Err(Error::Other(format!(
            "--test {unknown}: no test of that name in the chosen parts"
        )));
    }
    Ok(tests
        .into_iter()
        .filter(|t| names.is_empty() || names.contains(&t.name))
        .collect())
}

fn label(cli: &Cli, job: &Job) -> String {
    if cli.runs > 1 {
        format!("{} {} (run {}/{})", job.part, job.name, job.run, cli.runs)
    } else {
        format!("{} {}", job.part, job.name)
    }
}

fn write_reports(cli: &Cli, grades: &Grades) -> Result<(), Error> {
    match &cli.report {
        Some(dir) => report::write_all(dir, grades),
        None => Ok(()),
    }
}

/// What a finished run goes down as; a failed run's output is read for its
/// seed and message and, with `--report`, kept.
fn record(
    cli: &Cli,
    submission: Option<&Path>,
    job: &Job,
    finished: &Finished,
) -> Result<RunRecord, Error> {
    let (outcome, reason) = match &finished.verdict {
        Verdict::Passed => {
            let text = runfile::read_end(&finished.output, CPU_READ_LIMIT)
                .map_err(io_error(&finished.output))?;
            return Ok(RunRecord {
                run: job.run,
                outcome: Outcome::Passed,
                duration: finished.duration,
                failure: None,
                cpu: output::cpu(&text),
            });
        }
        Verdict::Failed(reason) => (Outcome::Failed, reason.clone()),
        Verdict::TimedOut => (
            Outcome::TimedOut,
            format!(
                "timed out after {} s; its process group was killed",
                cli.timeout
            ),
        ),
    };
    let mut reason = reason;
    if finished.left_behind > 0 {
        let _ = write!(
            reason,
            "; it left {} process(es) running outside its process group, killed when it ended",
            finished.left_behind
        );
    }
    if finished.cut > 0 {
        let _ = write!(
            reason,
            "; its output was cut: {} bytes between the first and the last {} MiB left out",
            finished.cut,
            KEPT_HEAD >> 20
        );
    }
    let text = runfile::read_end(&finished.output, OUTPUT_READ_LIMIT)
        .map_err(io_error(&finished.output))?;
    let log = match &cli.report {
        Some(dir) => {
            let relative = report::run_log(job.part, &job.name, job.run);
            let kept = dir.join(&relative);
            runfile::copy_capped(&finished.output, &kept).map_err(io_error(&kept))?;
            Some(relative)
        }
        None => None,
    };
    let seed = cli.seed.or_else(|| output::seed(&text));
    Ok(RunRecord {
        run: job.run,
        outcome,
        duration: finished.duration,
        cpu: output::cpu(&text),
        failure: Some(Failure {
            reason,
            message: output::failure_message(&text),
            seed,
            log,
            tail: output::tail(&text, TAIL_LINES),
            replay: replay(cli, submission, job, seed),
        }),
    })
}

/// The grader command that runs this one test again, once, with its seed.
fn replay(cli: &Cli, submission: Option<&Path>, job: &Job, seed: Option<u64>) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("grade"));
    let mut words = vec![quote(&exe.display().to_string())];
    if let Some(dir) = submission {
        words.push(format!(
            "--submission {}",
            quote(&dir.display().to_string())
        ));
    }
    if let Some(points) = &cli.points {
        words.push(format!("--points {}", quote(&points.display().to_string())));
    }
    words.push(format!(
        "--parts {} --test {} --runs 1",
        job.part,
        quote(&job.name)
    ));
    if cli.timeout != 120 {
        words.push(format!("--timeout {}", cli.timeout));
    }
    if let Some(seed) = seed {
        words.push(format!("--seed {seed}"));
    }
    words.join(" ")
}

/// `word` quoted for a POSIX shell when it needs to be.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn replay_names_the_test_the_seed_and_the_submission() {
        let cli = Cli::try_parse_from(["grade", "--timeout", "20", "--runs", "5"]).unwrap();
        let job = Job {
            test: 0,
            part: Part::P2A,
            name: "re_election".into(),
            run: 3,
        };
        let command = replay(&cli, Some(Path::new("/subs/bob smith")), &job, Some(77));
        assert!(
            command.ends_with(
                " --submission '/subs/bob smith' --parts 2A --test re_election --runs 1 --timeout 20 --seed 77"
            ),
            "{command}"
        );
        assert_eq!(label(&cli, &job), "2A re_election (run 3/5)");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("/a/b-c_d.e"), "/a/b-c_d.e");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn test_selection() {
        let test = |name: &str| TestGrade {
            part: Part::P2A,
            name: name.into(),
            points: 1,
            planned: vec![1],
            runs: Vec::new(),
        };
        let picked = selected(vec![test("a"), test("b")], &["b".into()]).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "b");
        assert_eq!(selected(vec![test("a")], &[]).unwrap().len(), 1);
        assert_eq!(
            selected(vec![test("a")], &["z".into()])
                .unwrap_err()
                .to_string(),
            "--test z: no test of that name in the chosen parts"
        );
    }
}
