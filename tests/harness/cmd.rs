//! The commands tests submit to Raft, and how they travel as bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::protocol::Members;

/// A command a test submits through `Raft::start`.
///
/// Tests put integers (most scenarios) or strings (the RPC byte count);
/// Raft sees only bytes: the postcard encoding of this enum, a variant tag
/// then the value. `Cmd::Int(101)` travels as 2 bytes, `Cmd::Text(s)` as a
/// tag, a length and the UTF-8 of `s`. Bytes that do not decode as a `Cmd`
/// were never submitted by a test, so an applier that sees them reports
/// that Raft corrupted or invented a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// An integer command, e.g. `101` in `cfg.one(101, 3, false)`.
    Int(u64),
    /// A string command, e.g. the 5000-character payloads of the byte count.
    Text(String),
    /// Not a command: what the appliers record for a configuration entry
    /// (`ApplyMsg::Membership`, 2E), so that peers must agree on it as on
    /// any entry. Tests never start one.
    Membership(Members),
}

impl Cmd {
    /// The bytes handed to `Raft::start`.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a Cmd always encodes")
    }

    /// The command these bytes encode, or `None` if they are not a command.
    pub fn decode(bytes: &[u8]) -> Option<Cmd> {
        postcard::from_bytes(bytes).ok()
    }
}

impl From<u64> for Cmd {
    fn from(value: u64) -> Cmd {
        Cmd::Int(value)
    }
}

impl From<String> for Cmd {
    fn from(text: String) -> Cmd {
        Cmd::Text(text)
    }
}

impl From<&str> for Cmd {
    fn from(text: &str) -> Cmd {
        Cmd::Text(text.to_string())
    }
}

/// Integers print as themselves; long strings print shortened, with their
/// length, so a failure message stays one readable line.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 12;
        match self {
            Cmd::Int(value) => write!(f, "{value}"),
            Cmd::Membership(Members::Stable(members)) => write!(f, "configuration {members:?}"),
            Cmd::Membership(Members::Joint { old, new }) => {
                write!(f, "configuration {old:?}+{new:?}")
            }
            Cmd::Text(text) if text.chars().count() <= SHOWN => write!(f, "{text:?}"),
            Cmd::Text(text) => {
                let head: String = text.chars().take(SHOWN).collect();
                write!(f, "\"{head}...\" ({} chars)", text.chars().count())
            }
        }
    }
}

/// A random integer command value below 2^31, like MIT's `rand.Int()`
/// values but short on the wire (at most 6 bytes as a [`Cmd`]).
pub fn random_int() -> u64 {
    rand::Rng::random_range(&mut rand::rng(), 0..1 << 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_garbage_does_not_decode() {
        for cmd in [Cmd::Int(0), Cmd::Int(u64::MAX), Cmd::from("x")] {
            assert_eq!(Cmd::decode(&cmd.encode()), Some(cmd));
        }
        assert_eq!(Cmd::decode(&[7, 1, 2]), None);
    }

    #[test]
    fn long_strings_print_shortened() {
        assert_eq!(Cmd::Int(101).to_string(), "101");
        assert_eq!(Cmd::from("abc").to_string(), "\"abc\"");
        let long = Cmd::from("a".repeat(5000)).to_string();
        assert_eq!(long, "\"aaaaaaaaaaaa...\" (5000 chars)");
    }
}
