//! What can stop a run before it has a verdict.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A problem starting or waiting for a run, or installing the handlers
/// that stop runs.
#[derive(Debug)]
pub enum Error {
    /// A program could not be started or waited for.
    Spawn {
        /// The program.
        program: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// A file could not be read or written.
    Io {
        /// The path involved.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Any other problem, already worded for the user.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spawn { program, source } => write!(f, "cannot run {program}: {source}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

/// Attaches `path` to an I/O error: `.map_err(io_error(path))`.
pub fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Attaches the program's name to a failure to start it.
pub fn spawn_error(program: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Spawn {
        program: program.display().to_string(),
        source,
    }
}
