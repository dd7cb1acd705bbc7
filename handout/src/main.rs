//! `handout`: builds and checks the student handout of raft-labs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use handout::{check, tree, Error};

#[derive(Parser)]
#[command(version, about = "Builds and checks the raft-labs student handout")]
struct Cli {
    /// The reference tree (default: the workspace around the current directory).
    #[arg(long, global = true)]
    source: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the student tree into a directory.
    Build {
        /// Where to write it; must not exist or be empty.
        #[arg(long)]
        out: PathBuf,
        /// Replace the output directory's contents if it is not empty.
        #[arg(long)]
        force: bool,
    },
    /// Build the handout in a scratch directory and check it: no marker or
    /// solution line left, compiles without warnings, clippy clean, its 2A
    /// tests fail fast, and the reference passes 2A.
    Check,
}

fn run(cli: Cli) -> Result<(), Error> {
    let source = match cli.source {
        Some(source) => source,
        None => check::find_reference_root()?,
    };
    match cli.command {
        Command::Build { out, force } => {
            let summary = tree::build(&source, &out, force)?;
            println!(
                "wrote {} files to {} ({} solution lines replaced by stubs, {} files left out)",
                summary.written.len(),
                out.display(),
                summary.solution.len(),
                summary.omitted.len()
            );
            Ok(())
        }
        Command::Check => check::check(&source),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("handout: {e}");
            ExitCode::FAILURE
        }
    }
}
