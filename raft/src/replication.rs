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
use crate::timing::{MAX_ENTRIES_PER_APPEND, QUORUM_TIMEOUT};
use crate::UNBATCHED_VAR;

/// Whether started commands wait for the driver's next pass to be saved
/// together: unless the benchmark's switch, [`UNBATCHED_VAR`], is `1`.
pub(crate) fn group_commit() -> bool {
    static GROUP: OnceLock<bool> = OnceLock::new();
    *GROUP.get_or_init(|| std::env::var_os(UNBATCHED_VAR).is_none_or(|value| value != "1"))
}

impl Core {
    /// Appends `command` if we lead and a majority answered us lately:
    /// `Some((index, term))`, else `None`.
    pub fn start(&mut self, command: Vec<u8>, now: Instant) -> Option<(u64, u64)> {
        if !self.hears_from_majority(now) {
            return None;
        }
        let index = self.log.append(Entry::command(self.term, command));
        self.dirty = true;
        peer_log!(trace, self, "start: index {index}");
        Some((index, self.term))
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
    /// earlier one is still unanswered (which also resends a lost one).
    pub fn broadcast(&mut self, out: &mut Vec<Outgoing>) {
        let followers = self.others();
        out.extend(
            followers
                .into_iter()
                .filter_map(|peer| self.request_for(peer)),
        );
        if let Role::Leader(leadership) = &mut self.role {
            leadership.reads.broadcast_sent();
        }
    }

    /// Requests to the followers that lack entries or the commit index and
    /// are neither awaiting a reply nor known to be cut off.
    pub fn send_due(&mut self, out: &mut Vec<Outgoing>) {
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        let last_index = self.log.last_index();
        let due: Vec<usize> = self
            .others()
            .into_iter()
            .filter(|&peer| {
                let p = &leadership.progress[peer];
                !p.in_flight
                    && !p.unreachable
                    && (p.next_index <= last_index || p.commit_sent < self.commit_index)
            })
            .collect();
        out.extend(due.into_iter().filter_map(|peer| self.request_for(peer)));
    }

    /// The next request to `peer`: the entries from its next index, or the
    /// snapshot if those entries are gone from our log.
    fn request_for(&mut self, peer: usize) -> Option<Outgoing> {
        let Role::Leader(leadership) = &mut self.role else {
            return None;
        };
        let p = &mut leadership.progress[peer];
        p.seq += 1;
        p.in_flight = true;
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
            Request::Append(AppendEntriesArgs {
                term: self.term,
                leader: self.me,
                prev_log_index,
                prev_log_term: self
                    .log
                    .term_at(prev_log_index)
                    .expect("a follower's next index lies within the leader's log"),
                entries: self
                    .log
                    .entries_from(p.next_index, MAX_ENTRIES_PER_APPEND)
                    .to_vec(),
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
                p.record_match(sent.prev_log_index + sent.entry_count);
                return true;
            }
            if let Some(conflict) = reply.conflict {
                p.next_index =
                    next_index_after_rejection(log, conflict, sent.prev_log_index, p.match_index);
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
        if p.seq == seq {
            p.in_flight = false;
        }
        if update(p, &self.log) {
            self.advance_commit();
        }
        self.answer_reads();
    }

    /// A send to `peer` failed in the network (or, for a programming
    /// mistake, anywhere); the next heartbeat tries again.
    pub fn on_send_failure(&mut self, peer: usize, term: u64, seq: u64, error: &RpcError) {
        self.report_rpc_error(peer, error);
        if self.term != term {
            return;
        }
        if let Role::Leader(leadership) = &mut self.role {
            let p = &mut leadership.progress[peer];
            if p.seq == seq {
                p.in_flight = false;
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
    /// The follower holds the leader's log through `index`.
    pub fn record_match(&mut self, index: u64) {
        self.match_index = self.match_index.max(index);
        self.next_index = self.next_index.max(self.match_index + 1);
    }
}
