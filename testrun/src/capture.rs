//! A run's output, capped: the first and the last bytes of what it printed
//! are kept, with a line between them saying how much was cut.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};

/// How much of the start of a run's output is kept.
pub const KEPT_HEAD: usize = 4 << 20;
/// How much of the end of a run's output is kept.
pub const KEPT_TAIL: usize = 4 << 20;

/// Copies what `from` yields into `to` until it closes, keeping the first
/// `head` and the last `tail` bytes; returns how many bytes were cut from
/// between them.
pub fn capture(mut from: impl Read, mut to: File, head: usize, tail: usize) -> io::Result<u64> {
    let mut buffer = vec![0; 64 << 10];
    let mut written = 0;
    let mut last = VecDeque::new();
    let mut cut = 0u64;
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut chunk = &buffer[..read];
        if written < head {
            let first = chunk.len().min(head - written);
            to.write_all(&chunk[..first])?;
            written += first;
            chunk = &chunk[first..];
        }
        last.extend(chunk);
        if last.len() > tail {
            let over = last.len() - tail;
            last.drain(..over);
            cut += over as u64;
        }
    }
    if cut > 0 {
        writeln!(
            to,
            "\n[grade: {cut} bytes of output cut here; the first {head} and the last {tail} bytes are kept]"
        )?;
    }
    let (front, back) = last.as_slices();
    to.write_all(front)?;
    to.write_all(back)?;
    Ok(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(input: &[u8], head: usize, tail: usize) -> (String, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let cut = capture(input, File::create(&path).unwrap(), head, tail).unwrap();
        (std::fs::read_to_string(&path).unwrap(), cut)
    }

    #[test]
    fn short_output_is_kept_whole() {
        assert_eq!(captured(b"0123456789", 4, 6), ("0123456789".into(), 0));
    }

    #[test]
    fn long_output_keeps_its_head_and_tail() {
        let (text, cut) = captured(b"0123456789abcdef", 4, 3);
        assert_eq!(cut, 9);
        assert_eq!(
            text,
            "0123\n[grade: 9 bytes of output cut here; the first 4 and the last 3 bytes are kept]\ndef"
        );
    }
}
