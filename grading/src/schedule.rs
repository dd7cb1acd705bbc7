//! Runs jobs on a fixed number of worker threads, in order, reporting each
//! start and finish to the calling thread as they happen.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

/// What happened to a job.
pub enum Event<'a, J, R> {
    /// Worker `slot` started `job`.
    Started {
        /// The worker, `0..workers`.
        slot: usize,
        /// The job.
        job: &'a J,
    },
    /// Worker `slot` finished `job` with `result`.
    Finished {
        /// The worker, `0..workers`.
        slot: usize,
        /// The job.
        job: &'a J,
        /// What `work` returned.
        result: R,
    },
}

/// Runs `work` on every job, at most `workers` at once, taking jobs in
/// order. `on_event` runs on the calling thread for every start and
/// finish; when it returns `Break`, no further job starts (those running
/// finish and are reported).
pub fn run<J, R, W, E>(jobs: &[J], workers: usize, work: W, mut on_event: E)
where
    J: Sync,
    R: Send,
    W: Fn(&J) -> R + Sync,
    E: FnMut(Event<'_, J, R>) -> ControlFlow<()>,
{
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (events, received) = mpsc::channel::<(usize, usize, Option<R>)>();
    thread::scope(|scope| {
        for slot in 0..workers.clamp(1, jobs.len().max(1)) {
            let events = events.clone();
            let (next, stop, work) = (&next, &stop, &work);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= jobs.len() || stop.load(Ordering::SeqCst) {
                    break;
                }
                let _ = events.send((slot, index, None));
                let result = work(&jobs[index]);
                let _ = events.send((slot, index, Some(result)));
            });
        }
        drop(events);
        for (slot, index, result) in received {
            let job = &jobs[index];
            let event = match result {
                None => Event::Started { slot, job },
                Some(result) => Event::Finished { slot, job, result },
            };
            if on_event(event).is_break() {
                stop.store(true, Ordering::SeqCst);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_every_job_with_at_most_workers_at_once() {
        let jobs: Vec<u64> = (0..12).collect();
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let mut done = Vec::new();
        run(
            &jobs,
            3,
            |&job| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if job == 0 {
                    // The first job waits for a second one to run beside it.
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while most.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
                thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                job * 2
            },
            |event| {
                match event {
                    Event::Started { slot, .. } => assert!(slot < 3),
                    Event::Finished { job, result, .. } => {
                        assert_eq!(result, job * 2);
                        done.push(*job);
                    }
                }
                ControlFlow::Continue(())
            },
        );
        done.sort();
        assert_eq!(done, jobs);
        let most = most.into_inner();
        assert!((2..=3).contains(&most), "{most} jobs ran at once");
    }

    #[test]
    fn break_stops_further_jobs() {
        let jobs: Vec<u32> = (0..50).collect();
        let mut finished = 0;
        run(
            &jobs,
            2,
            |_| thread::sleep(Duration::from_millis(5)),
            |event| match event {
                Event::Finished { .. } => {
                    finished += 1;
                    ControlFlow::Break(())
                }
                Event::Started { .. } => ControlFlow::Continue(()),
            },
        );
        assert!(finished < 10, "{finished} jobs finished after a break");
    }
}
