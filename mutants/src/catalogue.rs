//! The catalogue: `catalogue.toml`, one line per mutant, naming its patch
//! (`patches/<name>.patch`), the parts to grade it on, the rule it breaks
//! and the tests expected to catch it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use grading::parts::Part;
use serde::Deserialize;

/// One classic bug.
#[derive(Debug, Clone)]
pub struct Mutant {
    /// The key in the catalogue, and the patch's file name.
    pub name: String,
    /// The unified diff that plants the bug, applied with `patch -p1` at
    /// the root of a copy of the reference tree.
    pub patch: PathBuf,
    /// The parts it is graded on.
    pub parts: Vec<String>,
    /// The id of the rule it breaks (`tests/harness/rules.rs`); a failure
    /// it causes should name it among the likely causes.
    pub rule: String,
    /// The tests expected to catch it.
    pub catches: Vec<String>,
    /// The bug, in one sentence.
    pub about: String,
    /// Why no test can catch it every run, if so.
    pub unobservable: Option<String>,
}

/// A catalogue line as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    parts: Vec<String>,
    rule: String,
    #[serde(default)]
    catches: Vec<String>,
    about: String,
    unobservable: Option<String>,
}

/// Reads the catalogue at `path`; patches are looked up in `patches/`
/// beside it. Every problem is one line naming the mutant.
pub fn load(path: &Path) -> Result<Vec<Mutant>, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let lines: BTreeMap<String, Line> =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), one_line(&e)))?;
    let patches = path.parent().unwrap_or(Path::new(".")).join("patches");
    lines
        .into_iter()
        .map(|(name, line)| mutant(&patches, name, line))
        .collect()
}

fn mutant(patches: &Path, name: String, line: Line) -> Result<Mutant, String> {
    let patch = patches.join(format!("{name}.patch"));
    if !patch.is_file() {
        return Err(format!("mutant {name}: no patch at {}", patch.display()));
    }
    if line.parts.is_empty() {
        return Err(format!("mutant {name}: parts is empty"));
    }
    let mut parts = Vec::new();
    for part in &line.parts {
        let upper = part.to_ascii_uppercase();
        if !Part::ALL.iter().any(|p| p.name() == upper) {
            let names: Vec<&str> = Part::ALL.iter().map(|p| p.name()).collect();
            return Err(format!(
                "mutant {name}: unknown part {part:?} (parts are {})",
                names.join(", ")
            ));
        }
        parts.push(upper);
    }
    if line.catches.is_empty() && line.unobservable.is_none() {
        return Err(format!(
            "mutant {name}: name the tests that catch it (catches) or say why none can \
             (unobservable)"
        ));
    }
    Ok(Mutant {
        name,
        patch,
        parts,
        rule: line.rule,
        catches: line.catches,
        about: line.about,
        unobservable: line.unobservable,
    })
}

/// A TOML error's message on one line.
fn one_line(error: &toml::de::Error) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(text: &str, patches: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("patches")).unwrap();
        for name in patches {
            fs::write(dir.path().join(format!("patches/{name}.patch")), "").unwrap();
        }
        let path = dir.path().join("catalogue.toml");
        fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_line_is_a_mutant() {
        let (_dir, path) = catalogue(
            r#"vote-twice = { parts = ["2a"], rule = "vote-once", catches = ["one_vote_per_term"], about = "votes twice" }"#,
            &["vote-twice"],
        );
        let mutants = load(&path).unwrap();
        assert_eq!(mutants.len(), 1);
        assert_eq!(mutants[0].name, "vote-twice");
        assert_eq!(mutants[0].parts, ["2A"]);
        assert_eq!(mutants[0].catches, ["one_vote_per_term"]);
    }

    #[test]
    fn problems_name_the_mutant() {
        for (text, patches, expected) in [
            (
                r#"m = { parts = ["2A"], rule = "r", catches = ["t"], about = "a" }"#,
                &[][..],
                "mutant m: no patch",
            ),
            (
                r#"m = { parts = ["2F"], rule = "r", catches = ["t"], about = "a" }"#,
                &["m"],
                "mutant m: unknown part \"2F\"",
            ),
            (
                r#"m = { parts = ["2A"], rule = "r", about = "a" }"#,
                &["m"],
                "mutant m: name the tests",
            ),
            (
                r#"m = { parts = ["2A"], rule = "r", about = "a", colour = 1 }"#,
                &["m"],
                "unknown field",
            ),
        ] {
            let (_dir, path) = catalogue(text, patches);
            let error = load(&path).unwrap_err();
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
            assert!(!error.contains('\n'), "{error:?} is not one line");
        }
    }
}
