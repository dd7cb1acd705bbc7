//! A test's clerk: a `kvraft::Clerk` whose every operation is counted and
//! recorded for the linearizability check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kvraft::Clerk;

use crate::config::fail;
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
    clerk: Clerk,
    id: usize,
    ends: ClerkEnds,
    history: KvRecorder,
    ops: Arc<AtomicUsize>,
}

impl TestClerk {
    pub(super) fn new(
        clerk: Clerk,
        id: usize,
        ends: ClerkEnds,
        history: KvRecorder,
        ops: Arc<AtomicUsize>,
    ) -> TestClerk {
        TestClerk {
            clerk,
            id,
            ends,
            history,
            ops,
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
    pub fn get(&mut self, key: &str) -> String {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let clerk = &mut self.clerk;
        self.history.get(self.id, key, || clerk.get(key))
    }

    /// `Clerk::put`, recorded.
    pub fn put(&mut self, key: &str, value: &str) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let clerk = &mut self.clerk;
        self.history
            .put(self.id, key, value, || clerk.put(key, value));
    }

    /// `Clerk::append`, recorded.
    pub fn append(&mut self, key: &str, value: &str) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let clerk = &mut self.clerk;
        self.history
            .append(self.id, key, value, || clerk.append(key, value));
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
