// @solution-file 2A
//! How often a peer acts: heartbeats, election timeouts, batch sizes.

use std::time::Duration;

use rand::Rng;

/// A leader's heartbeat period: the tests allow at most ten per second per
/// follower.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

/// Election timeouts are drawn from this range (ms). Several heartbeats fit
/// in the shortest, so one or two lost heartbeats do not start an election,
/// and the longest leaves room for split votes within the tests' 5 s bound.
const ELECTION_TIMEOUT_MS: std::ops::Range<u64> = 300..600;

/// The shortest election timeout: a peer that heard from a current leader
/// this recently ignores RequestVotes, so that a server removed from the
/// configuration cannot depose a working leader (§6 of the extended paper).
pub(crate) const MIN_ELECTION_TIMEOUT: Duration = Duration::from_millis(ELECTION_TIMEOUT_MS.start);

/// A leader that has heard from no majority of its peers for this long
/// declines new commands: they could not commit until it hears from a
/// majority again, and it has most likely been replaced. Several
/// heartbeats long, so lost messages alone rarely trigger it.
pub(crate) const QUORUM_TIMEOUT: Duration = Duration::from_millis(400);

/// How long `read_index` waits for a majority to confirm leadership and
/// for an entry of the leader's term to commit before answering `None`: a
/// leader cut off from the majority answers no read. Several heartbeats
/// long, so lost messages alone rarely trigger it.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// The most entries one AppendEntries carries, so a far-behind follower
/// catches up in bounded steps rather than one huge message.
pub(crate) const MAX_ENTRIES_PER_APPEND: usize = 512;

/// The most AppendEntries a leader has unanswered to one follower whose
/// log it knows to match its own: it sends new entries without waiting for
/// the replies to earlier ones (pipelining).
pub(crate) const MAX_APPENDS_IN_FLIGHT: usize = 4;

/// The fewest new entries a leader sends to a follower that has an
/// AppendEntries unanswered already; fewer wait for the answer, and go
/// out together with whatever else was started meanwhile.
pub(crate) const PIPELINED_BATCH: usize = 64;

/// The most entries a leader appends before it saves them, whether or
/// not a commit needs its copy yet.
pub(crate) const MAX_UNSAVED_OWN_ENTRIES: u64 = 64;

/// The most committed entries the applier takes per turn of the lock.
pub(crate) const MAX_APPLY_BATCH: u64 = 256;

/// A fresh random election timeout.
pub(crate) fn election_timeout() -> Duration {
    Duration::from_millis(rand::rng().random_range(ELECTION_TIMEOUT_MS))
}
