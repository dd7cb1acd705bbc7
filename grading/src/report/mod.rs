//! The reports: rendered for standard output, and written into the report
//! directory after every finished run, so a grader that is killed still
//! leaves the results it had.
//!
//! The report directory holds:
//!
//! | file | what |
//! |---|---|
//! | `results.json` | the grader's own JSON ([`json`]) |
//! | `junit.xml` | JUnit XML ([`junit`]) |
//! | `gradescope/results.json` | Gradescope's results format ([`gradescope`]) |
//! | `runs/<part>-<test>-run<k>.log` | the full output of each failed run |

pub mod gradescope;
pub mod json;
pub mod junit;
pub mod table;

use std::fs;
use std::path::{Path, PathBuf};

use crate::cli::Format;
use crate::error::{io_error, Error};
use crate::grades::Grades;
use crate::parts::Part;

/// The grader's own JSON, in the report directory.
pub const OWN_JSON: &str = "results.json";
/// JUnit XML, in the report directory.
pub const JUNIT: &str = "junit.xml";
/// Gradescope's results, in the report directory.
pub const GRADESCOPE: &str = "gradescope/results.json";
/// The outputs of failed runs, in the report directory.
pub const RUNS: &str = "runs";

/// The report in `format`, for standard output.
pub fn render(format: Format, grades: &Grades) -> String {
    match format {
        Format::Text => table::render(grades),
        Format::Json => json::render(grades),
        Format::Junit => junit::render(grades),
        Format::Gradescope => gradescope::render(grades),
    }
}

/// Creates the report directory and its subdirectories.
pub fn create_dir(dir: &Path) -> Result<(), Error> {
    for sub in [dir.to_path_buf(), dir.join("gradescope"), dir.join(RUNS)] {
        fs::create_dir_all(&sub).map_err(io_error(&sub))?;
    }
    Ok(())
}

/// Writes the three reports into `dir`, each replacing the last one at
/// once (written aside, then renamed), so a reader never sees half a file.
pub fn write_all(dir: &Path, grades: &Grades) -> Result<(), Error> {
    for (name, text) in [
        (OWN_JSON, json::render(grades)),
        (JUNIT, junit::render(grades)),
        (GRADESCOPE, gradescope::render(grades)),
    ] {
        let path = dir.join(name);
        let aside = path.with_extension("partial");
        fs::write(&aside, text).map_err(io_error(&aside))?;
        fs::rename(&aside, &path).map_err(io_error(&path))?;
    }
    Ok(())
}

/// Where the output of a failed run is kept, relative to the report
/// directory.
pub fn run_log(part: Part, test: &str, run: u32) -> PathBuf {
    Path::new(RUNS).join(format!("{part}-{test}-run{run}.log"))
}
