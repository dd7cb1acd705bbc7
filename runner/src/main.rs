//! `labs`: runs tests of the labs many times, as parallel processes, and
//! prints which runs failed, with each failure's output file and the
//! command that replays it. See `labs --help`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use labs::cli::{Cli, Command};
use labs::{build, live, pool, select, summary, view};
use testrun::{groups, reaper};

/// Every run passed.
const ALL_PASSED: u8 = 0;
/// Some run failed or timed out.
const SOME_FAILED: u8 = 1;
/// Nothing ran: a bad argument, a build that failed, an I/O error.
const NOT_RUN: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("labs: {message}");
            ExitCode::from(NOT_RUN)
        }
    }
}

fn run(cli: &Cli) -> Result<u8, String> {
    if let Some(Command::Log(args)) = &cli.command {
        view::log(args)?;
        return Ok(ALL_PASSED);
    }
    groups::install_interrupt("labs").map_err(|e| e.to_string())?;
    reaper::become_subreaper().map_err(|e| e.to_string())?;
    let wanted = select::parse(&cli.what)?;
    let workspace = build::workspace()?;
    let targets = wanted.targets(&select::parts_of(&workspace)?)?;
    let built = build::build(&workspace, &targets)?;
    let chosen = select::choose(&wanted, &built.tests)?;
    let out = built.target_dir().join("labs").join(summary::stamp());
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let plan = pool::Plan {
        tests: &chosen,
        runs: cli.runs,
        jobs: cli.jobs,
        timeout: cli.timeout(),
        stop_on_failure: cli.stop_on_failure,
        cwd: &workspace,
        judged: &built.judged,
        out: &out,
    };
    let view = live::View::new(plan.total(), std::io::stderr().is_terminal());
    let results = pool::run(&plan, &view);
    view.finish();
    print!("{}", summary::table(&chosen, &results, &workspace));
    if groups::interrupted() {
        eprintln!("labs: interrupted: the table holds the runs that finished");
        return Ok(groups::INTERRUPTED_EXIT);
    }
    Ok(if results.iter().all(|r| r.passed()) {
        ALL_PASSED
    } else {
        SOME_FAILED
    })
}
