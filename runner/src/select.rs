//! Which tests to run: parts (`2C`) and test names (`re_election`), checked
//! against the test binaries the build made.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the command line asked for, before the build.
#[derive(Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Whether `all` was given: every part of the tree.
    pub all: bool,
    /// Parts, upper case (`2C`).
    pub parts: Vec<String>,
    /// Test names, as given.
    pub tests: Vec<String>,
}

impl Wanted {
    /// The test targets to build, given the parts the tree has: each wanted
    /// part's (`lab2c`), or every part's when a test is named (it may be in
    /// any part).
    pub fn targets(&self, parts: &[String]) -> Result<Vec<String>, String> {
        if let Some(part) = self.parts.iter().find(|p| !parts.contains(p)) {
            return Err(format!(
                "there is no part {part}: the parts are {}",
                parts.join(", ")
            ));
        }
        let building = if self.tests.is_empty() && !self.all {
            &self.parts
        } else {
            parts
        };
        Ok(building.iter().map(|part| target_of(part)).collect())
    }
}

/// The parts of the tree at `workspace`, from its test files
/// (`tests/lab2a.rs` is part 2A), in order.
pub fn parts_of(workspace: &Path) -> Result<Vec<String>, String> {
    let tests = workspace.join("tests");
    let entries = fs::read_dir(&tests).map_err(|e| format!("{}: {e}", tests.display()))?;
    let mut parts: Vec<String> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let part = name.strip_prefix("lab")?.strip_suffix(".rs")?;
            Some(part.to_ascii_uppercase())
        })
        .collect();
    parts.sort();
    Ok(parts)
}

/// One test to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Its part (`2C`).
    pub part: String,
    /// Its test target (`lab2c`).
    pub target: String,
    /// Its exact name.
    pub test: String,
    /// The test binary.
    pub binary: PathBuf,
}

/// Sorts each argument into `all` (every part), a part (a digit and a
/// letter: `2c`, `3A`) or a test name (letters, digits and `_`).
pub fn parse(what: &[String]) -> Result<Wanted, String> {
    let mut wanted = Wanted {
        all: false,
        parts: Vec::new(),
        tests: Vec::new(),
    };
    for item in what {
        let bytes = item.as_bytes();
        if item.eq_ignore_ascii_case("all") {
            wanted.all = true;
        } else if bytes.len() == 2 && bytes[0].is_ascii_digit() && bytes[1].is_ascii_alphabetic() {
            wanted.parts.push(item.to_ascii_uppercase());
        } else if !item.is_empty()
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
        {
            wanted.tests.push(item.clone());
        } else {
            return Err(format!(
                "`{item}` is neither `all`, a part (2A, 3C) nor a test name (initial_election)"
            ));
        }
    }
    Ok(wanted)
}

/// The test target of a part: `2C` is `lab2c`.
fn target_of(part: &str) -> String {
    format!("lab{}", part.to_ascii_lowercase())
}

/// The tests `wanted` names, in the order of the parts and of each part's
/// listing, each once; `binaries` maps each built test target to its
/// binary.
pub fn choose(
    wanted: &Wanted,
    binaries: &BTreeMap<String, PathBuf>,
) -> Result<Vec<Chosen>, String> {
    let mut listings = Vec::new();
    for (target, binary) in binaries {
        let Some(part) = target.strip_prefix("lab") else {
            continue;
        };
        listings.push((part.to_ascii_uppercase(), target, binary, list(binary)?));
    }
    for test in &wanted.tests {
        if !listings.iter().any(|(.., tests)| tests.contains(test)) {
            return Err(unknown_test(test, &listings));
        }
    }
    let mut chosen = Vec::new();
    for (part, target, binary, tests) in &listings {
        let whole = wanted.all || wanted.parts.contains(part);
        for test in tests.iter().filter(|t| whole || wanted.tests.contains(t)) {
            chosen.push(Chosen {
                part: part.clone(),
                target: target.to_string(),
                test: test.clone(),
                binary: binary.to_path_buf(),
            });
        }
    }
    Ok(chosen)
}

/// Says that no part has the test `test`, suggesting the names that
/// contain it.
fn unknown_test(test: &str, listings: &[(String, &String, &PathBuf, Vec<String>)]) -> String {
    let near: Vec<String> = listings
        .iter()
        .flat_map(|(part, _, _, tests)| {
            tests
                .iter()
                .filter(|t| t.contains(test))
                .map(move |t| format!("{t} ({part})"))
        })
        .take(8)
        .collect();
    if near.is_empty() {
        format!("no part has a test named `{test}` (`cargo test --release -- --list` lists them)")
    } else {
        format!(
            "no part has a test named `{test}`; did you mean {}?",
            near.join(", ")
        )
    }
}

