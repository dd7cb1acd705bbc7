//! A Raft peer as the checks see it: `Raft::start`, `Raft::get_state` and
//! `Raft::read_index`, asked of the judged process that runs the peer.

use std::sync::Arc;

use crate::judged::{Answer, Judged};
use crate::protocol::{Members, Refusal, ToPeer};

/// A handle on a running peer's process. Cheap to clone.
#[derive(Clone)]
pub(crate) struct RemoteRaft {
    process: Arc<Judged>,
}

impl RemoteRaft {
    pub(crate) fn new(process: Arc<Judged>) -> RemoteRaft {
        RemoteRaft { process }
    }

    /// `Raft::start(command)`; `None` as well if the process has died (the
    /// death itself fails the test).
    pub(crate) fn start(&self, command: Vec<u8>) -> Option<(u64, u64)> {
        match self.process.ask(|req| ToPeer::Start { req, command }) {
            Some(Answer::Started(result)) => result,
            _ => None,
        }
    }

    /// `Raft::read_index()`; `None` as well if the process has died.
    pub(crate) fn read_index(&self) -> Option<u64> {
        match self.process.ask(|req| ToPeer::ReadIndex { req }) {
            Some(Answer::ReadIndexed(index)) => index,
            _ => None,
        }
    }

    /// `Raft::change_membership(members)`; refused as not leader as well if
    /// the process has died.
    pub(crate) fn change_membership(&self, members: Vec<usize>) -> Result<(), Refusal> {
        match self
            .process
            .ask(|req| ToPeer::ChangeMembership { req, members })
        {
            Some(Answer::MembershipChanged(result)) => result,
            _ => Err(Refusal::NotLeader),
        }
    }

    /// `Raft::membership()`; `None` if the process has died.
    pub(crate) fn membership(&self) -> Option<Members> {
        match self.process.ask(|req| ToPeer::GetMembership { req }) {
            Some(Answer::Membership(members)) => Some(members),
            _ => None,
        }
    }

    /// Kills the peer's process (see [`Judged::kill`]).
    pub(crate) fn kill(&self) {
        self.process.kill();
    }

    /// `Raft::get_state()`; a dead process is a follower of term 0 (the
    /// death itself fails the test).
    pub(crate) fn get_state(&self) -> (u64, bool) {
        match self.process.ask(|req| ToPeer::GetState { req }) {
            Some(Answer::State(term, leader)) => (term, leader),
            _ => (0, false),
        }
    }
}
