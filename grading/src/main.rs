//! `grade`: grades a raft-labs submission, or the reference tree.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use grading::cli::Cli;
use grading::error::Error;
use grading::{exit, grader, groups, reaper, report};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            // One line: clap's own first line, without the usage block.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad command line");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("grade: {first} (see grade --help)");
            return ExitCode::from(exit::USAGE);
        }
    };
    if let Err(error) = groups::install_interrupt().and_then(|()| reaper::become_subreaper()) {
        eprintln!("grade: {error}");
        return ExitCode::from(exit::ERROR);
    }
    match grader::grade(&cli, std::io::stdout().is_terminal()) {
        Ok(grades) => {
            print!("{}", report::render(cli.format, &grades));
            if !grades.finished {
                let finished: usize = grades.tests.iter().map(|t| t.runs.len()).sum();
                let all = grades.tests.len() * cli.runs as usize;
                eprintln!(
                    "grade: interrupted: {finished} of {all} runs finished; the results above and \
                     the reports hold only those"
                );
                return ExitCode::from(exit::INTERRUPTED);
            }
            ExitCode::from(if grades.build_errors().is_some() {
                exit::BUILD_FAILED
            } else if grades.full_marks() {
                exit::FULL_MARKS
            } else {
                exit::NOT_FULL_MARKS
            })
        }
        Err(error) => {
            eprintln!("grade: {error}");
            ExitCode::from(match error {
                Error::Interrupted => exit::INTERRUPTED,
                _ => exit::ERROR,
            })
        }
    }
}