/// The tests of a test binary, in its order (`--list --format terse`).
fn list(binary: &Path) -> Result<Vec<String>, String> {
    let output = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} --list failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parts_and_tests_are_told_apart() {
        let wanted = parse(&strings(&["2c", "re_election", "3A"])).unwrap();
        assert_eq!(wanted.parts, ["2C", "3A"]);
        assert_eq!(wanted.tests, ["re_election"]);
        let tree = strings(&["2A", "2B", "2C", "2D", "3A"]);
        let every = strings(&["lab2a", "lab2b", "lab2c", "lab2d", "lab3a"]);
        assert_eq!(wanted.targets(&tree).unwrap(), every);
        let parts = parse(&strings(&["2B", "2D"])).unwrap();
        assert_eq!(parts.targets(&tree).unwrap(), strings(&["lab2b", "lab2d"]));
        assert_eq!(
            parse(&strings(&["2F"]))
                .unwrap()
                .targets(&tree)
                .unwrap_err(),
            "there is no part 2F: the parts are 2A, 2B, 2C, 2D, 3A"
        );
        assert!(parse(&strings(&["lab2a::x"]))
            .unwrap_err()
            .contains("`lab2a::x`"));
        assert!(parse(&strings(&[""])).is_err());
        let all = parse(&strings(&["ALL", "re_election"])).unwrap();
        assert!(all.all);
        assert_eq!(all.targets(&tree).unwrap(), every);
    }

    /// Two fake test binaries: lab2a with two tests, lab2b with one.
    fn binaries(dir: &Path) -> BTreeMap<String, PathBuf> {
        let mut binaries = BTreeMap::new();
        for (target, tests) in [
            ("lab2a", "initial_election re_election"),
            ("lab2b", "basic_agree"),
        ] {
            let path = dir.join(target);
            let script = format!("#!/bin/sh\nfor t in {tests}; do echo \"$t: test\"; done\n");
            fs::write(&path, script).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            binaries.insert(target.to_string(), path);
        }
        binaries
    }

    #[test]
    fn the_parts_are_the_test_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("tests")).unwrap();
        for file in ["lab2b.rs", "lab2a.rs", "harness", "judged_rpc.rs"] {
            fs::write(dir.path().join("tests").join(file), "").unwrap();
        }
        assert_eq!(parts_of(dir.path()).unwrap(), ["2A", "2B"]);
        assert!(parts_of(&dir.path().join("none")).is_err());
    }

    fn names(chosen: &[Chosen]) -> Vec<String> {
        chosen
            .iter()
            .map(|c| format!("{}/{}", c.part, c.test))
            .collect()
    }

    #[test]
    fn parts_and_tests_are_found_in_the_listings() {
        let _turn = crate::SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let binaries = binaries(dir.path());
        let chosen = choose(&parse(&strings(&["2A"])).unwrap(), &binaries).unwrap();
        assert_eq!(names(&chosen), ["2A/initial_election", "2A/re_election"]);
        let chosen = choose(
            &parse(&strings(&["basic_agree", "2A", "re_election"])).unwrap(),
            &binaries,
        )
        .unwrap();
        assert_eq!(
            names(&chosen),
            ["2A/initial_election", "2A/re_election", "2B/basic_agree"]
        );
        assert_eq!(chosen[2].binary, dir.path().join("lab2b"));
        let every = choose(&parse(&strings(&["all"])).unwrap(), &binaries).unwrap();
        assert_eq!(
            names(&every),
            ["2A/initial_election", "2A/re_election", "2B/basic_agree"]
        );
    }

    #[test]
    fn unknown_tests_are_named() {
        let _turn = crate::SWEEPS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let binaries = binaries(dir.path());
        assert_eq!(
            choose(&parse(&strings(&["election"])).unwrap(), &binaries).unwrap_err(),
            "no part has a test named `election`; did you mean initial_election (2A), re_election (2A)?"
        );
        assert!(choose(&parse(&strings(&["nothing"])).unwrap(), &binaries)
            .unwrap_err()
            .contains("--list"));
    }
}
