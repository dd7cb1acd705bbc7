// @solution-file 2B
//! The replicated log as one peer holds it: the entries after its snapshot,
//! addressed by their absolute Raft index (the first entry is index 1).

use crate::membership::Membership;

pub(crate) use raft_messages::Entry;

/// Unused entry slots a compacted log may keep for the entries to come.
const SPARE_SLOTS: usize = 64;

/// Entries `snapshot_index + 1 ..= last_index()`, plus the index and term
/// of the last entry the snapshot covers (0 and 0 without a snapshot).
///
/// Terms never decrease along a Raft log, which lets the term searches
/// below use binary search.
///
/// The log also keeps the entries' encoding up to date as it changes: a
/// peer saves its whole log on every change, and copying the encoding
/// costs far less than encoding thousands of entries again. And it keeps
/// where its configuration entries are, so that the configuration in force
/// (the latest one in the log) follows every append, truncation and
/// compaction.
#[derive(Debug, Default)]
pub(crate) struct Log {
    snapshot_index: u64,
    snapshot_term: u64,
    /// The configuration in force at the snapshot's last entry; `None`
    /// while no snapshot carried one (the initial configuration).
    snapshot_membership: Option<Membership>,
    /// The index and configuration of every configuration entry after the
    /// snapshot, oldest first.
    changes: Vec<(u64, Membership)>,
    entries: Vec<Entry>,
    /// The postcard encoding of `entries`, one after the other.
    encoded: Vec<u8>,
    /// Where each entry's encoding starts in `encoded`.
    starts: Vec<usize>,
}

impl Log {
    /// A log restored from its persisted parts.
    pub fn from_parts(
        snapshot_index: u64,
        snapshot_term: u64,
        snapshot_membership: Option<Membership>,
        entries: Vec<Entry>,
    ) -> Log {
        let mut log = Log {
            snapshot_index,
            snapshot_term,
            snapshot_membership,
            ..Log::default()
        };
        for entry in entries {
            log.append(entry);
        }
        log
    }

    /// The last index the snapshot covers; 0 without a snapshot.
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    /// The term of the entry at [`snapshot_index`](Log::snapshot_index).
    pub fn snapshot_term(&self) -> u64 {
        self.snapshot_term
    }

    /// The configuration in force at the snapshot's last entry, if a
    /// snapshot carried one.
    pub fn snapshot_membership(&self) -> Option<&Membership> {
        self.snapshot_membership.as_ref()
    }

    /// Records the configuration a snapshot installed from a leader carries
    /// (Figure 13, step 8).
    pub fn set_snapshot_membership(&mut self, membership: Membership) {
        self.snapshot_membership = Some(membership);
    }

    /// The latest configuration in the log, committed or not, and the index
    /// of its entry (the snapshot's last index if the snapshot carries it);
    /// `None` if neither the log nor its snapshot holds one.
    pub fn membership(&self) -> Option<(u64, &Membership)> {
        match self.changes.last() {
            Some((index, membership)) => Some((*index, membership)),
            None => Some((self.snapshot_index, self.snapshot_membership.as_ref()?)),
        }
    }

    /// The entries after the snapshot, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The postcard encoding of [`entries`](Log::entries), without the
    /// length that precedes a sequence.
    pub fn encoded_entries(&self) -> &[u8] {
        &self.encoded
    }

