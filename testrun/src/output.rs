//! Reads a run's output: the CPU its code used, and for a failed run the
//! network seed to replay it with and the message that says why it failed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::cpu::CpuUse;

/// How many lines of a panic message the failure message keeps.
const MESSAGE_LINES: usize = 8;

/// The last `limit` bytes of `path`, as text.
pub fn read_end(path: &Path, limit: u64) -> io::Result<String> {
    let mut file = File::open(path)?;
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(limit)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The network seed the run printed: the last `LABRPC_SEED=<n>`, else the
/// last `seed <n>` / `seed: <n>` / `seed=<n>`.
pub fn seed(output: &str) -> Option<u64> {
    last_number_after(output, "LABRPC_SEED=").or_else(|| {
        output
            .lines()
            .rev()
            .find_map(|line| seed_in(&line.to_ascii_lowercase()))
    })
}

fn seed_in(line: &str) -> Option<u64> {
    line.rmatch_indices("seed").find_map(|(at, word)| {
        let rest = line[at + word.len()..].trim_start_matches([' ', ':', '=']);
        number_at_start(rest)
    })
}

fn last_number_after(text: &str, marker: &str) -> Option<u64> {
    text.rmatch_indices(marker)
        .find_map(|(at, _)| number_at_start(&text[at + marker.len()..]))
}

fn number_at_start(text: &str) -> Option<u64> {
    let digits: &str = &text[..text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len())];
    digits.parse().ok()
}

/// The line a graded test's harness prints last (see
/// `tests/harness/session.rs`): `RAFT_LABS_CPU=<cpu seconds> <wall seconds>`.
const CPU_LINE: &str = "RAFT_LABS_CPU=";

/// The CPU the code under test used, from the run's last CPU line.
pub fn cpu(output: &str) -> Option<CpuUse> {
    let line = output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(CPU_LINE))?;
    let mut numbers = line.split_whitespace().map(str::parse::<f64>);
    let (Some(Ok(seconds)), Some(Ok(wall))) = (numbers.next(), numbers.next()) else {
        return None;
    };
    (seconds.is_finite() && wall.is_finite() && seconds >= 0.0 && wall >= 0.0)
        .then_some(CpuUse { seconds, wall })
}

/// Why the test failed, in the words of the first panic: `panicked at
/// <place>:` and the message lines after it. `None` when nothing panicked.
pub fn failure_message(output: &str) -> Option<String> {
    let mut lines = output.lines();
    let first = lines.by_ref().find(|line| line.contains("panicked at"))?;
    let place = first.split_once("panicked at ").map_or(first, |(_, p)| p);
    let place = place.trim_end_matches(':');
    let message: Vec<&str> = lines
        .filter(|line| !is_log_line(line))
        .take_while(|line| {
            !line.trim().is_empty()
                && !line.starts_with("note:")
                && !line.starts_with("stack backtrace:")
                && !line.starts_with("----")
        })
        .take(MESSAGE_LINES)
        .collect();
    Some(if message.is_empty() {
        format!("panicked at {place}")
    } else {
        format!("{} (at {place})", message.join("\n"))
    })
}

/// A line another thread logged in the middle of the panic message
/// (`[<time> <LEVEL> <target>] ...`).
fn is_log_line(line: &str) -> bool {
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .is_some_and(|(head, _)| head.contains(' '))
}

/// The last `lines` lines of `output`.
pub fn tail(output: &str, lines: usize) -> String {
    let all: Vec<&str> = output.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_cpu_line_counts_and_a_garbled_one_is_none() {
        let output = "RAFT_LABS_CPU=9 9\ntest x ... ok\nRAFT_LABS_CPU=0.250 5.000\n";
        assert_eq!(
            cpu(output),
            Some(CpuUse {
                seconds: 0.25,
                wall: 5.0
            })
        );
        assert_eq!(cpu("RAFT_LABS_CPU=lots 5"), None);
        assert_eq!(cpu("RAFT_LABS_CPU=-1 5"), None);
        assert_eq!(cpu("no line"), None);
    }

    #[test]
    fn the_end_of_a_long_output_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_end(&path, 4).unwrap(), "6789");
        assert_eq!(read_end(&path, 100).unwrap(), "0123456789");
    }

    const FAILED_RUN: &str = "\
running 1 test
Test (2A): election after network failure ...

thread 're_election' panicked at tests/lab2a.rs:40:9:
expected one leader, got none
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
---- Test (2A): election after network failure: FAILED after 5.2 s; replay with LABRPC_SEED=8741 ----
S0 T3 became candidate
test re_election ... FAILED
";

    #[test]
    fn finds_the_seed() {
        assert_eq!(seed(FAILED_RUN), Some(8741));
        assert_eq!(seed("Seed: 12\nnothing"), Some(12));
        assert_eq!(seed("network seed 7 then LABRPC_SEED=9"), Some(9));
        assert_eq!(seed("no seed here"), None);
        assert_eq!(seed("LABRPC_SEED=notanumber"), None);
    }

    #[test]
    fn finds_the_panic_message() {
        assert_eq!(
            failure_message(FAILED_RUN).as_deref(),
            Some("expected one leader, got none (at tests/lab2a.rs:40:9)")
        );
        assert_eq!(failure_message("test ok\n"), None);
        let interleaved = "thread 'x' panicked at a.rs:1:1:\nno leader\n[2026-11-28T07:48:28Z ERROR raft] S1 T2 lost\nwithin 5 s\nstack backtrace:\n   0: f";
        assert_eq!(
            failure_message(interleaved).as_deref(),
            Some("no leader\nwithin 5 s (at a.rs:1:1)")
        );
        assert_eq!(
            failure_message("thread 'x' panicked at a.rs:1:1:\n\nrest").as_deref(),
            Some("panicked at a.rs:1:1")
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
