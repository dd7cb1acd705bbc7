//! `mutants`: grades every mutant of the catalogue (classic student bugs,
//! each a patch to the reference) on the parts it names, several at once,
//! and prints which tests caught it, in how many runs, how fast, and
//! whether the failure named the rule the mutant breaks. See README.md.

mod catalogue;
mod table;
mod trial;

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::thread;

use clap::Parser;

use catalogue::Mutant;
use table::Row;
use trial::{Settings, Verdict};

/// Grades each mutant of the catalogue as a submission (the reference with
/// the mutant's patch applied) on the parts it names, and prints a table.
/// Exits 0 when the reference (the control) has full marks and every
/// mutant not marked unobservable loses points; 1 otherwise.
#[derive(Parser, Debug)]
#[command(name = "mutants", version)]
struct Cli {
    /// The mutants to grade [default: every one in the catalogue].
    names: Vec<String>,

    /// Grade only the mutants that name one of these parts (comma separated).
    #[arg(long, value_name = "PARTS", value_delimiter = ',')]
    parts: Vec<String>,

    /// The catalogue [default: mutants/catalogue.toml of the reference].
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,

    /// Runs of each test, per mutant.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,

    /// Test processes at once, per mutant.
    #[arg(long, value_name = "J", default_value_t = NonZeroUsize::new(6).unwrap())]
    jobs: NonZeroUsize,

    /// Mutants graded at once (their builds take turns).
    #[arg(long, value_name = "K", default_value_t = NonZeroUsize::new(2).unwrap())]
    at_once: NonZeroUsize,

    /// Seconds after which a test run is killed.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,

    /// Where each mutant's grading report goes (`<DIR>/<mutant>/`).
    #[arg(long, value_name = "DIR", default_value = "target/mutants")]
    reports: PathBuf,

    /// Do not grade the unpatched reference alongside (the control row).
    #[arg(long)]
    no_control: bool,

    /// Print the catalogue (name, parts, rule, the bug) and grade nothing.
    #[arg(long)]
    list: bool,

    /// The `grade` binary [default: the one beside this binary].
    #[arg(long, value_name = "FILE")]
    grader: Option<PathBuf>,
}

/// One trial to run: a mutant, or the control.
struct Job {
    name: String,
    mutant: Option<Mutant>,
    parts: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(problem) => {
            eprintln!("mutants: {problem}");
            ExitCode::from(4)
        }
    }
}

fn run(cli: &Cli) -> Result<bool, String> {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the mutants crate lies inside the reference tree")
        .to_path_buf();
    let catalogue = cli
        .catalogue
        .clone()
        .unwrap_or_else(|| reference.join("mutants/catalogue.toml"));
    let mutants = catalogue::load(&catalogue)?;
    if cli.list {
        for m in &mutants {
            println!(
                "{} [{}] ({}): {}",
                m.name,
                m.rule,
                m.parts.join(","),
                m.about
            );
        }
        return Ok(true);
    }
    let jobs = jobs(cli, mutants)?;
    let settings = Settings {
        grader: grader(cli)?,
        reports: reference.join(&cli.reports),
        reference,
        runs: cli.runs,
        jobs: cli.jobs.get(),
        timeout: cli.timeout,
    };
    eprintln!(
        "mutants: grading {} trials, {} at once; reports in {}",
        jobs.len(),
        cli.at_once,
        settings.reports.display()
    );
    let rows = grade_all(&settings, jobs, cli.at_once.get());
    print!("{}", table::render(&rows));
    Ok(rows.iter().all(Row::is_good))
}

