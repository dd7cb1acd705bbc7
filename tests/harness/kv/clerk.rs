//! A test's clerk: a `kvraft::Clerk`, in a judged process of its own,
//! whose every operation is counted and recorded for the linearizability
//! check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::fail;
use crate::judged::{Answer, FirstDeath, Judged};
use crate::protocol::{ClerkOp, ToPeer};
use lincheck::KvRecorder;

/// The names of a clerk's ends, `[j]` reaching server j. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClerkEnds {
    names: Arc<[String]>,
}

impl ClerkEnds {
    pub(super) fn new(names: Vec<String>) -> ClerkEnds {
        ClerkEnds {
            names: names.into(),
        }
    }

    /// The name of the end that reaches server `j`.
    pub(super) fn to(&self, j: usize) -> &str {
        &self.names[j]
    }
}

/// A clerk made by [`Config::make_client`](super::Config::make_client),
/// with its own ends to every server.
///
/// Its operations go into the test's history (as client [`id`](Self::id))
/// and into the op count of the Passed line.
pub struct TestClerk {
    process: Arc<Judged>,
    id: usize,
    ends: ClerkEnds,
    history: KvRecorder,
    ops: Arc<AtomicUsize>,
    /// The config's record of the first process death.
    death: FirstDeath,
}

impl TestClerk {
    pub(super) fn new(
        process: Arc<Judged>,
        id: usize,
        ends: ClerkEnds,
        history: KvRecorder,
        ops: Arc<AtomicUsize>,
        death: FirstDeath,
    ) -> TestClerk {
        TestClerk {
            process,
            id,
            ends,
            history,
            ops,
            death,
        }
    }

    /// Runs `op` in the clerk's process. A death of any process of the
    /// test fails it here: a dead clerk cannot answer, and a dead server
    /// should not be left to show later as a confusing symptom.
    #[track_caller]
    fn run(process: &Judged, death: &FirstDeath, op: ClerkOp) -> String {
        let answer = process.ask(|req| ToPeer::Clerk { req, op });
        death.check();
        match answer {
            Some(Answer::ClerkDone(value)) => value,
            _ => fail("a clerk process ended without answering"),
        }
    }

    /// This clerk's client id in the recorded history.
    pub fn id(&self) -> usize {
        self.id
    }

    /// This clerk's ends, to connect or disconnect them with
    /// [`Config::connect_client`](super::Config::connect_client) even while
    /// another thread runs the clerk.
    pub fn ends(&self) -> ClerkEnds {
        self.ends.clone()
    }

    /// `Clerk::get`, recorded.
    #[track_caller]
    pub fn get(&mut self, key: &str) -> String {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let (process, death) = (&self.process, &self.death);
        self.history.get(self.id, key, || {
            Self::run(process, death, ClerkOp::Get(key.to_string()))
        })
    }

    /// `Clerk::put`, recorded.
    #[track_caller]
    pub fn put(&mut self, key: &str, value: &str) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let (process, death) = (&self.process, &self.death);
        self.history.put(self.id, key, value, || {
            Self::run(process, death, ClerkOp::Put(key.into(), value.into()));
        });
    }

    /// `Clerk::append`, recorded.
    #[track_caller]
    pub fn append(&mut self, key: &str, value: &str) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let (process, death) = (&self.process, &self.death);
        self.history.append(self.id, key, value, || {
            Self::run(process, death, ClerkOp::Append(key.into(), value.into()));
        });
    }

    /// Gets `key` and fails the test unless it reads `expected`.
    #[track_caller]
    pub fn check(&mut self, key: &str, expected: &str) {
        let value = self.get(key);
        if value != expected {
            fail(format!(
                "get({key:?}) returned {value:?}, expected {expected:?}"
            ));
        }
    }
}
