//! Joining a test's helper threads (KV clients, churn clients,
//! partitioners, detached clerk calls) so that a failure in one of them is the test's failure,
//! with that thread's own message, not `Any { .. }` after a join.

use std::any::Any;
use std::panic;
use std::thread::{self, JoinHandle, Result, ScopedJoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// A thread handle [`join_or_fail`] can join: a [`JoinHandle`] or a
/// [`ScopedJoinHandle`].
pub trait TestThread<T> {
    /// The thread's name, if it has one.
    fn name(&self) -> Option<String>;
    /// Waits for the thread to end: its result, or its panic's payload.
    fn join_thread(self) -> Result<T>;
}

impl<T> TestThread<T> for JoinHandle<T> {
    fn name(&self) -> Option<String> {
        self.thread().name().map(str::to_owned)
    }

    fn join_thread(self) -> Result<T> {
        self.join()
    }
}

impl<T> TestThread<T> for ScopedJoinHandle<'_, T> {
    fn name(&self) -> Option<String> {
        self.thread().name().map(str::to_owned)
    }

    fn join_thread(self) -> Result<T> {
        self.join()
    }
}

/// Joins a test's helper thread and returns what it returned. If it
/// panicked, the caller panics with the same message (a `String` or
/// `&str` payload; a thread with a name gets it appended), so the test
/// fails with the thread's words; any other payload is re-raised as is.
#[track_caller]
pub fn join_or_fail<T>(thread: impl TestThread<T>) -> T {
    let name = thread.name();
    match thread.join_thread() {
        Ok(value) => value,
        Err(payload) => match (panic_message(payload.as_ref()), name) {
            (Some(message), Some(name)) => panic!("{message}\n(in thread {name:?})"),
            (Some(message), None) => panic!("{message}"),
            (None, _) => panic::resume_unwind(payload),
        },
    }
}

/// A clerk call running in a thread of its own, detached so that a failure
/// elsewhere does not wait for a request stuck in a minority.
pub struct Detached {
    finished: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Detached {
    /// Runs `call` in a thread of its own.
    pub fn spawn(call: impl FnOnce() + Send + 'static) -> Detached {
        let (done, finished) = crossbeam_channel::bounded(1);
        let thread = thread::spawn(move || {
            call();
            let _ = done.send(());
        });
        Detached {
            finished,
            thread: Some(thread),
        }
    }

    /// Whether the call has completed by `deadline`. A call that panicked
    /// fails the test with its own message.
    #[track_caller]
    pub fn finished_by(&mut self, deadline: Instant) -> bool {
        match self.finished.recv_deadline(deadline) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                // The thread ended without sending: it panicked, or it
                // finished and was asked before.
                if let Some(thread) = self.thread.take() {
                    join_or_fail(thread);
                }
                true
            }
        }
    }
}

/// The message of a panic's payload, if it is a string.
fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    /// The message `run` panics with.
    fn failure(run: impl FnOnce() + panic::UnwindSafe) -> String {
        let payload = panic::catch_unwind(run).expect_err("it should have panicked");
        panic_message(payload.as_ref())
            .expect("a string payload")
            .to_string()
    }

    #[test]
    fn a_thread_that_returns_gives_its_value() {
        assert_eq!(join_or_fail(thread::spawn(|| 7)), 7);
    }

    #[test]
    fn a_formatted_panic_becomes_the_callers_message() {
        let message = failure(|| {
            join_or_fail(thread::spawn(|| panic!("get wrong value: {}", 42)));
        });
        assert_eq!(message, "get wrong value: 42");
    }

    #[test]
    fn a_literal_panic_of_a_scoped_thread_becomes_the_callers_message() {
        let message = failure(|| {
            thread::scope(|scope| join_or_fail(scope.spawn(|| panic!("duplicate element"))));
        });
        assert_eq!(message, "duplicate element");
    }

    #[test]
    fn a_named_thread_is_named() {
        let message = failure(|| {
            let named = thread::Builder::new().name("client 3".into());
            join_or_fail(named.spawn(|| panic!("lost")).unwrap());
        });
        assert_eq!(message, "lost\n(in thread \"client 3\")");
    }

    #[test]
    fn another_payload_is_raised_unchanged() {
        let payload = panic::catch_unwind(|| {
            join_or_fail(thread::spawn(|| panic::panic_any(17_u32)));
        })
        .expect_err("it should have panicked");
        assert_eq!(payload.downcast_ref::<u32>(), Some(&17));
    }
}
