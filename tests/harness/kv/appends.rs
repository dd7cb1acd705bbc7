//! Checks that a key's value holds the appends its clients made, each
//! exactly once and in each client's order (MIT's `checkClntAppends` and
//! `checkConcurrentAppends`).

use crate::config::fail;

/// How much of a long value a failure message quotes.
const QUOTED_TAIL_CHARS: usize = 160;

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
    if let Err(problem) = appends_in_order(client, value, count) {
        fail(problem);
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

fn appends_in_order(client: usize, value: &str, count: usize) -> Result<(), String> {
    let mut previous: Option<usize> = None;
    for j in 0..count {
        let wanted = append_value(client, j);
        let Some(at) = value.find(&wanted) else {
            return Err(format!(
                "client {client}'s append {wanted:?} is missing: it returned, so it must have \
                 taken effect ({})",
                describe(value)
            ));
        };
        if value.rfind(&wanted) != Some(at) {
            return Err(format!(
                "duplicate element: client {client}'s append {wanted:?} took effect more than \
                 once; a retried request must not be applied twice ({})",
                describe(value)
            ));
        }
        if previous.is_some_and(|p| at <= p) {
            return Err(format!(
                "wrong order: client {client}'s append {wanted:?} comes before its earlier \
                 appends ({})",
                describe(value)
            ));
        }
        previous = Some(at);
    }
    Ok(())
}

fn describe(value: &str) -> String {
    let tail_start = value
        .char_indices()
        .rev()
        .nth(QUOTED_TAIL_CHARS)
        .map_or(0, |(i, _)| i);
    if tail_start == 0 {
        format!("the value is {value:?}")
    } else {
        format!(
            "the value has {} bytes and ends with {:?}",
            value.len(),
            &value[tail_start..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(appends: &[(usize, usize)]) -> String {
        appends.iter().map(|&(c, j)| append_value(c, j)).collect()
    }

    #[test]
    fn interleaved_clients_in_order_pass() {
        let value = value_of(&[(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]);
        assert_eq!(appends_in_order(0, &value, 3), Ok(()));
        assert_eq!(appends_in_order(1, &value, 2), Ok(()));
    }

    #[test]
    fn a_missing_append_fails() {
        let value = value_of(&[(0, 0), (0, 2)]);
        let problem = appends_in_order(0, &value, 3).unwrap_err();
        assert!(problem.contains("\"x 0 1 y\" is missing"), "{problem}");
    }

    #[test]
    fn a_duplicate_append_fails() {
        let value = value_of(&[(0, 0), (0, 1), (0, 1)]);
        let problem = appends_in_order(0, &value, 2).unwrap_err();
        assert!(problem.starts_with("duplicate element"), "{problem}");
    }

    #[test]
    fn appends_out_of_order_fail() {
        let value = value_of(&[(0, 1), (0, 0)]);
        let problem = appends_in_order(0, &value, 2).unwrap_err();
        assert!(problem.starts_with("wrong order"), "{problem}");
    }

    #[test]
    fn a_longer_number_does_not_count_as_a_shorter_one() {
        let value = value_of(&[(0, 11)]);
        assert!(appends_in_order(0, &value, 2).is_err());
    }

    #[test]
    fn long_values_are_quoted_by_their_tail() {
        let value = "a".repeat(1000);
        let description = describe(&value);
        assert!(description.contains("1000 bytes"), "{description}");
        assert!(description.len() < 300, "{description}");
    }
}
