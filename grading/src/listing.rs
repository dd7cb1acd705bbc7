//! A part's test binary's list of tests, checked against the points table.
//! The official tests are the same in every tree, so when the reference
//! tree lists other tests than the table names, the table is wrong (an
//! instructor's error); when a submission's binary does, or its listing
//! fails, the submission tampered with it (its code runs in the binary),
//! and the part is its failure.

use crate::error::Error;
use crate::parts::Part;
use crate::points::PointsTable;

/// What a part's binary listed.
#[derive(Debug, PartialEq, Eq)]
pub enum Listing {
    /// The tests the table names, in the binary's order, with their points.
    Official(Vec<(String, u32)>),
    /// Not the official tests: why, in one line.
    Foreign(String),
}

/// Checks what the binary of `part` listed (`listed`: its tests, or why
/// listing them failed) against `table`. For a submission (`submission`)
/// a mismatch is a [`Listing::Foreign`]; for the reference tree, an error.
pub fn check(
    part: Part,
    listed: Result<Vec<String>, Error>,
    table: &PointsTable,
    submission: bool,
) -> Result<Listing, Error> {
    if !submission {
        return table.match_tests(part, &listed?).map(Listing::Official);
    }
    let names = match listed {
        Ok(names) => names,
        Err(error) => {
            return Ok(Listing::Foreign(format!(
                "{} is not the official test binary: listing its tests failed: {error}",
                part.target()
            )))
        }
    };
    Ok(match table.match_tests(part, &names) {
        Ok(tests) => Listing::Official(tests),
        Err(_) => Listing::Foreign(foreign(part, &names, table)),
    })
}

/// The one-line message for a binary of `part` that listed `names`.
fn foreign(part: Part, names: &[String], table: &PointsTable) -> String {
    let official: Vec<&str> = table
        .tests(part)
        .map(|t| t.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let extra: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !official.contains(n))
        .collect();
    let missing: Vec<&str> = official
        .iter()
        .copied()
        .filter(|o| !names.iter().any(|n| n == o))
        .collect();
    let mut message = format!(
        "{} is not the official test binary: it listed {}",
        part.target(),
        if names.is_empty() {
            "no tests".to_string()
        } else {
            names.join(", ")
        }
    );
    if !extra.is_empty() {
        message.push_str(&format!("; not official: {}", extra.join(", ")));
    }
    if !missing.is_empty() {
        message.push_str(&format!("; missing: {}", missing.join(", ")));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn table() -> PointsTable {
        PointsTable::parse(Path::new("points.toml"), "[2A]\na = 1\nb = 2\n").unwrap()
    }

    fn names(list: &[&str]) -> Result<Vec<String>, Error> {
        Ok(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn the_official_list_gets_its_points() {
        assert_eq!(
            check(Part::P2A, names(&["b", "a"]), &table(), true).unwrap(),
            Listing::Official(vec![("b".into(), 2), ("a".into(), 1)])
        );
    }

    #[test]
    fn a_submissions_foreign_list_is_named() {
        assert_eq!(
            check(Part::P2A, names(&["a", "ghost"]), &table(), true).unwrap(),
            Listing::Foreign(
                "lab2a is not the official test binary: it listed a, ghost; not official: ghost; missing: b"
                    .into()
            )
        );
        let failed = check(
            Part::P2A,
            Err(Error::Other("exit 3".into())),
            &table(),
            true,
        );
        assert_eq!(
            failed.unwrap(),
            Listing::Foreign(
                "lab2a is not the official test binary: listing its tests failed: exit 3".into()
            )
        );
    }

    #[test]
    fn the_references_mismatch_is_the_tables_error() {
        let error = check(Part::P2A, names(&["a"]), &table(), false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "points.toml: [2A] names test `b`, which lab2a does not have (its tests: a)"
        );
    }
}
