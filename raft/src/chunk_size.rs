//! How large a piece of a snapshot one InstallSnapshot carries (Figure 13's
//! `data` at `offset`). Given complete in the handout: the 2D tests set it
//! for the peers they start, and check that no chunk is larger.

/// The chunk size when [`SNAPSHOT_CHUNK_VAR`] is not set: 64 KiB.
pub const DEFAULT_SNAPSHOT_CHUNK: usize = 64 * 1024;

/// The environment variable through which a test sets the chunk size of
/// the peers it starts, in bytes.
pub const SNAPSHOT_CHUNK_VAR: &str = "RAFT_SNAPSHOT_CHUNK_BYTES";

/// The most snapshot bytes one InstallSnapshot may carry: the value of
/// [`SNAPSHOT_CHUNK_VAR`] if it is a positive number, else
/// [`DEFAULT_SNAPSHOT_CHUNK`].
pub fn snapshot_chunk_size() -> usize {
    parse_chunk_size(std::env::var(SNAPSHOT_CHUNK_VAR).ok().as_deref())
}

fn parse_chunk_size(value: Option<&str>) -> usize {
    value
        .and_then(|text| text.trim().parse().ok())
        .filter(|&bytes: &usize| bytes > 0)
        .unwrap_or(DEFAULT_SNAPSHOT_CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_positive_number_sets_the_size_and_anything_else_keeps_the_default() {
        assert_eq!(parse_chunk_size(Some("4096")), 4096);
        assert_eq!(parse_chunk_size(Some(" 100 ")), 100);
        for other in [None, Some(""), Some("0"), Some("-5"), Some("big")] {
            assert_eq!(parse_chunk_size(other), DEFAULT_SNAPSHOT_CHUNK);
        }
    }
}
