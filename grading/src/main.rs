//! `grade`: grades a raft-labs submission, or the reference tree, or a
//! course of them, or one shard of that; `grade merge` combines shards.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use grading::cli::{Cli, Command, Format};
use grading::error::Error;
use grading::grades::Grades;
use grading::merge::{self, Merged};
use grading::{course, exit, grader, groups, reaper, report};

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
            return usage(first);
        }
    };
    if let Some(Command::Merge(args)) = &cli.command {
        return match merge::merge(&args.dirs, args.report.as_deref()) {
            Ok(Merged::One(grades)) => finish(args.format, &grades),
            Ok(Merged::Course(rows)) => {
                print!("{}", course::table(&rows));
                ExitCode::from(exit::FULL_MARKS)
            }
            Err(error) => failed(error),
        };
    }
    let shard = match cli
        .shard
        .map(|s| s.resolve(|name| std::env::var(name).ok()))
    {
        Some(Err(message)) => return usage(&message),
        Some(Ok(shard)) => Some(shard),
        None => None,
    };
    if let Err(error) = groups::install_interrupt("grade").and_then(|()| reaper::become_subreaper())
    {
        return failed(error.into());
    }
    let visible = std::io::stdout().is_terminal();
    if cli.submissions.is_some() {
        return match course::grade(&cli, shard, visible) {
            Ok(rows) => {
                print!("{}", course::table(&rows));
                if rows.last().is_some_and(|(_, g)| !g.finished) {
                    eprintln!(
                        "grade: interrupted: the course table holds the students graded so far"
                    );
                    return ExitCode::from(exit::INTERRUPTED);
                }
                ExitCode::from(exit::FULL_MARKS)
            }
            Err(error) => failed(error),
        };
    }
    match grader::grade(&cli, shard, visible) {
        Ok(grades) => finish(cli.format, &grades),
        Err(error) => failed(error),
    }
}

/// A bad command line, in one line.
fn usage(message: &str) -> ExitCode {
    eprintln!("grade: {message} (see grade --help)");
    ExitCode::from(exit::USAGE)
}

/// A grading that could not be done, in one line.
fn failed(error: Error) -> ExitCode {
    eprintln!("grade: {error}");
    ExitCode::from(match error {
        Error::Interrupted => exit::INTERRUPTED,
        _ => exit::ERROR,
    })
}

/// Prints a grading in `format` and exits as it went.
fn finish(format: Format, grades: &Grades) -> ExitCode {
    print!("{}", report::render(format, grades));
    if !grades.finished {
        let (all, finished) = grades.run_counts();
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
