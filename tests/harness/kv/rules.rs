//! The rules of the KV service a failure can point to, in the style of
//! [`crate::rules`]: each has an id in brackets (`[kv-dedup]`) that failure
//! messages end with, among their likely causes, and that the mutant
//! catalogue names.

use crate::rules::Rule;

/// A retried Put or Append takes effect once.
pub const DEDUP: Rule = Rule {
    id: "kv-dedup",
    statement: "each clerk request carries (client id, sequence number); the state machine \
                remembers each client's latest applied sequence number and applies a Put or \
                Append that it has seen already (a retry) no second time",
    source: "lab 3A, duplicate detection; DESIGN.md, kvraft",
};

/// The duplicate table is part of every snapshot.
pub const DEDUP_IN_SNAPSHOT: Rule = Rule {
    id: "kv-dedup-snapshot",
    statement: "a snapshot holds the duplicate table with the key/value map, and a server that \
                installs a snapshot (on restart or from InstallSnapshot) restores both, so a \
                request retried after a snapshot is still recognised as a retry",
    source: "lab 3B; §7",
};

/// A reply goes only to the request committed at its index.
pub const REPLY_COMMITTED_OP: Rule = Rule {
    id: "kv-reply-committed-op",
    statement: "a leader answers a request only when the entry applied at the index start() \
                returned is that very request (same client and sequence number); if another \
                entry lands there, or its term changes, it lost leadership and answers \
                ErrWrongLeader so the clerk retries elsewhere",
    source: "lab 3A, \"detect that it has lost leadership\"; §8",
};

/// Reads go through the log.
pub const READ_THROUGH_LOG: Rule = Rule {
    id: "kv-read-through-log",
    statement: "a Get is answered only after an entry for it (or a read index confirmed by a \
                majority) has been committed and applied, never from the local state alone: \
                a leader cut off from the majority, or a follower, may hold stale data",
    source: "§8 (read-only operations); lab 3A",
};

/// Only the leader executes requests.
pub const WRONG_LEADER: Rule = Rule {
    id: "kv-wrong-leader",
    statement: "a server that is not the leader (start() returns None, or it is killed) \
                replies ErrWrongLeader at once and executes nothing; the clerk tries another \
                server",
    source: "lab 3A; §8",
};

/// Operations are applied in log order, each once, from what Raft delivers.
pub const APPLY_FROM_LOG: Rule = Rule {
    id: "kv-apply-from-log",
    statement: "every server applies exactly the committed entries Raft delivers on apply_ch, \
                in order, skipping none and applying none twice (a snapshot at or below the \
                last applied index is ignored)",
    source: "lab 3A; Figure 2, lastApplied",
};

/// The server snapshots before its Raft state outgrows the bound.
pub const SNAPSHOT_WHEN_FULL: Rule = Rule {
    id: "kv-snapshot-when-full",
    statement: "with max_raft_state set, the server hands Raft a snapshot once the persisted \
                Raft state reaches max_raft_state bytes, and Raft trims its log up to it; \
                without it, the server never snapshots",
    source: "lab 3B",
};

/// A read is answered only after a majority confirms leadership anew.
pub const READ_INDEX_CONFIRMED: Rule = Rule {
    id: "read-index-confirmed",
    statement: "read_index answers only once a majority has acknowledged heartbeats the leader \
                sent after the read began: a leader cut off in a minority still believes it \
                leads, and a newer leader may have committed writes it has not seen",
    source: "§8 (read-only operations, second precaution); thesis §6.4, step 3",
};

/// A read index covers an entry of the leader's own term.
pub const READ_INDEX_OWN_TERM: Rule = Rule {
    id: "read-index-own-term",
    statement: "a leader serves reads only once an entry of its own term has committed (the \
                service may write a no-op for it): until then its commit index may miss entries \
                an earlier leader committed, e.g. after every server restarted",
    source: "§8 (read-only operations, first precaution); thesis §6.4, step 1",
};

/// Reads waiting at once share heartbeat rounds.
pub const READ_ROUNDS_SHARED: Rule = Rule {
    id: "read-rounds-shared",
    statement: "reads that arrive while a round of heartbeats is being gathered wait for one \
                round together; a read does not send heartbeats of its own",
    source: "thesis §6.4 (batching read-only requests)",
};

/// A read is answered from a state that has applied its read index.
pub const READ_AFTER_APPLY: Rule = Rule {
    id: "read-after-apply",
    statement: "the server answers a Get only once its state machine has applied every entry \
                up to the read index; the commit index runs ahead of what the apply thread has \
                reached",
    source: "thesis §6.4, step 4",
};

/// Gets write nothing.
pub const READ_WRITES_NOTHING: Rule = Rule {
    id: "read-writes-nothing",
    statement: "a Get uses read_index and is answered without an entry in the log (at most one \
                no-op per term, to commit an entry of the term); only Puts and Appends go \
                through the log",
    source: "lab 3C; §8",
};
