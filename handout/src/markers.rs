//! The solution markers in a reference source file, and the handout text
//! they produce.
//!
//! ```text
//! // @solution 2A
//! let votes = count_votes(&replies);      <- solution, removed
//! // @stub
//! //> // Your code here (2A).              <- stub, kept without "//> "
//! //> unimplemented_part("2A")
//! // @end
//! ```
//!
//! A file whose first line is `// @solution-file 2A` is solution as a whole
//! and is left out of the handout.

use std::fmt;

/// The lab parts a region can belong to.
pub const PARTS: [&str; 8] = ["2A", "2B", "2C", "2D", "2E", "3A", "3B", "3C"];

const BEGIN: &str = "// @solution ";
const WHOLE_FILE: &str = "// @solution-file ";
const STUB: &str = "// @stub";
const END: &str = "// @end";
const STUB_LINE: &str = "//>";

/// A marker mistake, at a 1-based line of the file being processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for MarkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What becomes of one reference file in the handout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file is solution as a whole: leave it out.
    Omit {
        /// The part named by the whole-file marker.
        part: String,
    },
    /// The handout text, and every solution line that was removed.
    Keep {
        /// The file with each region replaced by its stub.
        text: String,
        /// The removed solution lines, with their 1-based line numbers.
        solution: Vec<(usize, String)>,
    },
}

enum Section {
    Outside,
    Solution { begun: usize },
    Stub { begun: usize },
}

/// Replaces every marked region of `source` by its stub.
pub fn process(source: &str) -> Result<Outcome, MarkerError> {
    if let Some(first) = source.lines().next() {
        if let Some(part) = first.trim().strip_prefix(WHOLE_FILE) {
            return Ok(Outcome::Omit {
                part: check_part(part.trim(), 1)?.to_string(),
            });
        }
    }
    let mut text = String::with_capacity(source.len());
    let mut solution = Vec::new();
    let mut section = Section::Outside;
    for (index, line) in source.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let trimmed = trimmed.trim_end();
        section = match (section, marker(trimmed)) {
            (Section::Outside, Some(Marker::Begin(part))) => {
                check_part(part, number)?;
                Section::Solution { begun: number }
            }
            (Section::Outside, Some(Marker::WholeFile)) => {
                return Err(error(number, "`// @solution-file` must be the first line of the file"))
            }
            (Section::Outside, Some(other)) => {
                return Err(error(number, &format!("{} outside a solution region", other.name())))
            }
            (Section::Outside, None) => {
                text.push_str(line);
                text.push('\n');
                Section::Outside
            }
            (Section::Solution { begun }, Some(Marker::Begin(_) | Marker::WholeFile))
            | (Section::Stub { begun }, Some(Marker::Begin(_) | Marker::WholeFile)) => {
                return Err(error(
                    number,
                    &format!("a solution region begins inside the region begun at line {begun}; regions do not nest"),
                ))
            }
            (Section::Solution { begun }, Some(Marker::Stub)) => Section::Stub { begun },
            (Section::Solution { begun }, Some(Marker::End)) => {
                return Err(error(
                    number,
                    &format!("the region begun at line {begun} ends without a `// @stub` section"),
                ))
            }
            (Section::Solution { begun }, None) => {
                if !trimmed.is_empty() {
                    solution.push((number, trimmed.to_string()));
                }
                Section::Solution { begun }
            }
            (Section::Stub { begun }, Some(Marker::Stub)) => {
                return Err(error(
                    number,
                    &format!("a second `// @stub` in the region begun at line {begun}"),
                ))
            }
            (Section::Stub { .. }, Some(Marker::End)) => Section::Outside,
            (Section::Stub { begun }, None) => {
                let Some(stub) = trimmed.strip_prefix(STUB_LINE) else {
                    return Err(error(
                        number,
                        &format!("a stub line must start with `//>` (in the region begun at line {begun})"),
                    ));
                };
                let stub = stub.strip_prefix(' ').unwrap_or(stub);
                if !stub.is_empty() {
                    text.push_str(indent);
                    text.push_str(stub);
                }
                text.push('\n');
                Section::Stub { begun }
            }
        };
    }
    match section {
        Section::Outside => Ok(Outcome::Keep { text, solution }),
        Section::Solution { begun } | Section::Stub { begun } => Err(error(
            begun,
            "this solution region is never closed with `// @end`",
        )),
    }
}

