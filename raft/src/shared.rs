// @solution-file 2A
//! The state a peer's handle, its RPC handlers and its threads share.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

use crate::driver::Event;
use crate::rpc::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply,
    RequestVoteArgs, RequestVoteReply,
};
use crate::state::Core;

pub(crate) struct Shared {
    pub core: Mutex<Core>,
    /// Signalled when the applier may have work, and on kill.
    pub apply_ready: Condvar,
    /// Set by kill: from then on the peer changes nothing and sends nothing.
    pub dead: AtomicBool,
    /// Wakes the driver thread.
    pub events: Sender<Event>,
}

impl Shared {
    pub fn new(core: Core, events: Sender<Event>) -> Shared {
        Shared {
            core: Mutex::new(core),
            apply_ready: Condvar::new(),
            dead: AtomicBool::new(false),
            events,
        }
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Runs `f` on the locked core, then, before unlocking, saves whatever
    /// it changed (so nothing is replied or sent unsaved) and wakes the
    /// applier if there is something to apply.
    pub fn with_core<T>(&self, f: impl FnOnce(&mut Core) -> T) -> T {
        let mut core = self.core.lock();
        let result = f(&mut core);
        core.flush();
        if core.has_apply_work() {
            self.apply_ready.notify_one();
        }
        result
    }

    /// The RequestVote handler. A killed peer votes for no one.
    pub fn request_vote(&self, args: RequestVoteArgs) -> RequestVoteReply {
        self.with_core(|core| {
            if self.is_dead() {
                RequestVoteReply {
                    term: core.term,
                    vote_granted: false,
                }
            } else {
                core.handle_request_vote(args, Instant::now())
            }
        })
    }

    /// The AppendEntries handler. A killed peer accepts nothing.
    pub fn append_entries(&self, args: AppendEntriesArgs) -> AppendEntriesReply {
        self.with_core(|core| {
            if self.is_dead() {
                core.refuse_append(None)
            } else {
                core.handle_append_entries(args, Instant::now())
            }
        })
    }

    /// The InstallSnapshot handler. A killed peer accepts nothing.
    pub fn install_snapshot(&self, args: InstallSnapshotArgs) -> InstallSnapshotReply {
        self.with_core(|core| {
            if self.is_dead() {
                core.snapshot_reply(0, false)
            } else {
                core.handle_install_snapshot(args, Instant::now())
            }
        })
    }
}
