// @solution-file 2A
//! The protocol's decisions as pure functions of the state they read:
//! granting a vote, fitting a leader's entries into a follower's log,
//! jumping back after a rejection, the quorum of a configuration (joint
//! or not), and the leader's commit index.

use crate::log::Log;
use crate::membership::Membership;
use crate::rpc::{Conflict, RequestVoteArgs};

/// Whether to vote for `args`' candidate (Figure 2, RequestVote RPC), given
/// our term (after adopting a newer one from `args`), our vote in that
/// term, and our log: same term, no vote for anyone else, and a candidate
/// log at least as up to date as ours (§5.4.1: a later last term wins,
/// then a longer log).
pub(crate) fn grants_vote(
    term: u64,
    voted_for: Option<usize>,
    log: &Log,
    args: &RequestVoteArgs,
) -> bool {
    let up_to_date =
        (args.last_log_term, args.last_log_index) >= (log.last_term(), log.last_index());
    args.term == term && voted_for.is_none_or(|v| v == args.candidate) && up_to_date
}

/// Where a leader's `count` entries after `prev_index` fit in a follower's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fit {
    /// The logs match through `after`; the entries from position `skip` on
    /// go after it. Entries our snapshot covers are committed, hence equal
    /// to the leader's: they are skipped without a check.
    Matches { after: u64, skip: usize },
    /// The logs differ at `prev_index` (or ours is too short): the leader
    /// must back up.
    Conflict(Conflict),
}

/// The AppendEntries consistency check (Figure 2, step 2), with the
/// conflict a rejection reports for fast backtracking.
pub(crate) fn fit_entries(log: &Log, prev_index: u64, prev_term: u64, count: usize) -> Fit {
    let last_index = log.last_index();
    if prev_index > last_index {
        return Fit::Conflict(Conflict {
            term: None,
            first_index_of_term: last_index + 1,
            log_len: last_index,
        });
    }
    let snapshot_index = log.snapshot_index();
    if prev_index < snapshot_index {
        let skip = ((snapshot_index - prev_index) as usize).min(count);
        return Fit::Matches {
            after: prev_index + skip as u64,
            skip,
        };
    }
    match log.term_at(prev_index) {
        Some(term) if term == prev_term => Fit::Matches {
            after: prev_index,
            skip: 0,
        },
        term => Fit::Conflict(Conflict {
            term,
            first_index_of_term: log.first_index_of_term_at(prev_index),
            log_len: last_index,
        }),
    }
}

/// A leader's next index for a follower that rejected the entries after
/// `rejected_prev`: past the leader's last entry of the follower's
/// conflicting term if the leader has that term, else the follower's first
/// index of it, or just past the follower's log if that is too short.
/// Never the rejected index itself or later, never at or below a known match.
pub(crate) fn next_index_after_rejection(
    log: &Log,
    conflict: Conflict,
    rejected_prev: u64,
    match_index: u64,
) -> u64 {
    let hint = match conflict.term {
        None => conflict.log_len + 1,
        Some(term) => log
            .last_index_of_term(term)
            .map_or(conflict.first_index_of_term, |last| last + 1),
    };
    hint.min(rejected_prev).max(match_index + 1)
}

/// Whether the peers for which `agrees` holds decide for `config`: a
/// majority of its members, or in `C_old,new` a majority of `old` and a
/// majority of `new`, counted separately (§6 of the extended paper). Votes,
/// commits and leadership checks all ask this one rule.
pub(crate) fn is_quorum(config: &Membership, agrees: impl Fn(usize) -> bool) -> bool {
    let majority_of = |members: &[usize]| {
        let agreeing = members.iter().filter(|&&peer| agrees(peer)).count();
        2 * agreeing > members.len()
    };
    match config {
        Membership::Stable(members) => majority_of(members),
        Membership::Joint { old, new } => majority_of(old) && majority_of(new),
    }
}

