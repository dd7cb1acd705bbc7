//! The problems that stop a grading before it can score anything, each
//! printed as one line.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A problem that stops the grader (exit code [`crate::exit::ERROR`], or
/// [`crate::exit::INTERRUPTED`] for [`Error::Interrupted`]).
///
/// A submission that does not compile or fails its tests is *not* an
/// error: it is graded (score 0 for a build failure).
#[derive(Debug)]
pub enum Error {
    /// `--submission` names no directory.
    NoSubmission(PathBuf),
    /// The points table is unreadable, malformed, or does not match the
    /// tests.
    Points {
        /// The points table.
        file: PathBuf,
        /// What is wrong, in one line.
        message: String,
    },
    /// A file or directory could not be read or written.
    Io {
        /// The path involved.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A program (cargo, a test binary, kill) could not be started.
    Spawn {
        /// The program.
        program: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// Ctrl-C or SIGTERM stopped the grading (exit code
    /// [`crate::exit::INTERRUPTED`]).
    Interrupted,
    /// Any other problem, already worded for the user.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSubmission(dir) => {
                write!(f, "{}: no such submission directory", dir.display())
            }
            Error::Points { file, message } => write!(f, "{}: {message}", file.display()),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Spawn { program, source } => write!(f, "cannot run {program}: {source}"),
            Error::Interrupted => f.write_str("interrupted before any test ran"),
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

/// Attaches `path` to an I/O error: `.map_err(io_error(path))`.
pub fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| testrun::error::io_error(path)(source).into()
}

impl From<testrun::Error> for Error {
    fn from(error: testrun::Error) -> Error {
        match error {
            testrun::Error::Spawn { program, source } => Error::Spawn { program, source },
            testrun::Error::Io { path, source } => Error::Io { path, source },
            testrun::Error::Other(message) => Error::Other(message),
        }
    }
}
