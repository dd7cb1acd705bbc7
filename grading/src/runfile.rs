//! Reading a file of a run's directory, which a judged process might have
//! replaced (without Landlock, a run's user may write there): opened
//! without following a symbolic link and without waiting (`O_NOFOLLOW |
//! O_NONBLOCK`, so a FIFO cannot block the grader), refused unless it is a
//! regular file, and read up to a cap.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The most the grader reads of any one file of a run (a run's output is
/// capped at 8 MiB and a line).
pub const CAP: u64 = 16 << 20;

/// Opens `path` for reading if it is a regular file (not a link, a FIFO,
/// a device or a directory).
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// The last `limit` bytes (at most [`CAP`]) of the regular file `path`, as
/// text.
pub fn read_end(path: &Path, limit: u64) -> io::Result<String> {
    let mut file = open_regular(path)?;
    let limit = limit.min(CAP);
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(limit)))?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The regular file `path`, up to [`CAP`] bytes, as text.
pub fn read_capped(path: &Path) -> io::Result<String> {
    let mut bytes = Vec::new();
    open_regular(path)?.take(CAP).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Copies up to [`CAP`] bytes of the regular file `from` to a new file `to`.
pub fn copy_capped(from: &Path, to: &Path) -> io::Result<()> {
    let mut source = open_regular(from)?.take(CAP);
    let mut target = File::create(to)?;
    io::copy(&mut source, &mut target)?;
    target.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_fifo_or_a_link_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo takes a string and a mode.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
        assert!(read_capped(&fifo).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read_end(&link, 10).is_err());
        let file = dir.path().join("file");
        fs::write(&file, "abcdef").unwrap();
        assert_eq!(read_end(&file, 3).unwrap(), "def");
        assert_eq!(read_capped(&file).unwrap(), "abcdef");
    }
}