/// The commit index a leader may adopt (Figure 2, the last rule for
/// leaders): the highest index held by a quorum of `config`
/// (`matched(peer)` is how far peer's log matches the leader's, the
/// leader's own being its last index), provided that entry is of the
/// leader's `term` (Figure 8 shows why); else `commit`.
pub(crate) fn leader_commit_index(
    config: &Membership,
    matched: impl Fn(usize) -> u64,
    log: &Log,
    term: u64,
    commit: u64,
) -> u64 {
    let held_by_quorum = config
        .voters()
        .into_iter()
        .map(&matched)
        .filter(|&index| is_quorum(config, |peer| matched(peer) >= index))
        .max()
        .unwrap_or(0);
    if held_by_quorum > commit && log.term_at(held_by_quorum) == Some(term) {
        held_by_quorum
    } else {
        commit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Entry;

    /// A log with entries of the given terms at indices 1, 2, ...
    fn log_of(terms: &[u64]) -> Log {
        let entries = terms
            .iter()
            .map(|&term| Entry::command(term, vec![]))
            .collect();
        Log::from_parts(0, 0, None, entries)
    }

    fn vote_request(
        term: u64,
        candidate: usize,
        last_index: u64,
        last_term: u64,
    ) -> RequestVoteArgs {
        RequestVoteArgs {
            term,
            candidate,
            last_log_index: last_index,
            last_log_term: last_term,
        }
    }

    #[test]
    fn a_vote_needs_the_same_term_a_free_vote_and_an_up_to_date_log() {
        let ours = log_of(&[1, 2, 2]);
        assert!(grants_vote(3, None, &ours, &vote_request(3, 1, 3, 2)));
        assert!(
            grants_vote(3, Some(1), &ours, &vote_request(3, 1, 3, 2)),
            "repeat vote"
        );
        assert!(
            !grants_vote(3, Some(2), &ours, &vote_request(3, 1, 3, 2)),
            "voted for another"
        );
        assert!(
            !grants_vote(4, None, &ours, &vote_request(3, 1, 3, 2)),
            "stale candidate"
        );
        assert!(
            !grants_vote(3, None, &ours, &vote_request(3, 1, 2, 2)),
            "shorter log"
        );
        assert!(
            !grants_vote(3, None, &ours, &vote_request(3, 1, 9, 1)),
            "older last term"
        );
        assert!(
            grants_vote(3, None, &ours, &vote_request(3, 1, 1, 3)),
            "newer last term"
        );
    }

    #[test]
    fn entries_fit_after_a_matching_prev() {
        let log = log_of(&[1, 1, 2]);
        assert_eq!(
            fit_entries(&log, 2, 1, 4),
            Fit::Matches { after: 2, skip: 0 }
        );
        assert_eq!(
            fit_entries(&log, 0, 0, 4),
            Fit::Matches { after: 0, skip: 0 }
        );
    }

    #[test]
    fn a_short_log_reports_its_length() {
        let log = log_of(&[1, 1]);
        let Fit::Conflict(conflict) = fit_entries(&log, 5, 1, 0) else {
            panic!("prev beyond the log must conflict");
        };
        assert_eq!((conflict.term, conflict.log_len), (None, 2));
    }

    #[test]
    fn a_mismatch_reports_the_term_and_where_it_starts() {
        let log = log_of(&[1, 2, 2, 2]);
        let Fit::Conflict(conflict) = fit_entries(&log, 4, 3, 1) else {
            panic!("different terms at prev must conflict");
        };
        assert_eq!(
            conflict,
            Conflict {
                term: Some(2),
                first_index_of_term: 2,
                log_len: 4
            }
        );
    }

    #[test]
    fn entries_inside_the_snapshot_are_skipped() {
        let mut log = log_of(&[1, 1, 1, 2]);
        log.compact_to(3, 1);
        assert_eq!(
            fit_entries(&log, 1, 1, 3),
            Fit::Matches { after: 3, skip: 2 }
        );
        assert_eq!(
            fit_entries(&log, 1, 1, 1),
            Fit::Matches { after: 2, skip: 1 }
        );
    }

    #[test]
    fn backtracking_skips_a_whole_term() {
        let leader = log_of(&[1, 1, 4, 4, 5, 5]);
        let conflict = |term, first| Conflict {
            term,
            first_index_of_term: first,
            log_len: 9,
        };
        // The leader has term 4: resume after its last entry of it.
        assert_eq!(
            next_index_after_rejection(&leader, conflict(Some(4), 3), 6, 0),
            5
        );
        // The leader lacks term 3: resume at the follower's first entry of it.
        assert_eq!(
            next_index_after_rejection(&leader, conflict(Some(3), 2), 6, 0),
            2
        );
        // The follower's log is too short.
        let short = Conflict {
            term: None,
            first_index_of_term: 3,
            log_len: 2,
        };
        assert_eq!(next_index_after_rejection(&leader, short, 6, 0), 3);
    }

    #[test]
    fn backtracking_stays_between_the_match_and_the_rejected_index() {
        let leader = log_of(&[1, 1, 2, 2]);
        let beyond = Conflict {
            term: Some(2),
            first_index_of_term: 3,
            log_len: 4,
        };
        assert_eq!(next_index_after_rejection(&leader, beyond, 3, 0), 3);
        let stale = Conflict {
            term: None,
            first_index_of_term: 1,
            log_len: 0,
        };
        assert_eq!(next_index_after_rejection(&leader, stale, 4, 2), 3);
    }

    fn stable(members: &[usize]) -> Membership {
        Membership::Stable(members.to_vec())
    }

    fn joint(old: &[usize], new: &[usize]) -> Membership {
        Membership::Joint {
            old: old.to_vec(),
            new: new.to_vec(),
        }
    }

    /// The commit index for peers matching through `matched[peer]`.
    fn commit_for(config: &Membership, matched: &[u64], log: &Log, term: u64, commit: u64) -> u64 {
        leader_commit_index(config, |peer| matched[peer], log, term, commit)
    }

    #[test]
    fn a_quorum_is_a_strict_majority_of_the_members() {
        let three = stable(&[0, 1, 2]);
        assert!(is_quorum(&three, |p| p < 2));
        assert!(!is_quorum(&three, |p| p == 0));
        let four = stable(&[0, 1, 2, 3]);
        assert!(!is_quorum(&four, |p| p < 2), "half is not a majority");
        assert!(!is_quorum(&three, |p| p > 2), "non-members do not count");
    }

    #[test]
    fn a_joint_quorum_needs_a_majority_of_each_configuration() {
        let change = joint(&[0, 1, 2], &[2, 3, 4]);
        assert!(is_quorum(&change, |p| [0, 2, 3].contains(&p)));
        assert!(
            !is_quorum(&change, |p| [0, 1, 3].contains(&p)),
            "a majority of old alone"
        );
        assert!(
            !is_quorum(&change, |p| [1, 3, 4].contains(&p)),
            "a majority of new alone"
        );
        assert!(
            !is_quorum(&change, |p| p >= 1 && p != 2),
            "three of five, but only one of old"
        );
    }

    #[test]
    fn a_leader_commits_what_a_majority_holds_of_its_own_term() {
        let log = log_of(&[1, 1, 2, 2, 2]);
        let three = stable(&[0, 1, 2]);
        assert_eq!(commit_for(&three, &[5, 4, 1], &log, 2, 0), 4);
        let five = stable(&[0, 1, 2, 3, 4]);
        assert_eq!(commit_for(&five, &[5, 1, 1, 4, 3], &log, 2, 0), 3);
        assert_eq!(commit_for(&three, &[5, 4, 1], &log, 2, 4), 4, "never back");
    }

    #[test]
    fn a_joint_commit_waits_for_both_majorities() {
        let log = log_of(&[1, 1, 1, 1, 1]);
        let change = joint(&[0, 1, 2], &[2, 3, 4]);
        // Old {0,1,2} holds 5 on 0 and 1; new {2,3,4} holds only 2 on 3 and 4.
        assert_eq!(commit_for(&change, &[5, 5, 0, 2, 2], &log, 1, 0), 2);
        // A leader outside new counts only towards old.
        let leaving = stable(&[1, 2, 3]);
        assert_eq!(commit_for(&leaving, &[5, 0, 3, 4, 0], &log, 1, 0), 3);
    }

    #[test]
    fn a_leader_never_counts_replicas_of_an_older_term() {
        // Figure 8: index 2 (term 1) is on a majority, but this leader is in term 3.
        let log = log_of(&[1, 1, 3]);
        let three = stable(&[0, 1, 2]);
        assert_eq!(commit_for(&three, &[3, 2, 0], &log, 3, 0), 0);
        assert_eq!(commit_for(&three, &[3, 3, 0], &log, 3, 0), 3);
    }
}
