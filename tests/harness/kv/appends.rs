//! Checks that a key's value holds the appends its clients made, each
//! exactly once and in each client's order (MIT's `checkClntAppends` and
//! `checkConcurrentAppends`), and that a client reads back exactly what it
//! appended; each failure points at the first append that is wrong and
//! ends with its likely causes.

use super::rules::{
    APPLY_FROM_LOG, DEDUP, DEDUP_IN_SNAPSHOT, READ_THROUGH_LOG, REPLY_COMMITTED_OP, WRONG_LEADER,
};
use crate::config::fail;
use crate::rules::{likely_causes, Rule};

/// How many characters a failure message quotes on each side of the place
/// it points at.
const CONTEXT_CHARS: usize = 40;

/// The value client `client` appends as its `j`-th append:
/// `"x <client> <j> y"`. The spaces make each one unique in a value (no
/// `"x 0 1 y"` inside `"x 0 11 y"`).
pub fn append_value(client: usize, j: usize) -> String {
    format!("x {client} {j} y")
}

/// Fails unless `value` holds client `client`'s appends `0..count`, each
/// exactly once and in order.
#[track_caller]
pub fn check_client_appends(client: usize, value: &str, count: usize) {
    if let Some(problem) = first_problem(client, value, count) {
        fail(format!(
            "{}{}",
            problem.describe(client, value),
            likely_causes(problem.causes())
        ));
    }
}

/// Fails unless `value` holds, for each client `i`, its appends
/// `0..counts[i]`, each exactly once and in that client's order.
#[track_caller]
pub fn check_concurrent_appends(value: &str, counts: &[usize]) {
    for (client, &count) in counts.iter().enumerate() {
        check_client_appends(client, value, count);
    }
}

/// Fails with "get wrong value" unless `read`, what client `client` read
/// from its own key `key`, is `expected`: its `count` appends so far. The
/// message says which append is missing, duplicated or out of order, and
/// quotes both values where they first differ.
#[track_caller]
pub fn check_own_read(client: usize, key: &str, expected: &str, count: usize, read: &str) {
    if read == expected {
        return;
    }
    let (what, causes): (String, &[Rule]) = match first_problem(client, read, count) {
        _ if expected.starts_with(read) => (
            format!(
                "the read is stale: it lacks the client's last {} appends, from {:?} on, which \
                 had all returned before this Get was sent",
                count - count_appends(client, read, count),
                append_value(client, count_appends(client, read, count))
            ),
            &[READ_THROUGH_LOG, WRONG_LEADER, REPLY_COMMITTED_OP],
        ),
        Some(problem) => (problem.sentence(client), problem.causes()),
        None => (
            "it holds text the client never appended to it".to_string(),
            &[APPLY_FROM_LOG, DEDUP],
        ),
    };
    let at = first_divergence(expected, read);
    fail(format!(
        "get wrong value: client {client}'s key {key:?} should hold exactly its own {count} \
         appends, in order, but {what}. The values first differ at byte {at}:\n  expected {}\n  \
         read     {}{}",
        excerpt(expected, at),
        excerpt(read, at),
        likely_causes(causes)
    ));
}

/// What is first wrong with a value's appends of one client.
#[derive(Debug, PartialEq, Eq)]
enum Problem {
    /// Append `j` is not in the value; `after` is where append `j - 1`
    /// ends, if `j > 0`.
    Missing { j: usize, after: Option<usize> },
    /// Append `j` is in the value at bytes `first` and `second` (at least).
    Duplicate {
        j: usize,
        first: usize,
        second: usize,
    },
    /// Append `j` is at byte `at`, before (or at) append `j - 1`, at
    /// `earlier`.
    WrongOrder { j: usize, at: usize, earlier: usize },
}

/// The first of client `client`'s appends `0..count` that `value` lacks,
/// holds twice, or holds out of order.
fn first_problem(client: usize, value: &str, count: usize) -> Option<Problem> {
    let mut previous: Option<(usize, usize)> = None; // (where it starts, its length)
    for j in 0..count {
        let wanted = append_value(client, j);
        let Some(at) = value.find(&wanted) else {
            return Some(Problem::Missing {
                j,
                after: previous.map(|(at, len)| at + len),
            });
        };
        if let Some(again) = value[at + 1..].find(&wanted) {
            return Some(Problem::Duplicate {
                j,
                first: at,
                second: at + 1 + again,
            });
        }
        if let Some((earlier, _)) = previous.filter(|&(earlier, _)| at <= earlier) {
            return Some(Problem::WrongOrder { j, at, earlier });
        }
        previous = Some((at, wanted.len()));
    }
    None
}

