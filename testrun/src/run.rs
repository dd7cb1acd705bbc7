//! Runs a command to its end, its standard output and error captured,
//! capped, into one file.

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::capture::{capture, KEPT_HEAD, KEPT_TAIL};
use crate::error::{io_error, Error};
use crate::supervise::{Ended, Supervised};

/// The variable naming the binary the harness starts each peer in.
pub const JUDGED_VAR: &str = "RAFT_LABS_JUDGED";

/// How long the output of a run that has ended may take to arrive.
const CAPTURE_GRACE: Duration = Duration::from_secs(5);

/// Runs `command` (the program `program`) as the leader of a new process
/// group, its standard output and error, capped, into `output`; kills the
/// whole group at `timeout`, and once the leader has exited, whatever is
/// left of the tree (see [`Supervised::wait`] for `tree`). Also returns
/// how many bytes of output were cut.
pub fn run_to_file(
    mut command: Command,
    program: &Path,
    output: &Path,
    timeout: Duration,
    tree: Option<&dyn Fn() -> Vec<u32>>,
) -> Result<(Ended, u64), Error> {
    let file = File::create(output).map_err(io_error(output))?;
    let (reader, writer) = io::pipe().map_err(io_error(output))?;
    let err = writer.try_clone().map_err(io_error(output))?;
    command.stdin(Stdio::null()).stdout(writer).stderr(err);
    let (sender, captured) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(capture(reader, file, KEPT_HEAD, KEPT_TAIL));
    });
    let (supervised, _) = Supervised::spawn(command, program)?;
    let ended = supervised.wait(timeout, tree)?;
    // Every writer is dead by now, unless one escaped (the runner could
    // not make itself a subreaper): then the output stops here.
    let cut = match captured.recv_timeout(CAPTURE_GRACE) {
        Ok(cut) => cut.map_err(io_error(output))?,
        Err(_) => 0,
    };
    Ok((ended, cut))
}
