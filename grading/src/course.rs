//! A course: every subdirectory of `--submissions DIR` graded as a
//! student's submission, one after the other (they share the build cache,
//! so the dependencies are compiled once), each into `<report>/<student>/`;
//! and the course table of them all, written as `<report>/course.csv` and
//! printed: each student's points per part, flaky tests (passed some runs,
//! not all), timeouts and busy runs (the CPU flag).
//!
//! `<report>/course.json` records the plan, the shard and the students, so
//! that `grade merge` can put a course's shards together.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::Cli;
use crate::error::{io_error, Error};
use crate::grader::{self, Setup, Stamp};
use crate::grades::Grades;
use crate::parts::Part;
use crate::plan::Plan;
use crate::shard::Shard;

/// The course's stamp, in the report directory.
pub const STAMP: &str = "course.json";
/// The course table, in the report directory.
pub const TABLE: &str = "course.csv";

/// Where a course's grading belongs: its plan and shard, and every student
/// of the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CourseStamp {
    /// The plan's identity.
    pub plan: String,
    /// The official tests' version.
    pub tests_version: String,
    /// The shard this grading ran, if only one.
    pub shard: Option<Shard>,
    /// Every student of the plan, in order (a shard grades some of them).
    pub students: Vec<String>,
    /// Whether the grading of every student of the shard finished.
    pub finished: bool,
}

/// The students of `dir`: its subdirectories (not hidden), by name.
pub fn students(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut students = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !name.starts_with('.') {
            students.push((name, entry.path()));
        }
    }
    students.sort();
    if students.is_empty() {
        return Err(Error::Other(format!(
            "{}: no submissions (a subdirectory per student)",
            dir.display()
        )));
    }
    Ok(students)
}

/// Grades the course `cli.submissions` (only `shard`'s share of it, if
/// given) into `cli.report`: each student's grading, by name.
pub fn grade(
    cli: &Cli,
    shard: Option<Shard>,
    visible: bool,
) -> Result<Vec<(String, Grades)>, Error> {
    let (Some(dir), Some(root)) = (&cli.submissions, &cli.report) else {
        return Err(Error::Other("--submissions needs --report".into()));
    };
    let students = students(dir)?;
    let setup = Setup::new(cli)?;
    let names: Vec<String> = students.iter().map(|(name, _)| name.clone()).collect();
    let plan = Plan::new(cli, &setup.table, &setup.timings, names.clone())?;
    let share = plan.share(shard);
    let mut stamp = CourseStamp {
        plan: plan.id.clone(),
        tests_version: setup.tests_version.clone(),
        shard,
        students: names,
        finished: false,
    };
    fs::create_dir_all(root).map_err(io_error(root))?;
    let mut rows = Vec::new();
    for (index, (name, path)) in students.iter().enumerate() {
        if !share.has(index) {
            continue;
        }
        let mut one = cli.clone();
        one.submissions = None;
        one.submission = Some(path.clone());
        one.report = Some(root.join(name));
        let place = Stamp {
            plan: &plan.id,
            shard,
            share: &share,
            submission: index,
        };
        let grades = grader::grade_in(&one, &setup, place, visible)?;
        let finished = grades.finished;
        rows.push((name.clone(), grades));
        write(root, &stamp, &rows)?;
        if !finished {
            return Ok(rows);
        }
    }
    stamp.finished = true;
    write(root, &stamp, &rows)?;
    Ok(rows)
}

/// Reads the course stamp of the report directory `dir`.
pub fn read_stamp(dir: &Path) -> Result<CourseStamp, Error> {
    let path = dir.join(STAMP);
    let text = fs::read_to_string(&path).map_err(io_error(&path))?;
    let stamp: CourseStamp = serde_json::from_str(&text)
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    if let Some(shard) = stamp.shard {
        shard
            .checked()
            .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    }
    Ok(stamp)
}

/// Writes the course's stamp and table into `root`.
pub fn write(root: &Path, stamp: &CourseStamp, rows: &[(String, Grades)]) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(stamp).expect("the stamp serializes");
    for (name, text) in [(STAMP, json), (TABLE, csv(rows))] {
        let path = root.join(name);
        fs::write(&path, text).map_err(io_error(&path))?;
    }
    Ok(())
}

/// One student's row of the course table.
struct Row {
    student: String,
    parts: Vec<(Part, String)>,
    score: String,
    flaky: Vec<String>,
    timeouts: u32,
    busy: usize,
    note: &'static str,
}

impl Row {
    /// The student's points in `part`, if it was graded.
    fn cell(&self, part: Part) -> Option<&str> {
        self.parts
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, cell)| cell.as_str())
    }
}

fn row(student: &str, grades: &Grades) -> Row {
    let fraction = |score: f64, max: u32| format!("{}/{max}", points(score));
    Row {
        student: student.to_string(),
        parts: grades
            .parts
            .iter()
            .map(|&p| {
                (
                    p,
                    fraction(grades.score(Some(p)), grades.max_score(Some(p))),
                )
            })
            .collect(),
        score: fraction(grades.score(None), grades.max_score(None)),
        flaky: grades
            .tests
            .iter()
            .filter(|t| t.passed() > 0 && t.passed() < t.runs.len() as u32)
            .map(|t| format!("{} {}", t.part, t.name))
            .collect(),
        timeouts: grades.tests.iter().map(|t| t.timeouts()).sum(),
        busy: grades.tests.iter().map(|t| t.busy_runs()).sum(),
        note: if grades.build_errors().is_some() {
            "does not compile"
        } else if !grades.finished {
            "partial"
        } else if grades
            .tests
            .iter()
            .any(|t| t.planned.len() < grades.runs_per_test as usize)
        {
            "some runs in other shards"
        } else {
            ""
        },
    }
}

