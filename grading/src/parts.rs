//! The lab parts and the test target that holds each part's tests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One lab part: 2A-2E (Raft) or 3A-3C (the KV service).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Part {
    /// Leader election.
    #[serde(rename = "2A")]
    P2A,
    /// Log replication.
    #[serde(rename = "2B")]
    P2B,
    /// Persistence.
    #[serde(rename = "2C")]
    P2C,
    /// Snapshots.
    #[serde(rename = "2D")]
    P2D,
    /// Membership changes (joint consensus).
    #[serde(rename = "2E")]
    P2E,
    /// The replicated KV service.
    #[serde(rename = "3A")]
    P3A,
    /// The KV service with snapshots.
    #[serde(rename = "3B")]
    P3B,
    /// Reads without log writes (ReadIndex).
    #[serde(rename = "3C")]
    P3C,
}

impl Part {
    /// Every part, in course order.
    pub const ALL: [Part; 8] = [
        Part::P2A,
        Part::P2B,
        Part::P2C,
        Part::P2D,
        Part::P2E,
        Part::P3A,
        Part::P3B,
        Part::P3C,
    ];

    /// The part's name as students know it: `2A`.
    pub fn name(self) -> &'static str {
        match self {
            Part::P2A => "2A",
            Part::P2B => "2B",
            Part::P2C => "2C",
            Part::P2D => "2D",
            Part::P2E => "2E",
            Part::P3A => "3A",
            Part::P3B => "3B",
            Part::P3C => "3C",
        }
    }

    /// The cargo test target of the part: `lab2a`.
    pub fn target(self) -> &'static str {
        match self {
            Part::P2A => "lab2a",
            Part::P2B => "lab2b",
            Part::P2C => "lab2c",
            Part::P2D => "lab2d",
            Part::P2E => "lab2e",
            Part::P3A => "lab3a",
            Part::P3B => "lab3b",
            Part::P3C => "lab3c",
        }
    }

    /// The part whose test target is `target`.
    pub fn from_target(target: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.target() == target)
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Part {
    type Err = String;

    /// Parses `2A` (or `2a`).
    fn from_str(text: &str) -> Result<Part, String> {
        Part::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Part::ALL.iter().map(|p| p.name()).collect();
                format!("unknown part `{text}` (the parts are {})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_targets_round_trip() {
        for part in Part::ALL {
            assert_eq!(part.name().parse::<Part>(), Ok(part));
            assert_eq!(part.name().to_lowercase().parse::<Part>(), Ok(part));
            assert_eq!(Part::from_target(part.target()), Some(part));
        }
    }

    #[test]
    fn unknown_part_names_the_valid_ones() {
        let error = "2F".parse::<Part>().unwrap_err();
        assert_eq!(
            error,
            "unknown part `2F` (the parts are 2A, 2B, 2C, 2D, 2E, 3A, 3B, 3C)"
        );
        assert_eq!(Part::from_target("lab4a"), None);
    }
}