/// The trials the command line asks for, the control first.
fn jobs(cli: &Cli, mutants: Vec<Mutant>) -> Result<Vec<Job>, String> {
    for name in &cli.names {
        if !mutants.iter().any(|m| &m.name == name) {
            return Err(format!("no mutant {name:?} in the catalogue"));
        }
    }
    let wanted_parts: Vec<String> = cli.parts.iter().map(|p| p.to_ascii_uppercase()).collect();
    let chosen: Vec<Mutant> = mutants
        .into_iter()
        .filter(|m| cli.names.is_empty() || cli.names.contains(&m.name))
        .filter(|m| wanted_parts.is_empty() || m.parts.iter().any(|p| wanted_parts.contains(p)))
        .collect();
    if chosen.is_empty() {
        return Err("no mutant matches the command line".into());
    }
    let mut jobs = Vec::new();
    if !cli.no_control {
        let mut parts: Vec<String> = chosen.iter().flat_map(|m| m.parts.clone()).collect();
        parts.sort();
        parts.dedup();
        jobs.push(Job {
            name: "(reference)".into(),
            mutant: None,
            parts,
        });
    }
    jobs.extend(chosen.into_iter().map(|m| Job {
        name: m.name.clone(),
        parts: m.parts.clone(),
        mutant: Some(m),
    }));
    Ok(jobs)
}

/// `--grader`, or `grade` beside this binary.
fn grader(cli: &Cli) -> Result<PathBuf, String> {
    let path = match &cli.grader {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this binary: {e}"))?
            .with_file_name("grade"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no grader at {} (build it: cargo build --release -p grading)",
            path.display()
        ))
    }
}

/// Runs the control alone first, so that no other trial's build shares
/// the machine with it (a build's disk and CPU load can stall a test
/// process for seconds), then the mutants, `at_once` at a time; returns
/// the rows in job order.
fn grade_all(settings: &Settings, jobs: Vec<Job>, at_once: usize) -> Vec<Row> {
    let (control, mutants): (Vec<Job>, Vec<Job>) =
        jobs.into_iter().partition(|j| j.mutant.is_none());
    let mut rows = grade_batch(settings, control, 1);
    rows.extend(grade_batch(settings, mutants, at_once));
    rows
}

/// Runs `jobs`, `at_once` at a time, and returns the rows in job order.
fn grade_batch(settings: &Settings, jobs: Vec<Job>, at_once: usize) -> Vec<Row> {
    let count = jobs.len();
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<VecDeque<_>>());
    let rows: Mutex<Vec<Option<Row>>> = Mutex::new((0..count).map(|_| None).collect());
    thread::scope(|s| {
        for _ in 0..at_once.min(count) {
            s.spawn(|| loop {
                let Some((at, job)) = queue.lock().expect("queue lock").pop_front() else {
                    return;
                };
                let verdict = trial::run(settings, &job.name, job.mutant.as_ref(), &job.parts);
                eprintln!("mutants: {} done: {}", job.name, summary(&verdict));
                rows.lock().expect("rows lock")[at] = Some(Row {
                    rule: job
                        .mutant
                        .as_ref()
                        .map_or(String::new(), |m| m.rule.clone()),
                    unobservable: job.mutant.as_ref().and_then(|m| m.unobservable.clone()),
                    expected: job
                        .mutant
                        .as_ref()
                        .map_or(Vec::new(), |m| m.catches.clone()),
                    control: job.mutant.is_none(),
                    name: job.name,
                    parts: job.parts,
                    verdict,
                });
            });
        }
    });
    let rows = rows.into_inner().expect("rows lock");
    rows.into_iter().flatten().collect()
}

/// A one-line progress note for a finished trial.
fn summary(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Graded(g) => match &g.first_failure {
            Some(first) => format!(
                "{}/{} points, {} of {} runs failed, first {} after {:.1} s: {}",
                g.score,
                g.max_score,
                g.failed_runs,
                g.runs,
                first.test,
                first.seconds,
                first.message.lines().next().unwrap_or("")
            ),
            None => format!("{}/{} points, no run failed", g.score, g.max_score),
        },
        Verdict::BuildFailed(first) => format!("build failed: {first}"),
        Verdict::PatchFailed(problem) | Verdict::GraderFailed(problem) => problem.clone(),
    }
}