/// `5` for whole points, `3.33` otherwise.
fn points(points: f64) -> String {
    if points.fract() == 0.0 {
        format!("{points:.0}")
    } else {
        format!("{points:.2}")
    }
}

/// Every part graded for any student, in course order.
fn all_parts(rows: &[(String, Grades)]) -> Vec<Part> {
    let mut parts: Vec<Part> = rows.iter().flat_map(|(_, g)| g.parts.clone()).collect();
    parts.sort();
    parts.dedup();
    parts
}

/// The course table as CSV: a row per student; a part's cell is `points/max`.
pub fn csv(rows: &[(String, Grades)]) -> String {
    let parts = all_parts(rows);
    let mut out = String::from("student");
    for part in &parts {
        let _ = write!(out, ",{part}");
    }
    out.push_str(",score,flaky_tests,timeouts,busy_runs,note\n");
    for (student, grades) in rows {
        let row = row(student, grades);
        out.push_str(&quote(&row.student));
        for part in &parts {
            let cell = row.cell(*part).unwrap_or("");
            let _ = write!(out, ",{cell}");
        }
        let _ = writeln!(
            out,
            ",{},{},{},{},{}",
            row.score,
            quote(&row.flaky.join("; ")),
            row.timeouts,
            row.busy,
            row.note
        );
    }
    out
}

/// A CSV field, quoted when it must be.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// The course table for the terminal, then each student's flaky tests.
pub fn table(rows: &[(String, Grades)]) -> String {
    let parts = all_parts(rows);
    let rows: Vec<Row> = rows.iter().map(|(s, g)| row(s, g)).collect();
    let width = rows
        .iter()
        .map(|r| r.student.len())
        .chain(["student".len()])
        .max()
        .unwrap_or(7);
    let mut out = format!("{:<width$}", "student");
    for part in &parts {
        let _ = write!(out, "  {:>7}", part.name());
    }
    let _ = writeln!(
        out,
        "  {:>9}  {:>5}  {:>8}  {:>4}",
        "score", "flaky", "timeouts", "busy"
    );
    for row in &rows {
        let _ = write!(out, "{:<width$}", row.student);
        for part in &parts {
            let cell = row.cell(*part).unwrap_or("-");
            let _ = write!(out, "  {cell:>7}");
        }
        let _ = write!(
            out,
            "  {:>9}  {:>5}  {:>8}  {:>4}",
            row.score,
            row.flaky.len(),
            row.timeouts,
            row.busy
        );
        if !row.note.is_empty() {
            let _ = write!(out, "  {}", row.note);
        }
        out.push('\n');
    }
    for row in rows.iter().filter(|r| !r.flaky.is_empty()) {
        let _ = writeln!(out, "\nflaky for {}: {}", row.student, row.flaky.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grades::tests::sample;
    use crate::grades::{BuildStatus, CpuUse};
    use std::time::Duration;

    fn course() -> Vec<(String, Grades)> {
        let mut bob = sample();
        bob.tests[1].runs.iter_mut().for_each(|r| {
            r.outcome = crate::grades::Outcome::Passed;
            r.failure = None;
        });
        bob.tests[0].runs[0].cpu = Some(CpuUse {
            seconds: 9.0,
            wall: 3.0,
        });
        let mut carol = sample();
        carol.build = BuildStatus::Failed {
            duration: Duration::from_secs(2),
            errors: "error[E0308]".into(),
        };
        carol.tests.iter_mut().for_each(|t| t.runs.clear());
        vec![
            ("alice, a.".to_string(), sample()),
            ("bob".to_string(), bob),
            ("carol".to_string(), carol),
        ]
    }

    #[test]
    fn the_csv_has_a_row_per_student() {
        let text = csv(&course());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "student,2A,score,flaky_tests,timeouts,busy_runs,note"
        );
        assert_eq!(lines[1], "\"alice, a.\",5/15,5/15,2A re_election,1,0,");
        assert_eq!(lines[2], "bob,15/15,15/15,,0,1,");
        assert_eq!(lines[3], "carol,0/15,0/15,,0,0,does not compile");
        assert_eq!(lines.len(), 4);
        let mut split = course();
        split[1].1.tests[0].planned.pop();
        assert!(csv(&split)
            .lines()
            .nth(2)
            .unwrap()
            .ends_with(",some runs in other shards"));
    }

    #[test]
    fn the_table_shows_parts_flaky_timeouts_and_busy_runs() {
        let table = table(&course());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "student         2A      score  flaky  timeouts  busy"
        );
        assert_eq!(
            lines[1],
            "alice, a.     5/15       5/15      1         1     0"
        );
        assert_eq!(
            lines[2],
            "bob          15/15      15/15      0         0     1"
        );
        assert!(
            lines[3].ends_with("0/15      0         0     0  does not compile"),
            "{}",
            lines[3]
        );
        assert!(
            table.contains("\nflaky for alice, a.: 2A re_election\n"),
            "{table}"
        );
    }

    #[test]
    fn students_are_the_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["bob", "alice", ".git"] {
            fs::create_dir(dir.path().join(name)).unwrap();
        }
        fs::write(dir.path().join("README"), "not a student").unwrap();
        let names: Vec<String> = students(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(names, ["alice", "bob"]);
        let empty = tempfile::tempdir().unwrap();
        let error = students(empty.path()).unwrap_err().to_string();
        assert!(
            error.ends_with("no submissions (a subdirectory per student)"),
            "{error}"
        );
    }
}
