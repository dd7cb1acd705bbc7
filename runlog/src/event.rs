//! One event of a test run, as the harness records it, and the JSON-lines
//! form it is saved in: one event per line, in the order they happened.

use std::fmt;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

/// Something that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the test began.
    pub t: f64,
    /// The peer (server) it is about, if any: `2` for S2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<usize>,
    /// The peer's term, when the event tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// What happened.
    #[serde(flatten)]
    pub kind: Kind,
}

/// The kinds of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// The test began: its title (`Test (2C): Figure 8 (unreliable)`).
    Begin {
        /// The title.
        title: String,
    },
    /// A line a peer logged.
    Log {
        /// `ERROR` ... `TRACE`.
        level: String,
        /// The log target (`raft::election`): the topic the viewers colour
        /// and filter by.
        topic: String,
        /// The line, without the peer and term prefix.
        text: String,
    },
    /// A line a peer printed to its standard output or error.
    Output {
        /// The line.
        text: String,
    },
    /// What a peer said of itself when the harness asked: leader or not,
    /// in the event's term.
    State {
        /// Whether it believes it leads.
        leader: bool,
    },
    /// A peer applied a command at `index`.
    Applied {
        /// The log index.
        index: u64,
        /// The term of the entry applied, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry_term: Option<u64>,
    },
    /// A peer installed a snapshot up to `index`.
    Snapshot {
        /// The last index the snapshot covers.
        index: u64,
        /// The term of that entry, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry_term: Option<u64>,
    },
    /// The harness started (or restarted) the peer.
    Started,
    /// The harness crashed the peer; `cleanup` when it was the test's end,
    /// not part of the scenario.
    Crashed {
        /// Killed while cleaning up after the test.
        #[serde(default)]
        cleanup: bool,
    },
    /// The harness connected the peer to the network.
    Connected,
    /// The harness cut the peer off the network.
    Disconnected,
    /// A change to the network as a whole (unreliable, long reordering, a
    /// partition), in words.
    Network {
        /// What changed.
        text: String,
    },
    /// The check that failed the test, with its message.
    Failed {
        /// The failure message.
        message: String,
    },
}

impl Event {
    /// The event as one line of JSON, without the newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }
}

/// A line of an events file that is not an event.
#[derive(Debug)]
pub struct ReadError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ReadError {}

/// Reads an events file: one event per line; blank lines are skipped.
pub fn read_events(reader: impl BufRead) -> Result<Vec<Event>, ReadError> {
    let mut events = Vec::new();
    for (at, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| ReadError {
            line: at + 1,
            message: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|e| ReadError {
            line: at + 1,
            message: format!("not an event: {e}"),
        })?;
        events.push(event);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_a_round_trip() {
        let events = vec![
            Event {
                t: 0.0,
                peer: None,
                term: None,
                kind: Kind::Begin {
                    title: "Test (2A): initial election".into(),
                },
            },
            Event {
                t: 0.25,
                peer: Some(2),
                term: Some(3),
                kind: Kind::Log {
                    level: "DEBUG".into(),
                    topic: "raft::election".into(),
                    text: "becomes leader".into(),
                },
            },
            Event {
                t: 0.5,
                peer: Some(1),
                term: Some(3),
                kind: Kind::Applied {
                    index: 7,
                    entry_term: Some(2),
                },
            },
            Event {
                t: 1.0,
                peer: Some(0),
                term: None,
                kind: Kind::Crashed { cleanup: true },
            },
            Event {
                t: 1.5,
                peer: None,
                term: None,
                kind: Kind::Failed {
                    message: "two leaders".into(),
                },
            },
        ];
        let text: String = events.iter().map(|e| e.to_json_line() + "\n").collect();
        assert!(
            text.starts_with(r#"{"t":0.0,"kind":"begin","title":"#),
            "{text}"
        );
        assert_eq!(read_events(text.as_bytes()).unwrap(), events);
    }

    #[test]
    fn a_bad_line_is_named() {
        let text = "{\"t\":0.0,\"kind\":\"started\",\"peer\":1}\n\nnot json\n";
        let error = read_events(text.as_bytes()).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(
            error.to_string().starts_with("line 3: not an event"),
            "{error}"
        );
    }
}