/// Whether `text` still holds a marker (a handout must hold none).
pub fn has_marker(text: &str) -> bool {
    text.lines().any(|line| marker(line.trim()).is_some())
}

enum Marker<'a> {
    Begin(&'a str),
    WholeFile,
    Stub,
    End,
}

impl Marker<'_> {
    fn name(&self) -> &'static str {
        match self {
            Marker::Begin(_) => "`// @solution`",
            Marker::WholeFile => "`// @solution-file`",
            Marker::Stub => "`// @stub`",
            Marker::End => "`// @end`",
        }
    }
}

fn marker(trimmed: &str) -> Option<Marker<'_>> {
    if trimmed.starts_with(WHOLE_FILE) {
        Some(Marker::WholeFile)
    } else if let Some(part) = trimmed.strip_prefix(BEGIN) {
        Some(Marker::Begin(part.trim()))
    } else if trimmed == STUB {
        Some(Marker::Stub)
    } else if trimmed == END {
        Some(Marker::End)
    } else {
        None
    }
}

fn check_part(part: &str, line: usize) -> Result<&str, MarkerError> {
    if PARTS.contains(&part) {
        Ok(part)
    } else {
        Err(error(
            line,
            &format!("unknown part {part:?}; the parts are {}", PARTS.join(", ")),
        ))
    }
}

fn error(line: usize, message: &str) -> MarkerError {
    MarkerError {
        line,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(source: &str) -> (String, Vec<(usize, String)>) {
        match process(source).unwrap() {
            Outcome::Keep { text, solution } => (text, solution),
            other => panic!("expected Keep, got {other:?}"),
        }
    }

    fn failure(source: &str) -> MarkerError {
        process(source).unwrap_err()
    }

    #[test]
    fn regions_become_their_stubs() {
        let source = "fn a() -> u32 {\n    // @solution 2A\n    let x = 41;\n    x + 1\n    // @stub\n    //> // Your code here (2A).\n    //>\n    //> todo_2a()\n    // @end\n}\n// @solution 2B\nfn helper() {}\n// @stub\n// @end\nfn b() {}\n";
        let (text, solution) = kept(source);
        assert_eq!(
            text,
            "fn a() -> u32 {\n    // Your code here (2A).\n\n    todo_2a()\n}\nfn b() {}\n"
        );
        assert_eq!(
            solution,
            vec![
                (3, "let x = 41;".to_string()),
                (4, "x + 1".to_string()),
                (12, "fn helper() {}".to_string())
            ]
        );
        assert!(!has_marker(&text));
    }

    #[test]
    fn a_whole_file_marker_omits_the_file() {
        assert_eq!(
            process("// @solution-file 2C\nfn x() {}\n").unwrap(),
            Outcome::Omit { part: "2C".into() }
        );
    }

    #[test]
    fn unclosed_region_names_where_it_began() {
        let err = failure("a\n// @solution 2A\nb\n// @stub\n//> c\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("never closed"), "{err}");
    }

    #[test]
    fn nested_regions_are_refused() {
        let err = failure("// @solution 2A\n// @solution 2B\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("do not nest"), "{err}");
    }

    #[test]
    fn unknown_part_is_refused() {
        let err = failure("// @solution 2F\n// @stub\n// @end\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("unknown part \"2F\""), "{err}");
        assert_eq!(failure("// @solution-file 4A\n").line, 1);
    }

    #[test]
    fn region_without_a_stub_is_refused() {
        let err = failure("x\n// @solution 3A\ny\n// @end\n");
        assert_eq!(err.line, 4);
        assert!(err.message.contains("without a `// @stub`"), "{err}");
    }

    #[test]
    fn stray_and_malformed_markers_are_refused() {
        assert!(failure("// @end\n").message.contains("outside"));
        assert!(failure("// @stub\n").message.contains("outside"));
        assert!(failure("x\n// @solution-file 2A\n")
            .message
            .contains("first line"));
        let err = failure("// @solution 2A\n// @stub\nplain code\n// @end\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("must start with `//>`"), "{err}");
        assert!(failure("// @solution 2A\n// @stub\n// @stub\n// @end\n")
            .message
            .contains("second"));
    }
}
