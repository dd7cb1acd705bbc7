// @solution-file 2A
//! The driver thread: a peer's only sender of RPCs. It wakes on its
//! timers, on replies (which arrive as events) and on new commands, and
//! sends what the protocol then calls for.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use labrpc::{ClientEnd, RpcError};

use crate::rpc::{
    AppendEntriesReply, InstallSnapshotReply, Outgoing, Request, RequestVoteReply, SentAppend,
    SentSnapshot, APPEND_ENTRIES, INSTALL_SNAPSHOT, REQUEST_VOTE,
};
use crate::shared::Shared;
use crate::state::Core;

/// The most events handled under one turn of the lock, so that a burst of
/// replies cannot keep RPC handlers waiting long.
const MAX_EVENTS_PER_PASS: usize = 64;

/// Something the driver must act on besides its timers.
pub(crate) enum Event {
    /// `start` appended a command, or a read waits for its heartbeats:
    /// send now.
    Replicate,
    /// The peer was killed: exit.
    Stop,
    VoteReply {
        from: usize,
        election_term: u64,
        reply: Result<RequestVoteReply, RpcError>,
    },
    AppendReply {
        from: usize,
        sent: SentAppend,
        reply: Result<AppendEntriesReply, RpcError>,
    },
    SnapshotReply {
        from: usize,
        sent: SentSnapshot,
        reply: Result<InstallSnapshotReply, RpcError>,
    },
}

/// Runs until the peer is killed.
pub(crate) fn run_driver(shared: Arc<Shared>, peers: Vec<ClientEnd>, events: Receiver<Event>) {
    let mut out = Vec::new();
    loop {
        let deadline = shared.core.lock().next_deadline();
        let first = match events.recv_deadline(deadline) {
            Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
        };
        let stop = shared.with_core(|core| {
            let now = Instant::now();
            let mut next = first;
            for _ in 0..MAX_EVENTS_PER_PASS {
                match next {
                    Some(Event::Stop) => return true,
                    Some(event) => handle(core, event, now),
                    None => break,
                }
                next = events.try_recv().ok();
            }
            core.on_timers(now, &mut out);
            core.send_due(&mut out);
            false
        });
        if stop || shared.is_dead() {
            return;
        }
        for outgoing in out.drain(..) {
            send(&peers[outgoing.to], &shared.events, outgoing);
        }
    }
}

fn handle(core: &mut Core, event: Event, now: Instant) {
    match event {
        // Entries were started: a lone peer commits them at once (saved
        // before the pass unlocks).
        Event::Replicate => core.advance_commit(),
        Event::Stop => {}
        Event::VoteReply {
            from,
            election_term,
            reply,
        } => match reply {
            Ok(reply) => core.on_vote_reply(from, election_term, reply, now),
            Err(error) => core.report_rpc_error(from, &error),
        },
        Event::AppendReply { from, sent, reply } => core.on_append_reply(from, sent, reply, now),
        Event::SnapshotReply { from, sent, reply } => {
            core.on_snapshot_reply(from, sent, reply, now)
        }
    }
}

/// Sends `outgoing` without waiting; its reply comes back as an event.
fn send(end: &ClientEnd, events: &Sender<Event>, outgoing: Outgoing) {
    let events = events.clone();
    let from = outgoing.to;
    match outgoing.request {
        Request::Vote(args) => {
            let election_term = args.term;
            end.call_async(REQUEST_VOTE, &args, move |reply| {
                let _ = events.send(Event::VoteReply {
                    from,
                    election_term,
                    reply,
                });
            });
        }
        Request::Append(args) => {
            let sent = SentAppend {
                term: args.term,
                seq: outgoing.seq,
                prev_log_index: args.prev_log_index,
                entry_count: args.entries.len() as u64,
            };
            end.call_async(APPEND_ENTRIES, &args, move |reply| {
                let _ = events.send(Event::AppendReply { from, sent, reply });
            });
        }
        Request::Snapshot(args) => {
            let sent = SentSnapshot {
                term: args.term,
                seq: outgoing.seq,
                last_included_index: args.last_included_index,
            };
            end.call_async(INSTALL_SNAPSHOT, &args, move |reply| {
                let _ = events.send(Event::SnapshotReply { from, sent, reply });
            });
        }
    }
}
