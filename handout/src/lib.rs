//! Generates the student handout from the raft-labs reference tree.
//!
//! Solution code in the reference sources is fenced by markers (see
//! [`markers`]); [`tree::build`] writes the student tree with every region
//! replaced by its stub, and [`check::check`] proves the result compiles
//! cleanly, fails its tests fast, and holds no solution line.

pub mod check;
pub mod markers;
pub mod tree;

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem that stops the generator, printed as one line.
#[derive(Debug)]
pub enum Error {
    /// A marker mistake in a reference file.
    Marker {
        /// The file, relative to the reference tree.
        file: PathBuf,
        /// The mistake and its line.
        error: markers::MarkerError,
    },
    /// A file or directory could not be read or written.
    Io {
        /// The path involved.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The output directory exists and holds files.
    OutputNotEmpty(PathBuf),
    /// Any other problem, already worded for the user.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Marker { file, error } => {
                write!(f, "{}:{}: {}", file.display(), error.line, error.message)
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::OutputNotEmpty(dir) => write!(
                f,
                "{}: the output directory exists and is not empty (pass --force to replace it)",
                dir.display()
            ),
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

/// Attaches `path` to an I/O error.
/// A command running the cargo that built this program.
pub(crate) fn cargo_command() -> std::process::Command {
    std::process::Command::new(env!("CARGO"))
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