/// How many of client `client`'s first appends `value` holds in order
/// before the first problem (at most `count`).
fn count_appends(client: usize, value: &str, count: usize) -> usize {
    match first_problem(client, value, count) {
        Some(
            Problem::Missing { j, .. }
            | Problem::Duplicate { j, .. }
            | Problem::WrongOrder { j, .. },
        ) => j,
        None => count,
    }
}

impl Problem {
    /// The problem in a sentence, after "but".
    fn sentence(&self, client: usize) -> String {
        match *self {
            Problem::Missing { j, .. } => format!(
                "its append {:?} is missing: that Append returned, so it must have taken effect",
                append_value(client, j)
            ),
            Problem::Duplicate { j, .. } => format!(
                "its append {:?} took effect more than once: a retried request must not be \
                 applied twice",
                append_value(client, j)
            ),
            Problem::WrongOrder { j, .. } => format!(
                "its append {:?} comes before its append {:?}, which it made earlier",
                append_value(client, j),
                append_value(client, j - 1)
            ),
        }
    }

    /// The failure message: MIT's words first ("duplicate element",
    /// "wrong order"), then where in `value`.
    fn describe(&self, client: usize, value: &str) -> String {
        let (lead, place) = match *self {
            Problem::Missing { after, .. } => (
                "missing element",
                match after {
                    Some(at) => format!(
                        "the earlier appends end at byte {at}: {}",
                        excerpt(value, at)
                    ),
                    None => format!("the value: {}", excerpt(value, 0)),
                },
            ),
            Problem::Duplicate { first, second, .. } => (
                "duplicate element",
                format!(
                    "at byte {first}: {}\n  and at byte {second}: {}",
                    excerpt(value, first),
                    excerpt(value, second)
                ),
            ),
            Problem::WrongOrder { at, earlier, .. } => (
                "wrong order",
                format!(
                    "at byte {at}: {}\n  the earlier append at byte {earlier}: {}",
                    excerpt(value, at),
                    excerpt(value, earlier)
                ),
            ),
        };
        format!(
            "{lead}: client {client}'s key should hold its appends once each, in order, but {};\n  \
             {place}",
            self.sentence(client)
        )
    }

    /// The rules whose violation usually produces this problem.
    fn causes(&self) -> &'static [Rule] {
        match self {
            Problem::Missing { .. } => &[REPLY_COMMITTED_OP, APPLY_FROM_LOG, DEDUP],
            Problem::Duplicate { .. } => &[DEDUP, DEDUP_IN_SNAPSHOT, APPLY_FROM_LOG],
            Problem::WrongOrder { .. } => &[DEDUP, APPLY_FROM_LOG],
        }
    }
}

/// The byte offset where `a` and `b` first differ (a char boundary of both).
fn first_divergence(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|&((_, x), y)| x != y)
        .map_or_else(|| a.len().min(b.len()), |((at, _), _)| at)
}

/// `value` around byte `at`: up to [`CONTEXT_CHARS`] characters on each
/// side, `...` where it is cut, and the value's length.
fn excerpt(value: &str, at: usize) -> String {
    let at = floor_boundary(value, at.min(value.len()));
    let before: Vec<(usize, char)> = value[..at]
        .char_indices()
        .rev()
        .take(CONTEXT_CHARS)
        .collect();
    let start = before.last().map_or(at, |&(i, _)| i);
    let end = value[at..]
        .char_indices()
        .nth(CONTEXT_CHARS)
        .map_or(value.len(), |(i, _)| at + i);
    format!(
        "{}{:?}{} ({} bytes)",
        if start > 0 { "..." } else { "" },
        &value[start..end],
        if end < value.len() { "..." } else { "" },
        value.len()
    )
}

