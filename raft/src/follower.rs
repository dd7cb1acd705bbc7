// @solution-file 2B
//! A follower's side of log replication: the AppendEntries handler.

use std::time::Instant;

use crate::log::Entry;
use crate::rpc::{AppendEntriesArgs, AppendEntriesReply, Conflict};
use crate::rules::{fit_entries, Fit};
use crate::state::Core;

impl Core {
    /// The leader replicates entries or sends a heartbeat (Figure 2,
    /// AppendEntries RPC), with fast backtracking on a mismatch.
    pub fn handle_append_entries(
        &mut self,
        args: AppendEntriesArgs,
        now: Instant,
    ) -> AppendEntriesReply {
        if args.term < self.term {
            return self.refuse_append(None);
        }
        self.follow_leader(args.term, now);

        let (after, skip) = match fit_entries(
            &self.log,
            args.prev_log_index,
            args.prev_log_term,
            args.entries.len(),
        ) {
            Fit::Matches { after, skip } => (after, skip),
            Fit::Conflict(conflict) => return self.refuse_append(Some(conflict)),
        };
        let count = args.entries.len() - skip;
        self.merge(after, args.entries.into_iter().skip(skip));
        let last_new = after + count as u64;
        if args.leader_commit > self.commit_index {
            self.commit_index = self.commit_index.max(args.leader_commit.min(last_new));
        }
        self.accept_append(after, count)
    }

    /// Appends the leader's `entries` after `prev_log_index`, cutting our
    /// log at the first entry whose term differs, and leaving it untouched
    /// if it already holds them all (a delayed, older request must not
    /// truncate entries a newer one added).
    fn merge(&mut self, prev_log_index: u64, entries: impl Iterator<Item = Entry>) {
        let mut entries = entries.peekable();
        let mut index = prev_log_index + 1;
        while let Some(entry) = entries.peek() {
            match self.log.term_at(index) {
                Some(term) if term == entry.term => {
                    entries.next();
                    index += 1;
                }
                Some(_) => {
                    self.log.truncate_after(index - 1);
                    self.dirty = true;
                    break;
                }
                None => break,
            }
        }
        for entry in entries {
            self.log.append(entry);
            self.dirty = true;
        }
    }

    fn accept_append(&self, prev_log_index: u64, entries: usize) -> AppendEntriesReply {
        peer_log!(
            trace,
            self,
            "append after {prev_log_index}: {entries} entries, commit {}",
            self.commit_index
        );
        AppendEntriesReply {
            term: self.term,
            success: true,
            conflict: None,
        }
    }

    /// A refusal: a stale leader (no conflict) or a log mismatch.
    pub fn refuse_append(&self, conflict: Option<Conflict>) -> AppendEntriesReply {
        peer_log!(trace, self, "append refused: {conflict:?}");
        AppendEntriesReply {
            term: self.term,
            success: false,
            conflict,
        }
    }
}
