//! `grade merge`: the reports of a sharded grading's shards, checked to be
//! every shard of one plan exactly once, combined into the grading an
//! unsharded `grade` would have written: the same results.json, junit.xml,
//! gradescope/results.json and table, rendered by the same code.
//!
//! The merged grading's elapsed time is the longest shard's (the shards ran
//! side by side), its build time the longest build, its `jobs` the first
//! shard's.

use std::fs;
use std::path::{Path, PathBuf};

use crate::course::{self, CourseStamp};
use crate::error::{io_error, Error};
use crate::grades::{BuildStatus, Grades};
use crate::report;
use crate::shard::Shard;

/// What the shards were: one submission's grading, or a course's.
#[derive(Debug)]
pub enum Merged {
    /// One submission.
    One(Box<Grades>),
    /// A course: each student's name and grading.
    Course(Vec<(String, Grades)>),
}

/// What a shard's report says of where it belongs, for the checks.
struct Stamp<'a> {
    dir: &'a Path,
    shard: Option<Shard>,
    plan: &'a str,
    tests_version: &'a str,
    finished: bool,
}

/// Merges the shards' report directories `dirs`, writing the merged
/// reports into `out` if given.
pub fn merge(dirs: &[PathBuf], out: Option<&Path>) -> Result<Merged, Error> {
    if dirs.iter().any(|d| d.join(course::STAMP).is_file()) {
        return merge_course(dirs, out).map(Merged::Course);
    }
    let shards = dirs
        .iter()
        .map(|dir| {
            Ok((
                dir.clone(),
                report::json::read(&dir.join(report::OWN_JSON))?,
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    check_shards(
        &shards
            .iter()
            .map(|(dir, g)| stamp_of(dir, g))
            .collect::<Vec<_>>(),
    )?;
    let grades = combine(&shards)?;
    if let Some(out) = out {
        write(out, &shards, &grades)?;
    }
    Ok(Merged::One(Box::new(grades)))
}

fn stamp_of<'a>(dir: &'a Path, grades: &'a Grades) -> Stamp<'a> {
    Stamp {
        dir,
        shard: grades.shard,
        plan: &grades.plan,
        tests_version: &grades.tests_version,
        finished: grades.finished,
    }
}

/// A course's shards: each student merged from the shards that graded it.
fn merge_course(dirs: &[PathBuf], out: Option<&Path>) -> Result<Vec<(String, Grades)>, Error> {
    let stamps = dirs
        .iter()
        .map(|dir| course::read_stamp(dir))
        .collect::<Result<Vec<CourseStamp>, Error>>()?;
    let checked: Vec<Stamp<'_>> = dirs
        .iter()
        .zip(&stamps)
        .map(|(dir, s)| Stamp {
            dir,
            shard: s.shard,
            plan: &s.plan,
            tests_version: &s.tests_version,
            finished: s.finished,
        })
        .collect();
    check_shards(&checked)?;
    let mut rows = Vec::new();
    for student in &stamps[0].students {
        let shards = dirs
            .iter()
            .map(|dir| dir.join(student))
            .filter(|dir| dir.join(report::OWN_JSON).is_file())
            .map(|dir| {
                Ok((
                    dir.clone(),
                    report::json::read(&dir.join(report::OWN_JSON))?,
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if shards.is_empty() {
            return Err(Error::Other(format!(
                "no shard graded student {student} (given: {})",
                names(dirs.iter().map(PathBuf::as_path))
            )));
        }
        if let Some((dir, _)) = shards.iter().find(|(_, g)| g.plan != stamps[0].plan) {
            return Err(Error::Other(format!(
                "{}: graded in another plan than its course ({})",
                dir.display(),
                stamps[0].plan
            )));
        }
        let grades = combine(&shards)?;
        if let Some(out) = out {
            write(&out.join(student), &shards, &grades)?;
        }
        rows.push((student.clone(), grades));
    }
    if let Some(out) = out {
        let merged = CourseStamp {
            shard: None,
            finished: true,
            ..stamps[0].clone()
        };
        course::write(out, &merged, &rows)?;
    }
    Ok(rows)
}

/// The directories, for messages.
fn names<'a>(dirs: impl Iterator<Item = &'a Path>) -> String {
    dirs.map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses shards that are not every shard of one plan exactly once, each
/// finished.
fn check_shards(stamps: &[Stamp<'_>]) -> Result<(), Error> {
    let refuse = |message: String| Err(Error::Other(message));
    let first = &stamps[0];
    for stamp in stamps {
        let Some(shard) = stamp.shard else {
            return refuse(format!(
                "{}: not a shard's report (it was graded without --shard)",
                stamp.dir.display()
            ));
        };
        let first_shard = first.shard.expect("checked first");
        let pair = format!("{} and {}", first.dir.display(), stamp.dir.display());
        if stamp.plan != first.plan {
            return refuse(format!(
                "{pair} are shards of different plans ({} and {}): grade every shard with the same flags, points table and timings",
                first.plan, stamp.plan
            ));
        }
        if stamp.tests_version != first.tests_version {
            return refuse(format!(
                "{pair} ran different versions of the official tests ({} and {})",
                first.tests_version, stamp.tests_version
            ));
        }
        if shard.count != first_shard.count {
            return refuse(format!(
                "{} is shard {first_shard} but {} is shard {shard}",
                first.dir.display(),
                stamp.dir.display()
            ));
        }
        if !stamp.finished {
            return refuse(format!(
                "{}: shard {shard} did not finish (interrupted?): grade it again",
                stamp.dir.display()
            ));
        }
    }
    for (at, stamp) in stamps.iter().enumerate() {
        if let Some(twin) = stamps[..at].iter().find(|s| s.shard == stamp.shard) {
            return refuse(format!(
                "{} and {} are both shard {}",
                twin.dir.display(),
                stamp.dir.display(),
                stamp.shard.expect("checked")
            ));
        }
    }
    let count = first.shard.expect("checked").count;
    let missing: Vec<String> = (1..=count)
        .filter(|&index| {
            !stamps
                .iter()
                .any(|s| s.shard.is_some_and(|s| s.index == index))
        })
        .map(|index| format!("{index}/{count}"))
        .collect();
    if !missing.is_empty() {
        let (noun, verb) = if missing.len() == 1 {
            ("shard", "is")
        } else {
            ("shards", "are")
        };
        return refuse(format!(
            "{noun} {} {verb} missing (given: {})",
            missing.join(", "),
            names(stamps.iter().map(|s| s.dir))
        ));
    }
    Ok(())
}

/// One grading from the shards' gradings of one submission: every planned
/// run of every test run by exactly one of them.
fn combine(shards: &[(PathBuf, Grades)]) -> Result<Grades, Error> {
    let refuse = |message: String| Err(Error::Other(message));
    let mut merged = shards[0].1.clone();
    merged.shard = None;
    for test in &mut merged.tests {
        let mut owner: Vec<(u32, &Path)> = Vec::new();
        test.planned.clear();
        test.runs.clear();
        for (dir, grades) in shards {
            let Some(theirs) = grades
                .tests
                .iter()
                .find(|t| t.part == test.part && t.name == test.name)
            else {
                return refuse(format!(
                    "{} has no test {} {}",
                    dir.display(),
                    test.part,
                    test.name
                ));
            };
            for &run in &theirs.planned {
                if let Some((_, other)) = owner.iter().find(|(r, _)| *r == run) {
                    return refuse(format!(
                        "{} and {} both ran {} {} run {run}",
                        other.display(),
                        dir.display(),
                        test.part,
                        test.name
                    ));
                }
                owner.push((run, dir));
            }
            test.planned.extend(&theirs.planned);
            test.runs.extend(theirs.runs.iter().cloned());
        }
        test.planned.sort_unstable();
        test.runs.sort_by_key(|r| r.run);
        if let Some(run) = (1..=merged.runs_per_test).find(|r| !test.planned.contains(r)) {
            return refuse(format!(
                "no shard ran {} {} run {run} (given: {})",
                test.part,
                test.name,
                names(shards.iter().map(|(dir, _)| dir.as_path()))
            ));
        }
    }
    for (_, grades) in &shards[1..] {
        for note in &grades.notes {
            if !merged.notes.contains(note) {
                merged.notes.push(note.clone());
            }
        }
        merged.elapsed = merged.elapsed.max(grades.elapsed);
        merged.build = match (&merged.build, &grades.build) {
            (BuildStatus::Failed { .. }, _) => merged.build,
            (_, BuildStatus::Failed { .. }) => grades.build.clone(),
            (BuildStatus::Built(a), BuildStatus::Built(b)) => BuildStatus::Built(*a.max(b)),
        };
    }
    merged.finished = shards.iter().all(|(_, g)| g.finished);
    Ok(merged)
}

/// Writes the merged reports into `out`, with the shards' logs of failed
/// runs.
fn write(out: &Path, shards: &[(PathBuf, Grades)], grades: &Grades) -> Result<(), Error> {
    report::create_dir(out)?;
    for (dir, _) in shards {
        let runs = dir.join(report::RUNS);
        let Ok(entries) = fs::read_dir(&runs) else {
            continue;
        };
        for entry in entries {
            let from = entry.map_err(io_error(&runs))?.path();
            if let Some(name) = from.file_name().filter(|_| from.is_file()) {
                let to = out.join(report::RUNS).join(name);
                fs::copy(&from, &to).map_err(io_error(&to))?;
            }
        }
    }
    report::write_all(out, grades)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grades::tests::sample;

    /// `sample()`'s grading split into `count` shards by run number
    /// (run r in shard (r - 1) % count + 1), each written into its own
    /// directory under `root`.
    fn shard_dirs(root: &Path, count: u32) -> Vec<PathBuf> {
        let whole = sample();
        (1..=count)
            .map(|index| {
                let mut grades = whole.clone();
                grades.shard = Some(Shard::new(index, count).unwrap());
                for test in &mut grades.tests {
                    test.planned.retain(|r| (r - 1) % count + 1 == index);
                    test.runs.retain(|r| test.planned.contains(&r.run));
                }
                let dir = root.join(format!("shard{index}"));
                report::create_dir(&dir).unwrap();
                report::write_all(&dir, &grades).unwrap();
                dir
            })
            .collect()
    }

    fn merged(dirs: &[PathBuf]) -> Result<Grades, String> {
        match merge(dirs, None).map_err(|e| e.to_string())? {
            Merged::One(grades) => Ok(*grades),
            Merged::Course(_) => Err("a course".into()),
        }
    }

    #[test]
    fn the_shards_merge_into_the_unsharded_grading() {
        let root = tempfile::tempdir().unwrap();
        let dirs = shard_dirs(root.path(), 3);
        let out = root.path().join("merged");
        let Merged::One(grades) = merge(&dirs, Some(&out)).unwrap() else {
            panic!("not one submission");
        };
        let whole = sample();
        assert_eq!(report::json::render(&grades), report::json::render(&whole));
        assert_eq!(
            report::junit::render(&grades),
            report::junit::render(&whole)
        );
        assert_eq!(
            report::table::render(&grades),
            report::table::render(&whole)
        );
        let written = fs::read_to_string(out.join(report::GRADESCOPE)).unwrap();
        assert_eq!(written, report::gradescope::render(&whole));
    }

    /// Asserts that merging `dirs` is refused with a message holding each
    /// of `expected`, on one line.
    fn refused(dirs: &[PathBuf], expected: &[&str]) {
        let error = merged(dirs).unwrap_err();
        assert!(!error.contains('\n'), "{error}");
        for part in expected {
            assert!(error.contains(part), "{error:?} lacks {part:?}");
        }
    }

    fn show(dir: &Path) -> String {
        dir.display().to_string()
    }

    /// Rewrites the results.json of `dir` with `change` applied.
    fn rewrite(dir: &Path, change: impl FnOnce(&mut Grades)) {
        let path = dir.join(report::OWN_JSON);
        let mut grades = report::json::read(&path).unwrap();
        change(&mut grades);
        fs::write(&path, report::json::render(&grades)).unwrap();
    }

    #[test]
    fn a_missing_shard_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dirs = shard_dirs(root.path(), 3);
        refused(
            &[dirs[0].clone(), dirs[2].clone()],
            &["shard 2/3 is missing", &show(&dirs[0]), &show(&dirs[2])],
        );
        refused(&dirs[..1], &["shards 2/3, 3/3 are missing"]);
    }

    #[test]
    fn a_shard_given_twice_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dirs = shard_dirs(root.path(), 2);
        let twice = [dirs[0].clone(), dirs[1].clone(), dirs[0].clone()];
        refused(
            &twice,
            &[&format!(
                "{} and {} are both shard 1/2",
                show(&dirs[0]),
                show(&dirs[0])
            )],
        );
    }

    #[test]
    fn overlapping_shards_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dirs = shard_dirs(root.path(), 2);
        // Shard 2 claims run 1 of initial_election as well.
        rewrite(&dirs[1], |g| {
            let run = sample().tests[0].runs[0].clone();
            g.tests[0].planned.insert(0, 1);
            g.tests[0].runs.insert(0, run);
        });
        refused(
            &dirs,
            &[&format!(
                "{} and {} both ran 2A initial_election run 1",
                show(&dirs[0]),
                show(&dirs[1])
            )],
        );
    }

    #[test]
    fn an_uncovered_run_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dirs = shard_dirs(root.path(), 2);
        rewrite(&dirs[1], |g| {
            g.tests[1].planned.retain(|&r| r != 2);
            g.tests[1].runs.retain(|r| r.run != 2);
        });
        refused(&dirs, &["no shard ran 2A re_election run 2"]);
    }

    #[test]
    fn shards_of_other_plans_or_tests_or_counts_are_refused() {
        let root = tempfile::tempdir().unwrap();
        for (at, (change, expected)) in [
            (
                (|g: &mut Grades| g.plan = "other".into()) as fn(&mut Grades),
                "are shards of different plans (0123456789abcdef and other)",
            ),
            (
                |g| g.tests_version = "old".into(),
                "ran different versions of the official tests",
            ),
            (
                |g| g.shard = Some(Shard::new(2, 3).unwrap()),
                "is shard 1/2 but",
            ),
            (|g| g.shard = None, "not a shard's report"),
            (|g| g.finished = false, "shard 2/2 did not finish"),
        ]
        .into_iter()
        .enumerate()
        {
            let dirs = shard_dirs(&root.path().join(at.to_string()), 2);
            rewrite(&dirs[1], change);
            refused(&dirs, &[expected, &show(&dirs[1])]);
        }
    }

    #[test]
    fn an_unreadable_report_is_named() {
        let root = tempfile::tempdir().unwrap();
        let dirs = shard_dirs(root.path(), 2);
        fs::write(dirs[1].join(report::OWN_JSON), "{\"score\": ").unwrap();
        refused(
            &dirs,
            &[&show(&dirs[1].join(report::OWN_JSON)), "EOF while parsing"],
        );
        let nowhere = root.path().join("nowhere");
        refused(&[dirs[0].clone(), nowhere.clone()], &[&show(&nowhere)]);
    }
}