/// The largest char boundary of `value` at or below `at`.
fn floor_boundary(value: &str, mut at: usize) -> usize {
    while !value.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(appends: &[(usize, usize)]) -> String {
        appends.iter().map(|&(c, j)| append_value(c, j)).collect()
    }

    /// The message `check` fails with.
    fn failure(check: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(check).expect_err("the check should fail");
        payload.downcast_ref::<String>().cloned().expect("a String")
    }

    #[test]
    fn interleaved_clients_in_order_pass() {
        let value = value_of(&[(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]);
        assert_eq!(first_problem(0, &value, 3), None);
        assert_eq!(first_problem(1, &value, 2), None);
    }

    #[test]
    fn a_missing_append_is_named_with_where_the_earlier_ones_end() {
        let value = value_of(&[(0, 0), (0, 2)]);
        assert_eq!(
            first_problem(0, &value, 3),
            Some(Problem::Missing {
                j: 1,
                after: Some(7)
            })
        );
        let message = failure(|| check_client_appends(0, &value, 3));
        assert!(message.starts_with("missing element"), "{message}");
        assert!(message.contains("\"x 0 1 y\" is missing"), "{message}");
        assert!(message.contains("[kv-reply-committed-op]"), "{message}");
    }

    #[test]
    fn a_duplicate_append_is_shown_at_both_places() {
        let value = value_of(&[(0, 0), (0, 1), (0, 1)]);
        assert_eq!(
            first_problem(0, &value, 2),
            Some(Problem::Duplicate {
                j: 1,
                first: 7,
                second: 14
            })
        );
        let message = failure(|| check_client_appends(0, &value, 2));
        assert!(message.starts_with("duplicate element"), "{message}");
        assert!(
            message.contains("at byte 7: ") && message.contains("at byte 14: "),
            "{message}"
        );
        assert!(message.contains("[kv-dedup]"), "{message}");
    }

    #[test]
    fn appends_out_of_order_fail() {
        let value = value_of(&[(0, 1), (0, 0)]);
        assert_eq!(
            first_problem(0, &value, 2),
            Some(Problem::WrongOrder {
                j: 1,
                at: 0,
                earlier: 7
            })
        );
        let message = failure(|| check_client_appends(0, &value, 2));
        assert!(message.starts_with("wrong order"), "{message}");
    }

    #[test]
    fn a_longer_number_does_not_count_as_a_shorter_one() {
        let value = value_of(&[(0, 11)]);
        assert!(first_problem(0, &value, 2).is_some());
    }

    #[test]
    fn a_stale_read_names_the_first_append_it_lacks() {
        let appends: Vec<_> = (0..40).map(|j| (0, j)).collect();
        let expected = value_of(&appends);
        let read = value_of(&appends[..37]);
        let message = failure(|| check_own_read(0, "0", &expected, 40, &read));
        assert!(
            message.starts_with("get wrong value: client 0's key \"0\""),
            "{message}"
        );
        assert!(
            message.contains("lacks the client's last 3 appends, from \"x 0 37 y\" on"),
            "{message}"
        );
        assert!(message.contains("[kv-read-through-log]"), "{message}");
        // Quoted around the divergence, not whole.
        assert!(!message.contains(&expected[..100]), "{message}");
    }

    #[test]
    fn a_wrong_read_quotes_both_values_where_they_first_differ() {
        let appends: Vec<_> = (0..40).map(|j| (0, j)).collect();
        let expected = value_of(&appends);
        let mut doubled = appends.clone();
        doubled.insert(21, (0, 20));
        let read = value_of(&doubled);
        let message = failure(|| check_own_read(0, "0", &expected, 40, &read));
        assert!(
            message.contains("\"x 0 20 y\" took effect more than once"),
            "{message}"
        );
        let at = first_divergence(&expected, &read);
        assert!(
            message.contains(&format!("first differ at byte {at}")),
            "{message}"
        );
        assert!(
            message.contains("expected ...\"") && message.contains("read     ...\""),
            "{message}"
        );
        assert!(message.contains("[kv-dedup]"), "{message}");
    }

    #[test]
    fn a_read_with_foreign_text_says_so() {
        let expected = value_of(&[(0, 0)]);
        let read = format!("{expected}garbage");
        let message = failure(|| check_own_read(0, "0", &expected, 1, &read));
        assert!(
            message.contains("text the client never appended"),
            "{message}"
        );
    }

    #[test]
    fn excerpts_cut_long_values_and_respect_char_boundaries() {
        let value = "é".repeat(1000);
        let quoted = excerpt(&value, 501);
        assert!(
            quoted.starts_with("...\"") && quoted.ends_with("... (2000 bytes)"),
            "{quoted}"
        );
        assert!(quoted.len() < 300, "{quoted}");
        assert_eq!(excerpt("ab", 0), "\"ab\" (2 bytes)");
    }
}
