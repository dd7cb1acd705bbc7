//! An elastic thread pool for handlers: a job never waits behind a blocked
//! one, because a submitter either claims an idle worker or starts a new one.
//!
//! Idle workers sleep on a condition variable, not a channel: a channel's
//! receiver spins and yields before it sleeps, and a pool has many idle
//! workers (see `reply_slot`).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// How long a worker waits for work before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(2);

struct Shared {
    queue: Mutex<Queue>,
    queued: Condvar,
    /// Workers waiting for a job that no submitter has claimed yet.
    idle: AtomicUsize,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The pool was dropped: workers leave once the queue is empty.
    closed: bool,
}

/// An elastic thread pool: [`execute`](Pool::execute) hands a job to an
/// idle worker, or starts one, so a job that blocks never delays another.
/// The network runs handlers on one; a process that serves calls for a
/// network elsewhere can run them on one too. Idle workers leave after 2 s.
pub struct Pool {
    shared: Arc<Shared>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new()
    }
}

impl Pool {
    /// A pool with no workers yet.
    pub fn new() -> Pool {
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::default(),
                queued: Condvar::new(),
                idle: AtomicUsize::new(0),
            }),
        }
    }

    /// Runs `job` on a worker thread, at once.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(job);
        let mut idle = self.shared.idle.load(Ordering::Acquire);
        while idle > 0 {
            match self.shared.idle.compare_exchange_weak(
                idle,
                idle - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // A claimed worker is waiting: it will take this job.
                    self.shared.queue.lock().jobs.push_back(job);
                    self.shared.queued.notify_one();
                    return;
                }
                Err(now) => idle = now,
            }
        }
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name("labrpc-handler".to_string())
            .spawn(move || work(job, &shared));
        if let Err(e) = spawned {
            log::error!("labrpc: cannot start a handler thread: {e}");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.queue.lock().closed = true;
        self.shared.queued.notify_all();
    }
}

fn work(first: Job, shared: &Shared) {
    let mut job = first;
    loop {
        // A panic is already turned into an RpcError by the service; this
        // only keeps a worker alive if something else unwinds.
        let _ = catch_unwind(AssertUnwindSafe(job));
        shared.idle.fetch_add(1, Ordering::AcqRel);
        let mut queue = shared.queue.lock();
        job = loop {
            if let Some(next) = queue.jobs.pop_front() {
                break next;
            }
            if queue.closed {
                return;
            }
            if shared.queued.wait_for(&mut queue, IDLE_EXIT).timed_out() {
                // Leave only if no submitter has claimed this idle slot;
                // a claimed slot means a job is on its way.
                if try_decrement(&shared.idle) {
                    return;
                }
            }
        };
        drop(queue);
    }
}

fn try_decrement(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}