    /// The index of the last entry, whether in the snapshot or not.
    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    /// The term of the last entry.
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// The term at `index`, or `None` when `index` is past the end or lies
    /// inside the snapshot (except the snapshot's own last entry).
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.position(index).map(|pos| self.entries[pos].term)
    }

    /// Up to `max` entries starting at `from`, which must be after the
    /// snapshot.
    pub fn entries_from(&self, from: u64, max: usize) -> &[Entry] {
        let offset = from
            .checked_sub(self.snapshot_index + 1)
            .expect("entries_from: the first index lies inside the snapshot");
        let start = (offset as usize).min(self.entries.len());
        let end = self.entries.len().min(start.saturating_add(max));
        &self.entries[start..end]
    }

    /// Appends `entry` and returns its index.
    pub fn append(&mut self, entry: Entry) -> u64 {
        self.starts.push(self.encoded.len());
        let encoded = std::mem::take(&mut self.encoded);
        self.encoded =
            postcard::to_extend(&entry, encoded).expect("encoding into memory cannot fail");
        let index = self.last_index() + 1;
        if let Some(membership) = &entry.membership {
            self.changes.push((index, membership.clone()));
        }
        self.entries.push(entry);
        index
    }

    /// Drops every entry after `index` (a follower's conflicting suffix).
    pub fn truncate_after(&mut self, index: u64) {
        let keep = index.saturating_sub(self.snapshot_index) as usize;
        if keep < self.entries.len() {
            self.encoded.truncate(self.starts[keep]);
            self.starts.truncate(keep);
            self.entries.truncate(keep);
        }
        // A configuration whose entry is gone is no longer in force.
        let kept = self.changes.partition_point(|&(at, _)| at <= index);
        self.changes.truncate(kept);
    }

    /// The first index of the run of entries that holds `index` and shares
    /// its term; an entry just after the snapshot if the run starts inside it.
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let Some(term) = self.term_at(index) else {
            return index;
        };
        let before = self.entries.partition_point(|e| e.term < term);
        self.snapshot_index + before as u64 + 1
    }

    /// The index of the last entry of `term`, if this log has one.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        let through = self.entries.partition_point(|e| e.term <= term);
        if through > 0 && self.entries[through - 1].term == term {
            Some(self.snapshot_index + through as u64)
        } else if through == 0 && self.snapshot_index > 0 && self.snapshot_term == term {
            Some(self.snapshot_index)
        } else {
            None
        }
    }

    /// Makes `index` (of term `term`) the snapshot's last entry. Entries
    /// after it are kept only if the log holds that very entry; otherwise
    /// the log is replaced by the snapshot (Figure 13, steps 6 and 7).
    /// `index` must not precede the current snapshot.
    pub fn compact_to(&mut self, index: u64, term: u64) {
        let matching = self.term_at(index) == Some(term);
        let drop = if matching {
            (index - self.snapshot_index) as usize
        } else {
            self.entries.len()
        };
        let cut = self.starts.get(drop).copied().unwrap_or(self.encoded.len());
        if matching {
            let covered = self.changes.partition_point(|&(at, _)| at <= index);
            if let Some((_, membership)) = self.changes.drain(..covered).next_back() {
                self.snapshot_membership = Some(membership);
            }
        } else {
            // A leader's snapshot replaces the whole log; its installer
            // records the configuration the snapshot carries.
            self.changes.clear();
        }
        self.entries.drain(..drop);
        self.starts.drain(..drop);
        self.encoded.drain(..cut);
        for start in &mut self.starts {
            *start -= cut;
        }
        // Dropping the entries freed their commands; give back the slots
        // too once they are mostly empty.
        if self.entries.capacity() > 2 * self.entries.len() + SPARE_SLOTS {
            self.entries.shrink_to_fit();
            self.starts.shrink_to_fit();
            self.encoded.shrink_to_fit();
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// The position in `entries` of `index`, if it is held there.
    fn position(&self, index: u64) -> Option<usize> {
        if index <= self.snapshot_index || index > self.last_index() {
            return None;
        }
        Some((index - self.snapshot_index - 1) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: u64) -> Entry {
        Entry::command(term, vec![term as u8])
    }

    /// A log with entries of the given terms at indices 1, 2, ...
    fn log_of(terms: &[u64]) -> Log {
        Log::from_parts(0, 0, None, terms.iter().map(|&t| entry(t)).collect())
    }

    fn stable(members: &[usize]) -> Membership {
        Membership::Stable(members.to_vec())
    }

    #[test]
    fn the_latest_configuration_is_in_force_and_truncation_reverts_it() {
        let mut log = log_of(&[1]);
        assert_eq!(log.membership(), None, "the initial configuration");
        log.append(Entry::membership(1, stable(&[0, 1, 2, 3])));
        log.append(entry(1));
        log.append(Entry::membership(2, stable(&[0, 1])));
        assert_eq!(log.membership(), Some((4, &stable(&[0, 1]))));
        log.truncate_after(3);
        assert_eq!(log.membership(), Some((2, &stable(&[0, 1, 2, 3]))));
        log.truncate_after(1);
        assert_eq!(log.membership(), None);
    }

    #[test]
    fn compaction_keeps_the_configuration_it_covers() {
        let mut log = log_of(&[1]);
        log.append(Entry::membership(1, stable(&[0, 1, 2, 3])));
        log.append(entry(1));
        log.append(Entry::membership(1, stable(&[1, 2, 3])));
        log.compact_to(3, 1);
        assert_eq!(log.snapshot_membership(), Some(&stable(&[0, 1, 2, 3])));
        assert_eq!(log.membership(), Some((4, &stable(&[1, 2, 3]))));
        log.compact_to(4, 1);
        assert_eq!(log.membership(), Some((4, &stable(&[1, 2, 3]))));
        // A snapshot from elsewhere replaces the log and its configurations
        // (its installer then records the snapshot's own).
        log.append(Entry::membership(2, stable(&[1, 2])));
        log.compact_to(9, 3);
        assert_eq!(log.membership(), Some((9, &stable(&[1, 2, 3]))));
    }

    #[test]
    fn indexing_starts_at_one_and_counts_the_snapshot() {
        let mut log = log_of(&[1, 1, 2]);
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.last_term(), 2);
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(4), None);

        log.compact_to(2, 1);
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.term_at(1), None, "inside the snapshot");
        assert_eq!(log.term_at(2), Some(1), "the snapshot's last entry");
        assert_eq!(log.entries_from(3, 10), &[entry(2)]);
        assert_eq!(log.entries_from(4, 10), &[] as &[Entry]);
    }

    #[test]
    fn the_encoding_follows_every_change() {
        let encoding = |log: &Log| -> Vec<u8> {
            let entries = log.entries().iter();
            entries
                .flat_map(|e| postcard::to_allocvec(e).unwrap())
                .collect()
        };
        let mut log = log_of(&[1, 1, 2, 2, 3]);
        assert_eq!(log.encoded_entries(), encoding(&log));
        log.truncate_after(3);
        log.append(entry(4));
        assert_eq!(log.encoded_entries(), encoding(&log));
        log.compact_to(2, 1);
        assert_eq!(log.encoded_entries(), encoding(&log));
        log.append(entry(4));
        log.compact_to(9, 4);
        assert_eq!(log.encoded_entries(), &[] as &[u8]);
    }

    #[test]
    fn entries_from_respects_the_limit() {
        let log = log_of(&[1, 2, 3, 4]);
        assert_eq!(log.entries_from(2, 2), &[entry(2), entry(3)]);
    }

    #[test]
    fn truncation_keeps_the_prefix() {
        let mut log = log_of(&[1, 1, 2, 2]);
        log.truncate_after(2);
        assert_eq!(log.last_index(), 2);
        assert_eq!(log.append(entry(3)), 3);
        assert_eq!(log.term_at(3), Some(3));
    }

    #[test]
    fn term_searches_find_the_edges_of_a_run() {
        let log = log_of(&[1, 1, 2, 2, 2, 4]);
        assert_eq!(log.first_index_of_term_at(5), 3);
        assert_eq!(log.first_index_of_term_at(2), 1);
        assert_eq!(log.last_index_of_term(2), Some(5));
        assert_eq!(log.last_index_of_term(3), None);
        assert_eq!(log.last_index_of_term(4), Some(6));
    }

    #[test]
    fn term_searches_stop_at_the_snapshot() {
        let mut log = log_of(&[2, 2, 2, 3]);
        log.compact_to(2, 2);
        assert_eq!(log.first_index_of_term_at(3), 3);
        assert_eq!(log.last_index_of_term(2), Some(3));
        log.compact_to(3, 2);
        assert_eq!(
            log.last_index_of_term(2),
            Some(3),
            "only the snapshot has term 2"
        );
    }

    #[test]
    fn compaction_keeps_a_matching_suffix_and_drops_a_conflicting_one() {
        let mut matching = log_of(&[1, 1, 2]);
        matching.compact_to(2, 1);
        assert_eq!(matching.entries(), &[entry(2)]);

        let mut conflicting = log_of(&[1, 1, 2]);
        conflicting.compact_to(2, 5);
        assert!(conflicting.entries().is_empty());
        assert_eq!((conflicting.last_index(), conflicting.last_term()), (2, 5));

        let mut short = log_of(&[1]);
        short.compact_to(7, 3);
        assert_eq!((short.last_index(), short.last_term()), (7, 3));
    }
}
