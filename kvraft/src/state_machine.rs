// @solution-file 3A
//! The replicated state: the key/value map and the duplicate table, changed
//! only by applying committed requests in log order.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::rpc::{Op, Request};

/// What every replica computes from the same log prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StateMachine {
    data: HashMap<String, String>,
    /// Per clerk, the highest sequence number applied. A clerk has one
    /// operation outstanding at a time, so a request at or below it is a
    /// retry of something already done.
    last_seq: HashMap<u64, u64>,
}

impl StateMachine {
    /// Applies a committed request and returns what a Get reads (`""` for
    /// Put and Append). A retried Put or Append is not applied again; a
    /// retried Get reads again, which is still within the Get's lifetime.
    pub fn apply(&mut self, request: &Request) -> String {
        if request.op == Op::Noop {
            return String::new();
        }
        let last = self.last_seq.entry(request.client).or_insert(0);
        let duplicate = request.seq <= *last;
        *last = (*last).max(request.seq);
        match &request.op {
            Op::Get { key } => self.get(key),
            _ if duplicate => String::new(),
            Op::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                String::new()
            }
            Op::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                String::new()
            }
            Op::Noop => String::new(),
        }
    }

    /// The value of `key` (`""` if missing), as applied so far.
    pub fn get(&self, key: &str) -> String {
        self.data.get(key).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(client: u64, seq: u64, op: Op) -> Request {
        Request { client, seq, op }
    }

    fn get(key: &str) -> Op {
        Op::Get { key: key.into() }
    }

    fn append(key: &str, value: &str) -> Op {
        Op::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_missing_key_reads_empty() {
        let mut machine = StateMachine::default();
        assert_eq!(machine.apply(&request(1, 1, get("nothing"))), "");
    }

    #[test]
    fn put_replaces_and_append_extends() {
        let mut machine = StateMachine::default();
        let put = Op::Put {
            key: "k".into(),
            value: "a".into(),
        };
        machine.apply(&request(1, 1, put));
        machine.apply(&request(1, 2, append("k", "b")));
        assert_eq!(machine.apply(&request(1, 3, get("k"))), "ab");
    }

    #[test]
    fn a_retried_append_is_applied_once() {
        let mut machine = StateMachine::default();
        machine.apply(&request(1, 1, append("k", "x")));
        machine.apply(&request(1, 1, append("k", "x")));
        assert_eq!(machine.apply(&request(2, 1, get("k"))), "x");
    }

    #[test]
    fn a_late_copy_of_an_older_request_is_ignored() {
        let mut machine = StateMachine::default();
        machine.apply(&request(1, 1, append("k", "a")));
        machine.apply(&request(1, 2, append("k", "b")));
        machine.apply(&request(1, 1, append("k", "a")));
        assert_eq!(machine.apply(&request(2, 1, get("k"))), "ab");
    }

    #[test]
    fn clerks_are_deduplicated_separately() {
        let mut machine = StateMachine::default();
        machine.apply(&request(1, 1, append("k", "a")));
        machine.apply(&request(2, 1, append("k", "b")));
        assert_eq!(machine.apply(&request(3, 1, get("k"))), "ab");
    }

    #[test]
    fn a_noop_changes_nothing_and_names_no_clerk() {
        let mut machine = StateMachine::default();
        machine.apply(&request(1, 1, append("k", "a")));
        let before = machine.clone();
        machine.apply(&request(0, 0, Op::Noop));
        assert_eq!(machine, before);
    }

    #[test]
    fn a_retried_get_reads_the_current_value() {
        let mut machine = StateMachine::default();
        machine.apply(&request(1, 1, get("k")));
        machine.apply(&request(2, 1, append("k", "v")));
        assert_eq!(machine.apply(&request(1, 1, get("k"))), "v");
    }
}
