//! A slot for one reply, that the waiting caller sleeps on.
//!
//! crossbeam's channels spin and then yield before they sleep; with dozens
//! of callers and idle handlers waiting on two cores, that yielding took
//! about a fifth of the CPU in the KV bench. A mutex and a condition
//! variable sleep at once.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

enum State<T> {
    Empty,
    Filled(T),
    /// The filler was dropped without a value.
    Abandoned,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

/// The end that puts the reply in; dropping it unfilled wakes the waiter
/// with nothing.
pub(crate) struct Filler<T> {
    inner: Arc<Inner<T>>,
}

/// The end that waits for the reply.
pub(crate) struct Waiter<T> {
    inner: Arc<Inner<T>>,
}

/// A new empty slot.
pub(crate) fn reply_slot<T>() -> (Filler<T>, Waiter<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State::Empty),
        changed: Condvar::new(),
    });
    (
        Filler {
            inner: Arc::clone(&inner),
        },
        Waiter { inner },
    )
}

impl<T> Filler<T> {
    /// Puts the reply in and wakes the waiter.
    pub(crate) fn fill(self, value: T) {
        *self.inner.state.lock() = State::Filled(value);
        self.inner.changed.notify_one();
    }
}

impl<T> Drop for Filler<T> {
    fn drop(&mut self) {
        let mut state = self.inner.state.lock();
        if matches!(*state, State::Empty) {
            *state = State::Abandoned;
            self.inner.changed.notify_one();
        }
    }
}

impl<T> Waiter<T> {
    /// Sleeps until the reply is in; `None` if the filler was dropped
    /// without one.
    pub(crate) fn wait(self) -> Option<T> {
        let mut state = self.inner.state.lock();
        loop {
            match std::mem::replace(&mut *state, State::Abandoned) {
                State::Filled(value) => return Some(value),
                State::Abandoned => return None,
                State::Empty => {
                    *state = State::Empty;
                    self.inner.changed.wait(&mut state);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn the_waiter_gets_the_value_filled_from_another_thread() {
        let (filler, waiter) = reply_slot();
        let filling = thread::spawn(move || filler.fill(7));
        assert_eq!(waiter.wait(), Some(7));
        filling.join().unwrap();
    }

    #[test]
    fn a_filler_dropped_unfilled_wakes_the_waiter_with_nothing() {
        let (filler, waiter) = reply_slot::<u32>();
        let dropping = thread::spawn(move || drop(filler));
        assert_eq!(waiter.wait(), None);
        dropping.join().unwrap();
    }
}
