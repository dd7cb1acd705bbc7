//! Cluster configurations (lab 2E): which peers vote, and why a change
//! request may be refused.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use raft_messages::Membership;

/// Why [`Raft::change_membership`](crate::Raft::change_membership) refused
/// a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipError {
    /// This peer does not lead: ask the leader.
    NotLeader,
    /// An earlier change has not finished (its new servers are still
    /// catching up, or `C_old,new` or `C_new` has not committed yet).
    ChangeInProgress,
    /// The requested members are not a configuration: empty, repeated, or
    /// not indices of `peers`. The message says which.
    Invalid(String),
}

impl fmt::Display for MembershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MembershipError::NotLeader => write!(f, "this peer is not the leader"),
            MembershipError::ChangeInProgress => {
                write!(f, "a membership change is already in progress")
            }
            MembershipError::Invalid(why) => write!(f, "invalid membership: {why}"),
        }
    }
}

impl std::error::Error for MembershipError {}

/// Checks that `members` names a configuration of a cluster of
/// `peer_count` peers, and returns it sorted.
pub fn validate_members(
    mut members: Vec<usize>,
    peer_count: usize,
) -> Result<Vec<usize>, MembershipError> {
    if members.is_empty() {
        return Err(MembershipError::Invalid("no members".into()));
    }
    if let Some(&stray) = members.iter().find(|&&m| m >= peer_count) {
        return Err(MembershipError::Invalid(format!(
            "peer {stray} is not one of the {peer_count} peers"
        )));
    }
    members.sort_unstable();
    if let Some(pair) = members.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(MembershipError::Invalid(format!(
            "peer {} is listed twice",
            pair[0]
        )));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_must_be_distinct_peers() {
        assert_eq!(validate_members(vec![2, 0, 1], 3), Ok(vec![0, 1, 2]));
        assert!(matches!(
            validate_members(vec![], 3),
            Err(MembershipError::Invalid(_))
        ));
        let stray = validate_members(vec![0, 5], 3).unwrap_err();
        assert_eq!(
            stray,
            MembershipError::Invalid("peer 5 is not one of the 3 peers".into())
        );
        let twice = validate_members(vec![1, 0, 1], 3).unwrap_err();
        assert_eq!(
            twice.to_string(),
            "invalid membership: peer 1 is listed twice"
        );
    }
}
