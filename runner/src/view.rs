//! `labs log FILE`: a failed run's events (the `.jsonl` file the tests
//! save) as per-peer columns on the terminal.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;

use clap::Args;
use runlog::columns::{self, Filter, Layout};

/// The width when neither `--width` nor `COLUMNS` says.
const DEFAULT_WIDTH: usize = 160;

/// The arguments of `labs log`.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// The events file (`...jsonl`) a failing test named.
    pub file: PathBuf,

    /// Only these peers' columns (e.g. `0,2`).
    #[arg(long, value_delimiter = ',')]
    pub peers: Option<Vec<usize>>,

    /// Only log lines of these topics (e.g. `election,replication`: the
    /// end of the log target); the harness's events always show.
    #[arg(long, value_delimiter = ',')]
    pub topics: Option<Vec<String>>,

    /// Only events from this many seconds into the test.
    #[arg(long)]
    pub from: Option<f64>,

    /// Only events up to this many seconds into the test.
    #[arg(long)]
    pub to: Option<f64>,

    /// The width to fill [default: $COLUMNS, else 160].
    #[arg(long)]
    pub width: Option<usize>,

    /// No colours (none either when the output is not a terminal).
    #[arg(long)]
    pub no_colour: bool,
}

/// Prints the file's events as columns.
pub fn log(args: &LogArgs) -> Result<(), String> {
    let file = File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let events = runlog::read_events(BufReader::new(file))
        .map_err(|e| format!("{}: {e}", args.file.display()))?;
    let filter = Filter {
        peers: args.peers.clone(),
        topics: args.topics.clone(),
        from: args.from,
        to: args.to,
    };
    let width = args.width.unwrap_or_else(|| {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(DEFAULT_WIDTH)
    });
    let layout = Layout {
        width,
        colour: !args.no_colour && std::io::stdout().is_terminal(),
    };
    print!("{}", columns::render(&events, &filter, &layout));
    Ok(())
}
