// @solution-file 2B
//! A leader's side of log replication: accepting commands, sending
//! AppendEntries (or InstallSnapshot to a follower behind the snapshot),
//! acting on replies, and advancing the commit index.

use std::sync::OnceLock;
use std::time::Instant;

use labrpc::RpcError;

use crate::log::{Entry, Log};
use crate::membership::Membership;
use crate::rpc::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, Outgoing, Request, SentAppend,
};
use crate::rules::{is_quorum, leader_commit_index, next_index_after_rejection};
use crate::state::{Core, Progress, Role};
use crate::timing::{
    HEARTBEAT_INTERVAL, MAX_APPENDS_IN_FLIGHT, MAX_ENTRIES_PER_APPEND, MAX_UNSAVED_OWN_ENTRIES,
    PIPELINED_BATCH, QUORUM_TIMEOUT,
};
use crate::UNBATCHED_VAR;

/// Whether started commands are saved together, when a commit needs them
/// (see [`Core::own_entries_due`]): unless the benchmark's switch,
/// [`UNBATCHED_VAR`], is `1`.
pub(crate) fn group_commit() -> bool {
    static GROUP: OnceLock<bool> = OnceLock::new();
    *GROUP.get_or_init(|| std::env::var_os(UNBATCHED_VAR).is_none_or(|value| value != "1"))
}

impl Core {
    /// Appends `command` if we lead and a majority answered us lately:
    /// `Some((index, term))`, else `None`. The entry is left unsaved (see
    /// [`own_entries_due`](Core::own_entries_due)).
    pub fn start(&mut self, command: Vec<u8>, now: Instant) -> Option<(u64, u64)> {
        if !self.hears_from_majority(now) {
            return None;
        }
        let index = self.log.append(Entry::command(self.term, command));
        self.own_entries_unsaved = true;
        peer_log!(trace, self, "start: index {index}");
        Some((index, self.term))
    }

    /// Whether the entries this peer appended as leader since its last
    /// save must be saved now. A leader may send them first (Ongaro's
    /// thesis, §10.2.1: its own disk write is one of the majority's, not a
    /// step before replication), but must save them once its commit index
    /// counts its copy: when the followers' copies (saved before they
    /// answered) and its own saved log are no quorum for that index. It
    /// also saves once [`MAX_UNSAVED_OWN_ENTRIES`] have piled up, so the
    /// saved state, by which the service decides to snapshot, stays close
    /// to the log; and a peer that no longer leads saves at once, since it
    /// answers a new leader for its whole log.
    pub fn own_entries_due(&self) -> bool {
        if !self.own_entries_unsaved {
            return false;
        }
        let Role::Leader(leadership) = &self.role else {
            return true;
        };
        let unsaved = self.log.last_index().saturating_sub(self.saved_through);
        if unsaved >= MAX_UNSAVED_OWN_ENTRIES {
            return true;
        }
        self.commit_index > self.saved_through
            && !is_quorum(self.membership(), |peer| {
                let saved = if peer == self.me {
                    self.saved_through
                } else {
                    leadership.progress[peer].match_index
                };
                saved >= self.commit_index
            })
    }

    /// Whether we lead and a majority (counting ourselves) answered us
    /// within the quorum timeout. A leader cut off from the majority keeps
    /// leading (so it recovers at once if the cut heals) but takes no new
    /// commands: they could not commit, and a newer leader has most likely
    /// been elected on the other side.
    fn hears_from_majority(&self, now: Instant) -> bool {
        let Role::Leader(leadership) = &self.role else {
            return false;
        };
        is_quorum(self.membership(), |peer| {
            peer == self.me
                || now.duration_since(leadership.progress[peer].last_heard) < QUORUM_TIMEOUT
        })
    }

    /// A heartbeat: one request to every follower, whether or not an
    /// earlier one is still unanswered. Sends older than it are no longer
    /// waited for; a pipelined follower that answered nothing for a whole
    /// heartbeat period may have lost them all (a lost send can take
    /// seconds to fail), so it is probed again from its match index.
    pub fn broadcast(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        let followers = self.others();
        if let Role::Leader(leadership) = &mut self.role {
            for &peer in &followers {
                let p = &mut leadership.progress[peer];
                p.counted_after = p.seq;
                p.unanswered = 0;
                if now.duration_since(p.last_heard) >= HEARTBEAT_INTERVAL {
                    p.stop_pipelining();
                }
            }
        }
        out.extend(
            followers
                .into_iter()
                .filter_map(|peer| self.request_for(peer)),
        );
        if let Role::Leader(leadership) = &mut self.role {
            leadership.reads.broadcast_sent();
        }
    }

