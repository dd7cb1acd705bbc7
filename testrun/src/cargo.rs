//! Reads `cargo --message-format=json`: which binaries a build made, and
//! its compiler errors.

use std::path::PathBuf;

use serde::Deserialize;

/// What a line of cargo's JSON output says, as far as a runner reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum CargoMessage {
    /// A target was compiled (or was fresh).
    Artifact {
        /// The target's name (`lab2a`, `judged`, `raft`).
        name: String,
        /// A test target, built as a test harness.
        test: bool,
        /// A binary target, built as a program.
        bin: bool,
        /// The executable, if the target has one.
        executable: Option<PathBuf>,
    },
    /// A compiler error, rendered as rustc prints it.
    Error(String),
}

/// The message of one line of output, or `None` for a line that says
/// nothing a runner reads (or is not cargo's).
pub fn parse(line: &str) -> Option<CargoMessage> {
    match serde_json::from_str::<CargoLine>(line).ok()? {
        CargoLine::CompilerArtifact {
            target,
            profile,
            executable,
        } => {
            let has = |kind: &str| target.kind.iter().any(|k| k == kind);
            Some(CargoMessage::Artifact {
                test: profile.test && has("test"),
                bin: !profile.test && has("bin"),
                name: target.name,
                executable,
            })
        }
        CargoLine::CompilerMessage { message } if message.level == "error" => Some(
            CargoMessage::Error(message.rendered.unwrap_or(message.message)),
        ),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
enum CargoLine {
    CompilerArtifact {
        target: Target,
        profile: Profile,
        executable: Option<PathBuf>,
    },
    CompilerMessage {
        message: Diagnostic,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Profile {
    test: bool,
}

#[derive(Deserialize)]
struct Diagnostic {
    level: String,
    message: String,
    rendered: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargos_messages() {
        let artifact = r#"{"reason":"compiler-artifact","package_id":"x","target":{"kind":["test"],"crate_types":["bin"],"name":"lab2a","src_path":"/t/tests/lab2a.rs"},"profile":{"opt_level":"3","debuginfo":1,"debug_assertions":false,"overflow_checks":false,"test":true},"features":[],"filenames":["/t/target/release/deps/lab2a-1"],"executable":"/t/target/release/deps/lab2a-1","fresh":false}"#;
        assert_eq!(
            parse(artifact),
            Some(CargoMessage::Artifact {
                name: "lab2a".into(),
                test: true,
                bin: false,
                executable: Some(PathBuf::from("/t/target/release/deps/lab2a-1")),
            })
        );
        let error = r#"{"reason":"compiler-message","package_id":"x","target":{},"message":{"level":"error","message":"mismatched types","rendered":"error[E0308]: mismatched types\n","code":null,"spans":[],"children":[]}}"#;
        assert_eq!(
            parse(error),
            Some(CargoMessage::Error(
                "error[E0308]: mismatched types\n".into()
            ))
        );
        let warning = r#"{"reason":"compiler-message","package_id":"x","target":{},"message":{"level":"warning","message":"unused","rendered":null,"code":null,"spans":[],"children":[]}}"#;
        assert_eq!(parse(warning), None);
        assert_eq!(parse(r#"{"reason":"build-finished","success":true}"#), None);
        assert_eq!(parse("Compiling raft"), None);
    }
}
