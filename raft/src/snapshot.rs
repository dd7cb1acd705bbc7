// @solution-file 2D
//! Log compaction: the service's snapshots, and a leader bringing a
//! follower that lags behind its snapshot up to date (Figure 13).

use std::time::Instant;

use labrpc::RpcError;

use crate::rpc::{InstallSnapshotArgs, InstallSnapshotReply, SentSnapshot};
use crate::state::{Core, PendingSnapshot};

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

    /// The leader sends its snapshot (Figure 13, InstallSnapshot RPC).
    pub fn handle_install_snapshot(
        &mut self,
        args: InstallSnapshotArgs,
        now: Instant,
    ) -> InstallSnapshotReply {
        if args.term < self.term {
            return self.snapshot_reply(false);
        }
        self.follow_leader(args.term, now);
        if args.last_included_index <= self.commit_index {
            return self.snapshot_reply(true); // We hold all of it already.
        }
        self.log
            .compact_to(args.last_included_index, args.last_included_term);
        self.commit_index = args.last_included_index;
        self.save(Some(args.data.clone()));
        self.pending_snapshot = Some(PendingSnapshot {
            index: args.last_included_index,
            term: args.last_included_term,
            data: args.data,
        });
        peer_log!(
            debug,
            self,
            "installed S{}'s snapshot through {}",
            args.leader,
            args.last_included_index
        );
        self.snapshot_reply(true)
    }

    /// The answer to an InstallSnapshot.
    pub fn snapshot_reply(&self, accepted: bool) -> InstallSnapshotReply {
        InstallSnapshotReply {
            term: self.term,
            accepted,
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
            if reply.accepted {
                p.record_match(sent.last_included_index);
            }
            reply.accepted
        });
    }
}