    /// Requests to the followers that lack entries or the commit index,
    /// as many as each one's window lets out.
    pub fn send_due(&mut self, out: &mut Vec<Outgoing>) {
        for peer in self.others() {
            while self.request_due(peer) {
                out.extend(self.request_for(peer));
            }
        }
    }

    /// Whether a request to `peer` is due: it is not known to be cut off,
    /// and it lacks entries and its window has room, or it lacks only the
    /// commit index and nothing is unanswered (an answer brings the next
    /// send anyway).
    fn request_due(&self, peer: usize) -> bool {
        let Role::Leader(leadership) = &self.role else {
            return false;
        };
        let p = &leadership.progress[peer];
        // A snapshot goes chunk by chunk, each at the offset last answered.
        let window = if p.probing || p.next_index <= self.log.snapshot_index() {
            1
        } else {
            MAX_APPENDS_IN_FLIGHT
        };
        let waiting = (self.log.last_index() + 1).saturating_sub(p.next_index);
        !p.unreachable
            && p.unanswered < window
            && if p.unanswered == 0 {
                waiting > 0 || p.commit_sent < self.commit_index
            } else {
                waiting >= PIPELINED_BATCH as u64
            }
    }

    /// The next request to `peer`: the entries from its next index, or the
    /// snapshot if those entries are gone from our log.
    fn request_for(&mut self, peer: usize) -> Option<Outgoing> {
        let Role::Leader(leadership) = &mut self.role else {
            return None;
        };
        let p = &mut leadership.progress[peer];
        p.seq += 1;
        p.unanswered += 1;
        let request = if p.next_index <= self.log.snapshot_index() {
            let membership = self.log.snapshot_membership();
            Request::Snapshot(snapshot_chunk(
                p,
                self.term,
                self.me,
                &self.log,
                membership.unwrap_or(&self.initial_membership).clone(),
                &self.persister.snapshot(),
                self.chunk_size,
            ))
        } else {
            let prev_log_index = p.next_index - 1;
            p.commit_sent = self.commit_index;
            let entries = self
                .log
                .entries_from(p.next_index, MAX_ENTRIES_PER_APPEND)
                .to_vec();
            // Pipelined, the next send starts after these without waiting
            // for the reply (a refusal or a loss moves it back). A probe
            // waits: until the follower's log is found to match, the next
            // send (a heartbeat, say) carries these entries again.
            if !p.probing {
                p.next_index += entries.len() as u64;
            }
            Request::Append(AppendEntriesArgs {
                term: self.term,
                leader: self.me,
                prev_log_index,
                prev_log_term: self
                    .log
                    .term_at(prev_log_index)
                    .expect("a follower's next index lies within the leader's log"),
                entries,
                leader_commit: self.commit_index,
            })
        };
        Some(Outgoing {
            to: peer,
            seq: p.seq,
            request,
        })
    }

