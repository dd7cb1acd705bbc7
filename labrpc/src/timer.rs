//! A timer queue: one thread runs short tasks at their deadlines, so a call
//! that is only waiting out a simulated delay holds no thread of its own.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

type Task = Box<dyn FnOnce() + Send>;

struct Entry {
    deadline: Instant,
    seq: u64,
    task: Task,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed, so the max-heap pops the earliest deadline (then the oldest).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    next_seq: u64,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wakeup: Condvar,
}

/// Runs each scheduled task on the timer thread once its deadline passes.
/// Tasks must be brief: they hand work to the handler pool or complete a call.
pub(crate) struct Timer {
    shared: Arc<Shared>,
}

impl Timer {
    pub(crate) fn start() -> Timer {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        thread::Builder::new()
            .name("labrpc-timer".to_string())
            .spawn(move || run(&worker))
            .expect("labrpc: cannot spawn the timer thread");
        Timer { shared }
    }

    /// Runs `task` after `delay`. After `stop`, the task is dropped unrun.
    pub(crate) fn schedule(&self, delay: Duration, task: impl FnOnce() + Send + 'static) {
        let mut queue = self.shared.queue.lock();
        if queue.stopped {
            return;
        }
        let seq = queue.next_seq;
        queue.next_seq += 1;
        let deadline = Instant::now() + delay;
        let is_new_first = queue
            .heap
            .peek()
            .is_none_or(|first| deadline < first.deadline);
        queue.heap.push(Entry {
            deadline,
            seq,
            task: Box::new(task),
        });
        if is_new_first {
            self.shared.wakeup.notify_one();
        }
    }

    /// Stops the thread and drops every pending task.
    pub(crate) fn stop(&self) {
        let pending = {
            let mut queue = self.shared.queue.lock();
            queue.stopped = true;
            std::mem::take(&mut queue.heap)
        };
        self.shared.wakeup.notify_one();
        // Dropped outside the lock: dropping a task may complete a call.
        drop(pending);
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared) {
    let mut queue = shared.queue.lock();
    loop {
        if queue.stopped {
            return;
        }
        let now = Instant::now();
        match queue.heap.peek().map(|first| first.deadline) {
            Some(deadline) if deadline <= now => {
                let entry = queue.heap.pop().expect("peeked entry is present");
                drop(queue);
                // A panicking task must not take the timer down with it.
                let _ = catch_unwind(AssertUnwindSafe(entry.task));
                queue = shared.queue.lock();
            }
            Some(deadline) => {
                shared.wakeup.wait_until(&mut queue, deadline);
            }
            None => shared.wakeup.wait(&mut queue),
        }
    }
}
