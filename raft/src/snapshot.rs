// @solution-file 2D
//! Log compaction: the service's snapshots, and a leader bringing a
//! follower that lags behind its snapshot up to date (Figure 13).

use std::time::Instant;

use labrpc::RpcError;

use crate::rpc::{InstallSnapshotArgs, InstallSnapshotReply, SentSnapshot};
use crate::state::{Core, PartialSnapshot, PendingSnapshot};

impl Core {
    /// The service's snapshot covers every entry through `index`: drop
    /// them from the log and save the snapshot with the state.
    pub fn snapshot(&mut self, index: u64, data: Vec<u8>) {
        if index <= self.log.snapshot_index() {
            return; // An installed snapshot already covers it.
        }
        if index > self.last_applied {
            peer_log!(
                warn,
                self,
                "snapshot through {index} ignored: only {} was applied",
                self.last_applied
            );
            return;
        }
        let term = self
            .log
            .term_at(index)
            .expect("an applied index after the snapshot is in the log");
        self.log.compact_to(index, term);
        self.save(Some(data));
        peer_log!(debug, self, "snapshot through {index}");
    }

    /// A chunk of the leader's snapshot arrives (Figure 13, InstallSnapshot
    /// RPC, receiver steps 1-8). Chunks are taken in order only: one at the
    /// offset received so far extends the snapshot; any other is a
    /// duplicate, a gap or a stale chunk, and the reply says where the
    /// next chunk must begin.
    pub fn handle_install_snapshot(
        &mut self,
        args: InstallSnapshotArgs,
        now: Instant,
    ) -> InstallSnapshotReply {
        if args.term < self.term {
            return self.snapshot_reply(0, false); // Step 1.
        }
        // Every chunk is a sign of life from the leader.
        self.follow_leader(args.term, now);
        if args.last_included_index <= self.commit_index {
            return self.snapshot_reply(0, true); // We hold all of it already.
        }
        let key = (args.term, args.last_included_index);
        let held = self
            .partial_snapshot
            .as_ref()
            .map(|p| (p.leader_term, p.index));
        if held.is_some_and(|held| held > key) {
            // A late chunk of an older snapshot: keep the newer one.
            return self.snapshot_reply(0, false);
        }
        if held != Some(key) {
            // Step 2: a new snapshot starts at offset 0; an older partial
            // one is discarded either way.
            self.partial_snapshot = (args.offset == 0).then(|| PartialSnapshot {
                leader_term: args.term,
                index: args.last_included_index,
                term: args.last_included_term,
                membership: args.membership.clone(),
                data: Vec::new(),
            });
        }
        let Some(partial) = self.partial_snapshot.as_mut() else {
            return self.snapshot_reply(0, false); // We need its first chunk.
        };
        if args.offset != partial.data.len() as u64 {
            let received = partial.data.len() as u64;
            return self.snapshot_reply(received, false);
        }
        partial.data.extend_from_slice(&args.data); // Step 3.
        if !args.done {
            let received = partial.data.len() as u64;
            return self.snapshot_reply(received, false); // Step 4.
        }
        let partial = self.partial_snapshot.take().expect("a partial snapshot");
        self.install(partial, args.leader);
        self.snapshot_reply(args.offset + args.data.len() as u64, true)
    }

    /// Steps 5-8: the whole snapshot has arrived. Save it, keep the log
    /// after it if the log agrees at its last index (else discard the log),
    /// load its configuration, and have the applier reset the service from
    /// it.
    fn install(&mut self, snapshot: PartialSnapshot, leader: usize) {
        self.log.compact_to(snapshot.index, snapshot.term);
        self.log.set_snapshot_membership(snapshot.membership);
        self.commit_index = snapshot.index;
        self.save(Some(snapshot.data.clone()));
        peer_log!(
            debug,
            self,
            "installed S{leader}'s snapshot through {} ({} bytes)",
            snapshot.index,
            snapshot.data.len()
        );
        self.pending_snapshot = Some(PendingSnapshot {
            index: snapshot.index,
            term: snapshot.term,
            data: snapshot.data,
        });
    }

    /// The answer to an InstallSnapshot chunk.
    pub fn snapshot_reply(&self, received: u64, installed: bool) -> InstallSnapshotReply {
        InstallSnapshotReply {
            term: self.term,
            received,
            installed,
        }
    }

    /// A follower answered (or the network failed) an InstallSnapshot.
    pub fn on_snapshot_reply(
        &mut self,
        from: usize,
        sent: SentSnapshot,
        reply: Result<InstallSnapshotReply, RpcError>,
        now: Instant,
    ) {
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => return self.on_send_failure(from, sent.term, sent.seq, &error),
        };
        self.on_follower_answer(from, sent.term, sent.seq, reply.term, now, |p, _| {
            if reply.installed {
                p.record_match(sent.last_included_index);
                return true;
            }
            if p.snapshot_index == sent.last_included_index {
                // The answer to the latest send says where the follower is
                // (it may have restarted and lost its chunks); an older one
                // only moves the offset forward.
                p.snapshot_offset = if p.seq == sent.seq {
                    reply.received
                } else {
                    p.snapshot_offset.max(reply.received)
                };
            }
            false
        });
    }
}
