// @solution-file 2E
//! Membership changes by joint consensus (§6 of the extended paper): the
//! leader catches new servers up as learners, appends `C_old,new`, and once
//! that commits, `C_new`; a leader outside `C_new` steps down once `C_new`
//! commits.
//!
//! Which configuration is in force is the log's business (`log.rs`: the
//! latest configuration entry, committed or not); how a configuration
//! decides is one rule (`rules::is_quorum`).

use std::time::Instant;

use crate::log::Entry;
use crate::membership::{validate_members, Membership, MembershipError};
use crate::state::{Core, Role};

impl Core {
    /// The configuration in force: the latest in the log or its snapshot,
    /// else the initial one.
    pub fn membership(&self) -> &Membership {
        self.log
            .membership()
            .map_or(&self.initial_membership, |(_, membership)| membership)
    }

    /// Whether a configuration entry in our log has not committed yet.
    fn change_uncommitted(&self) -> bool {
        self.log
            .membership()
            .is_some_and(|(index, _)| index > self.commit_index)
    }

    /// A leader accepts a change from its stable configuration to
    /// `members`: new servers first catch up as learners (or, with none,
    /// `C_old,new` is appended at once).
    pub fn change_membership(&mut self, members: Vec<usize>) -> Result<(), MembershipError> {
        if !self.is_leader() {
            return Err(MembershipError::NotLeader);
        }
        let members = validate_members(members, self.peer_count)?;
        let catching_up = matches!(
            &self.role,
            Role::Leader(leadership) if leadership.catching_up.is_some()
        );
        let Membership::Stable(old) = self.membership() else {
            return Err(MembershipError::ChangeInProgress);
        };
        if catching_up || self.change_uncommitted() {
            return Err(MembershipError::ChangeInProgress);
        }
        if *old == members {
            return Ok(());
        }
        peer_log!(debug, self, "change {:?} -> {members:?} requested", old);
        if let Role::Leader(leadership) = &mut self.role {
            leadership.catching_up = Some(members);
        }
        self.advance_membership_change();
        Ok(())
    }

    /// A new leader finishes what its predecessor began: a configuration
    /// entry still uncommitted in its log is appended again in its own term,
    /// so that it commits (an earlier term's entry commits only under one of
    /// the leader's own) and the change goes on without waiting for a
    /// client's command.
    pub fn resume_membership_change(&mut self) {
        if self.change_uncommitted() {
            let membership = self.membership().clone();
            self.append_membership(membership);
        }
    }

    /// Moves a change along, on the leader: learners caught up (they hold
    /// every committed entry) lead to `C_old,new`; a committed `C_old,new`
    /// to `C_new`; a committed `C_new` without us to stepping down.
    pub fn advance_membership_change(&mut self) {
        let Role::Leader(leadership) = &self.role else {
            return;
        };
        if let Some(new) = &leadership.catching_up {
            let caught_up = new.iter().all(|&peer| {
                peer == self.me
                    || self.membership().contains(peer)
                    || leadership.progress[peer].match_index >= self.commit_index
            });
            if caught_up {
                let old = self.membership().voters();
                let new = new.clone();
                if let Role::Leader(leadership) = &mut self.role {
                    leadership.catching_up = None;
                }
                self.append_membership(Membership::Joint { old, new });
            }
            return;
        }
        if self.change_uncommitted() {
            return;
        }
        match self.membership().clone() {
            Membership::Joint { new, .. } => self.append_membership(Membership::Stable(new)),
            Membership::Stable(members) if !members.contains(&self.me) => {
                peer_log!(debug, self, "steps down: not in {members:?}");
                self.become_follower(Instant::now());
            }
            Membership::Stable(_) => {}
        }
    }

    fn append_membership(&mut self, membership: Membership) {
        let index = self.log.append(Entry::membership(self.term, membership));
        self.dirty = true;
        peer_log!(debug, self, "appends {} at {index}", self.membership());
    }
}
