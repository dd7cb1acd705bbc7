//! Histories: the operations clients ran, with when each was called and
//! when it returned, and the recorder that clerk threads append them to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One completed client operation: what was asked, what came back, and the
/// interval in which it took effect.
///
/// Times are offsets from the `t0` of the [`Recorder`] that recorded the
/// operation, so only operations from one recorder can be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Which client ran the operation; one client runs one operation at a time.
    pub client_id: usize,
    /// What the client asked for.
    pub input: I,
    /// What the client got back.
    pub output: O,
    /// When the client called the service.
    pub called_at: Duration,
    /// When the call returned to the client.
    pub returned_at: Duration,
}

/// A thread-safe log of completed operations, timed by one monotonic clock.
///
/// Cloning a recorder yields another handle to the same log, so each clerk
/// thread can hold its own. Recording costs two clock reads and one short
/// lock.
pub struct Recorder<I, O> {
    shared: Arc<Shared<I, O>>,
}

struct Shared<I, O> {
    t0: Instant,
    operations: Mutex<Vec<Operation<I, O>>>,
}

impl<I, O> Recorder<I, O> {
    /// A new, empty log whose clock starts now.
    pub fn new() -> Self {
        Recorder {
            shared: Arc::new(Shared {
                t0: Instant::now(),
                operations: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The time on this log's clock: how long since the log was created.
    pub fn now(&self) -> Duration {
        self.shared.t0.elapsed()
    }

    /// Appends an operation timed with [`Recorder::now`].
    pub fn record(&self, operation: Operation<I, O>) {
        self.shared.operations.lock().push(operation);
    }

    /// Runs `operation` as client `client_id`, records it with `input`, the
    /// output it returned and its call and return times, and returns that
    /// output.
    pub fn record_call(&self, client_id: usize, input: I, operation: impl FnOnce() -> O) -> O
    where
        O: Clone,
    {
        let called_at = self.now();
        let output = operation();
        let returned_at = self.now();
        self.record(Operation {
            client_id,
            input,
            output: output.clone(),
            called_at,
            returned_at,
        });
        output
    }

    /// A copy of every operation recorded so far.
    pub fn history(&self) -> Vec<Operation<I, O>>
    where
        I: Clone,
        O: Clone,
    {
        self.shared.operations.lock().clone()
    }
}

impl<I, O> Clone for Recorder<I, O> {
    fn clone(&self) -> Self {
        Recorder {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<I, O> Default for Recorder<I, O> {
    fn default() -> Self {
        Recorder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn record_call_times_the_call_and_keeps_its_output() {
        let recorder: Recorder<&str, u32> = Recorder::new();
        let output = recorder.record_call(7, "ask", || {
            thread::sleep(Duration::from_millis(5));
            42
        });
        assert_eq!(output, 42);
        let history = recorder.history();
        assert_eq!(history.len(), 1);
        let operation = &history[0];
        assert_eq!(
            (operation.client_id, operation.input, operation.output),
            (7, "ask", 42)
        );
        assert!(operation.returned_at - operation.called_at >= Duration::from_millis(5));
    }

    #[test]
    fn clones_share_one_log_across_threads() {
        let recorder: Recorder<usize, ()> = Recorder::new();
        let clerks: Vec<_> = (0..4)
            .map(|client_id| {
                let recorder = recorder.clone();
                thread::spawn(move || {
                    for step in 0..100 {
                        recorder.record_call(client_id, step, || ());
                    }
                })
            })
            .collect();
        for clerk in clerks {
            clerk.join().unwrap();
        }
        let history = recorder.history();
        assert_eq!(history.len(), 400);
        for client_id in 0..4 {
            let own: Vec<_> = history
                .iter()
                .filter(|op| op.client_id == client_id)
                .collect();
            assert_eq!(own.len(), 100);
            // A client's operations never overlap and keep their order.
            for pair in own.windows(2) {
                assert!(pair[0].returned_at <= pair[1].called_at);
                assert_eq!(pair[0].input + 1, pair[1].input);
            }
        }
    }
}
