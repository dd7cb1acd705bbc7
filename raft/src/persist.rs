// @solution-file 2C
//! The encoding of the state a peer must not forget across a crash:
//! Figure 2's persistent state plus where its snapshot ends and the
//! configuration it carries.

use serde::{Deserialize, Serialize};

use crate::log::{Entry, Log};
use crate::membership::Membership;

/// What precedes the log's entries in the saved state. Its last field is
/// the entry count, where postcard puts the length of a sequence, so that
/// the header followed by the log's encoded entries decodes as [`Durable`].
#[derive(Serialize)]
struct Header<'a> {
    term: u64,
    voted_for: Option<usize>,
    snapshot_index: u64,
    snapshot_term: u64,
    snapshot_membership: Option<&'a Membership>,
    entry_count: usize,
}

/// The persistent state as decoded on restart.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Durable {
    pub term: u64,
    pub voted_for: Option<usize>,
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    pub snapshot_membership: Option<Membership>,
    pub entries: Vec<Entry>,
}

impl Durable {
    /// Decodes what [`encode`] saved; empty bytes are a fresh peer.
    pub fn decode(bytes: &[u8]) -> Result<Durable, postcard::Error> {
        if bytes.is_empty() {
            return Ok(Durable::default());
        }
        postcard::from_bytes(bytes)
    }

    /// The log these parts describe.
    pub fn into_log(self) -> Log {
        Log::from_parts(
            self.snapshot_index,
            self.snapshot_term,
            self.snapshot_membership,
            self.entries,
        )
    }
}

/// Encodes the persistent state into the bytes given to `Persister::save`:
/// a small header, then a copy of the log's own encoding of its entries.
pub(crate) fn encode(term: u64, voted_for: Option<usize>, log: &Log) -> Vec<u8> {
    let header = Header {
        term,
        voted_for,
        snapshot_index: log.snapshot_index(),
        snapshot_term: log.snapshot_term(),
        snapshot_membership: log.snapshot_membership(),
        entry_count: log.entries().len(),
    };
    let entries = log.encoded_entries();
    let mut state = Vec::with_capacity(HEADER_MAX_BYTES + entries.len());
    state = postcard::to_extend(&header, state).expect("encoding into memory cannot fail");
    state.extend_from_slice(entries);
    state
}

/// Five varints of at most 10 bytes each and an option tag; a snapshot's
/// configuration takes a few bytes more, and the state grows to hold them.
const HEADER_MAX_BYTES: usize = 51;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_round_trip() {
        let mut log = Log::from_parts(
            0,
            0,
            None,
            vec![
                Entry::membership(1, Membership::Stable(vec![0, 2])),
                Entry::command(2, b"bc".to_vec()),
                Entry::command(2, vec![]),
            ],
        );
        log.compact_to(1, 1);
        let decoded = Durable::decode(&encode(7, Some(2), &log)).unwrap();
        assert_eq!((decoded.term, decoded.voted_for), (7, Some(2)));
        let restored = decoded.into_log();
        assert_eq!(
            (restored.snapshot_index(), restored.snapshot_term()),
            (1, 1)
        );
        assert_eq!(restored.entries(), log.entries());
        assert_eq!(
            restored.snapshot_membership(),
            Some(&Membership::Stable(vec![0, 2])),
            "the snapshot's configuration"
        );
    }

    #[test]
    fn truncated_or_foreign_bytes_are_an_error() {
        let mut log = Log::default();
        log.append(Entry::command(3, b"command".to_vec()));
        let bytes = encode(3, None, &log);
        assert!(Durable::decode(&bytes[..bytes.len() - 2]).is_err());
        assert!(Durable::decode(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").is_err());
    }

    #[test]
    fn no_bytes_is_a_fresh_peer() {
        let fresh = Durable::decode(&[]).unwrap();
        assert_eq!(
            (fresh.term, fresh.voted_for, fresh.entries.len()),
            (0, None, 0)
        );
    }
}