    /// A follower answered (or the network failed) an AppendEntries.
    pub fn on_append_reply(
        &mut self,
        from: usize,
        sent: SentAppend,
        reply: Result<AppendEntriesReply, RpcError>,
        now: Instant,
    ) {
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => return self.on_send_failure(from, sent.term, sent.seq, &error),
        };
        if let Some(conflict) = reply.conflict {
            peer_log!(
                trace,
                self,
                "S{from} refused entries after {} ({conflict:?})",
                sent.prev_log_index
            );
        }
        self.on_follower_answer(from, sent.term, sent.seq, reply.term, now, |p, log| {
            if reply.success {
                p.probing = false;
                p.record_match(sent.prev_log_index + sent.entry_count);
                return true;
            }
            // A refusal of a send beyond where we have backed up already
            // is stale: it must not move the next index forward.
            if let Some(conflict) = reply
                .conflict
                .filter(|_| sent.prev_log_index < p.next_index)
            {
                p.next_index =
                    next_index_after_rejection(log, conflict, sent.prev_log_index, p.match_index);
                p.probing = true;
            }
            false
        });
    }

    /// Takes in follower `from`'s answer, in `reply_term`, to the send
    /// numbered `seq` of `sent_term`. Adopts a newer term; if this peer
    /// still leads in `sent_term`, marks the follower heard from and lets
    /// `update` move its progress. `update` returns whether the follower's
    /// match index grew, which may let the commit index advance.
    pub fn on_follower_answer(
        &mut self,
        from: usize,
        sent_term: u64,
        seq: u64,
        reply_term: u64,
        now: Instant,
        update: impl FnOnce(&mut Progress, &Log) -> bool,
    ) {
        self.observe_term(reply_term, now);
        if self.term != sent_term {
            return;
        }
        let Role::Leader(leadership) = &mut self.role else {
            return;
        };
        leadership.reads.acknowledge(from, seq);
        let p = &mut leadership.progress[from];
        p.unreachable = false;
        p.last_heard = now;
        p.count_answer(seq);
        if update(p, &self.log) {
            self.advance_commit();
        }
        self.answer_reads();
    }

    /// A send to `peer` failed in the network (or, for a programming
    /// mistake, anywhere): pipelining to it stops (see
    /// [`Progress::stop_pipelining`]). If it was the latest send, the next
    /// heartbeat tries again.
    pub fn on_send_failure(&mut self, peer: usize, term: u64, seq: u64, error: &RpcError) {
        self.report_rpc_error(peer, error);
        if self.term != term {
            return;
        }
        if let Role::Leader(leadership) = &mut self.role {
            let p = &mut leadership.progress[peer];
            p.count_answer(seq);
            p.stop_pipelining();
            if p.seq == seq {
                p.unreachable = true;
            }
        }
    }

    /// Logs a failed RPC: lost messages are routine, anything else is a
    /// programming mistake worth an error line.
    pub fn report_rpc_error(&self, peer: usize, error: &RpcError) {
        if error.is_network_fault() {
            peer_log!(trace, self, "RPC to S{peer} lost: {error}");
        } else {
            peer_log!(error, self, "RPC to S{peer} failed: {error}");
        }
    }

    /// Commits what a quorum holds, if it is of our term.
    pub fn advance_commit(&mut self) {
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        let matched = |peer: usize| {
            if peer == self.me {
                self.log.last_index()
            } else {
                leadership.progress[peer].match_index
            }
        };
        let commit = leader_commit_index(
            self.membership(),
            matched,
            &self.log,
            self.term,
            self.commit_index,
        );
        if commit > self.commit_index {
            self.commit_index = commit;
            peer_log!(debug, self, "commit through {commit}");
            self.answer_reads();
        }
        // A learner may have caught up, or a configuration committed.
        self.advance_membership_change();
    }
}

/// The chunk of the leader's snapshot `data` (with the configuration
/// `membership` it carries) that follower progress `p` needs next: from
/// the offset it holds, at most `chunk_size` bytes. A newer snapshot than
/// the one being sent starts again at offset 0.
fn snapshot_chunk(
    p: &mut Progress,
    term: u64,
    leader: usize,
    log: &Log,
    membership: Membership,
    data: &[u8],
    chunk_size: usize,
) -> InstallSnapshotArgs {
    if p.snapshot_index != log.snapshot_index() {
        p.snapshot_index = log.snapshot_index();
        p.snapshot_offset = 0;
    }
    let start = (p.snapshot_offset as usize).min(data.len());
    let end = start.saturating_add(chunk_size).min(data.len());
    InstallSnapshotArgs {
        term,
        leader,
        last_included_index: log.snapshot_index(),
        last_included_term: log.snapshot_term(),
        membership,
        offset: start as u64,
        data: data[start..end].to_vec(),
        done: end == data.len(),
    }
}

impl Progress {
    /// Sends may have been lost: back to one at a time, and if we were
    /// pipelining, from the match index, undoing the optimistic moves of
    /// the next index (a probe never moved it).
    fn stop_pipelining(&mut self) {
        if !self.probing {
            self.next_index = self.match_index + 1;
            self.probing = true;
        }
    }

    /// The send numbered `seq` was answered, or failed.
    fn count_answer(&mut self, seq: u64) {
        if seq > self.counted_after {
            self.unanswered = self.unanswered.saturating_sub(1);
        }
    }

