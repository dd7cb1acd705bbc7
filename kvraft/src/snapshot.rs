// @solution-file 3B
//! The snapshot a KV server hands to Raft: its whole state machine,
//! duplicate table included, so exactly-once survives log trimming.

use crate::state_machine::StateMachine;

/// The bytes given to `Raft::snapshot`.
pub(crate) fn encode(machine: &StateMachine) -> Vec<u8> {
    postcard::to_allocvec(machine).expect("a KV state machine always serializes")
}

/// Restores a state machine from a snapshot Raft delivered. Empty bytes
/// stand for the initial state.
pub(crate) fn decode(bytes: &[u8]) -> Result<StateMachine, postcard::Error> {
    if bytes.is_empty() {
        return Ok(StateMachine::default());
    }
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{Op, Request};

    #[test]
    fn the_duplicate_table_survives_a_snapshot() {
        let mut machine = StateMachine::default();
        let append = Request {
            client: 9,
            seq: 1,
            op: Op::Append {
                key: "k".into(),
                value: "x".into(),
            },
        };
        machine.apply(&append);
        let mut restored = decode(&encode(&machine)).unwrap();
        assert_eq!(restored, machine);
        restored.apply(&append);
        let get = Request {
            client: 10,
            seq: 1,
            op: Op::Get { key: "k".into() },
        };
        assert_eq!(restored.apply(&get), "x");
    }

    #[test]
    fn empty_bytes_are_the_initial_state() {
        assert_eq!(decode(&[]).unwrap(), StateMachine::default());
    }

    #[test]
    fn a_truncated_snapshot_is_an_error() {
        let mut machine = StateMachine::default();
        machine.apply(&Request {
            client: 1,
            seq: 1,
            op: Op::Put {
                key: "key".into(),
                value: "value".into(),
            },
        });
        let bytes = encode(&machine);
        assert!(decode(&bytes[..bytes.len() - 3]).is_err());
    }
}