    /// The follower holds the leader's log through `index`.
    pub fn record_match(&mut self, index: u64) {
        self.match_index = self.match_index.max(index);
        self.next_index = self.next_index.max(self.match_index + 1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::persister::Persister;
    use crate::rpc::Conflict;
    use crate::state::Leadership;

    /// Peer 0 of three, just elected in term 1 with `entries` commands.
    fn leader(entries: u64) -> Core {
        let mut core = Core::restore(0, 3, vec![0, 1, 2], Arc::new(Persister::new()));
        core.term = 1;
        append(&mut core, entries);
        core.role = Role::Leader(Leadership::new(3, entries, Instant::now()));
        core
    }

    fn append(core: &mut Core, entries: u64) {
        for _ in 0..entries {
            core.log.append(Entry::command(1, b"x".to_vec()));
        }
    }

    /// What `send_due` sends to `peer` now: each append's send number,
    /// previous index and entry count.
    fn appends_due(core: &mut Core, peer: usize) -> Vec<SentAppend> {
        let mut out = Vec::new();
        core.send_due(&mut out);
        out.into_iter()
            .filter(|o| o.to == peer)
            .map(|o| match o.request {
                Request::Append(args) => SentAppend {
                    term: args.term,
                    seq: o.seq,
                    prev_log_index: args.prev_log_index,
                    entry_count: args.entries.len() as u64,
                },
                other => panic!("expected an append, got {other:?}"),
            })
            .collect()
    }

    fn answer(core: &mut Core, peer: usize, sent: SentAppend, conflict: Option<Conflict>) {
        let reply = AppendEntriesReply {
            term: 1,
            success: conflict.is_none(),
            conflict,
        };
        core.on_append_reply(peer, sent, Ok(reply), Instant::now());
    }

    /// Follower 1 has acknowledged the leader's first 10 entries.
    fn leader_matched_by_follower_1() -> Core {
        let mut core = leader(10);
        let mut out = Vec::new();
        core.broadcast(Instant::now(), &mut out);
        let heartbeat = out.iter().find(|o| o.to == 1).expect("a heartbeat to 1");
        let sent = SentAppend {
            term: 1,
            seq: heartbeat.seq,
            prev_log_index: 10,
            entry_count: 0,
        };
        answer(&mut core, 1, sent, None);
        core
    }

    fn counts(sent: &[SentAppend]) -> Vec<(u64, u64)> {
        sent.iter()
            .map(|s| (s.prev_log_index, s.entry_count))
            .collect()
    }

    #[test]
    fn a_matching_follower_gets_full_batches_without_waiting() {
        let mut core = leader_matched_by_follower_1();
        append(&mut core, 1300);
        let to_matching = appends_due(&mut core, 1);
        assert_eq!(
            counts(&to_matching),
            [(10, 512), (522, 512), (1034, 276)],
            "each append starts where the one before ended"
        );
        assert!(
            appends_due(&mut core, 2).is_empty(),
            "follower 2 has not answered the heartbeat: one send at a time while \
             where its log matches is unknown"
        );
    }

    #[test]
    fn a_partial_batch_waits_for_the_answer() {
        let mut core = leader_matched_by_follower_1();
        append(&mut core, 5);
        let first = appends_due(&mut core, 1);
        assert_eq!(counts(&first), [(10, 5)]);
        append(&mut core, 5);
        assert!(appends_due(&mut core, 1).is_empty(), "5 entries wait");
        answer(&mut core, 1, first[0], None);
        assert_eq!(counts(&appends_due(&mut core, 1)), [(15, 5)]);
    }

    #[test]
    fn a_loss_backs_up_to_the_match_and_a_later_refusal_cannot_undo_it() {
        let mut core = leader_matched_by_follower_1();
        append(&mut core, 1100);
        let sent = appends_due(&mut core, 1);
        assert_eq!(sent.len(), 3);
        core.on_send_failure(1, 1, sent[0].seq, &RpcError::Unreachable);
        assert_eq!(next_index(&core, 1), 11, "the lost entries go again");
        // A refusal of a later send whose hint lies beyond where we backed
        // up to is stale.
        let beyond = Conflict {
            term: Some(1),
            first_index_of_term: 1,
            log_len: 600,
        };
        answer(&mut core, 1, sent[1], Some(beyond));
        assert_eq!(next_index(&core, 1), 11);
        core.on_send_failure(1, 1, sent[2].seq, &RpcError::Unreachable);
        core.broadcast(Instant::now(), &mut Vec::new());
        assert!(
            appends_due(&mut core, 1).is_empty(),
            "one send at a time until the follower's log is found to match"
        );
    }

    fn next_index(core: &Core, peer: usize) -> u64 {
        let Role::Leader(leadership) = &core.role else {
            panic!("S{} no longer leads", core.me);
        };
        leadership.progress[peer].next_index
    }
}
