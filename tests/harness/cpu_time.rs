//! CPU time: what the judged processes (the student's code) and the judge
//! consume, for each test's summary line and its busy-loop warning.
//!
//! A judged process's time is read from `/proc/<pid>/stat` while it runs,
//! and once more when it has exited, just before it is reaped; the sum
//! over processes alive now and processes ended is a clock that only goes
//! forward, so a test takes the difference between its start and its end.

use std::fs;
use std::time::Duration;

use parking_lot::Mutex;

/// A share of one core above which the judged processes' CPU draws a
/// warning. A test and its processes share one core (see `cpu.rs`), of
/// which a thread that never sleeps takes most. The reference's peers use
/// about 1 % in 2A and at most 61 % in the KV tests, whose clerks run at
/// full speed. A test sharing its core with others (the grader with more
/// jobs than cores) gets less of it, so a busy loop may stay under this.
pub(crate) const BUSY_SHARE: f64 = 0.8;

/// The judged processes alive (their pids, which are also their process
/// groups), and the CPU time of those that ended.
struct Ledger {
    alive: Vec<i32>,
    ended: Duration,
}

static LEDGER: Mutex<Ledger> = parking_lot::const_mutex(Ledger {
    alive: Vec::new(),
    ended: Duration::ZERO,
});

/// Notes a judged process that has just started.
pub(crate) fn started(pid: i32) {
    LEDGER.lock().alive.push(pid);
}

/// Notes that the judged process `pid` has exited (it is not reaped yet,
/// so its times are still readable): its CPU time moves to the ended sum.
pub(crate) fn ended(pid: i32) {
    let mut ledger = LEDGER.lock();
    let used = process_cpu(pid).unwrap_or_default();
    ledger.ended += used;
    ledger.alive.retain(|&alive| alive != pid);
}

/// The process groups of the judged processes alive now.
pub(crate) fn alive() -> Vec<i32> {
    LEDGER.lock().alive.clone()
}

/// The CPU time every judged process of this test binary has used so far.
pub(crate) fn judged_cpu() -> Duration {
    let ledger = LEDGER.lock();
    let alive: Duration = ledger
        .alive
        .iter()
        .filter_map(|&pid| process_cpu(pid))
        .sum();
    ledger.ended + alive
}

/// The CPU time the judge (this process, every thread) has used so far.
pub(crate) fn judge_cpu() -> Duration {
    // SAFETY: getrusage writes one rusage, which is zeroed before.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// User plus system time of process `pid`, all its threads, from
/// `/proc/<pid>/stat` (fields 14 and 15, in clock ticks).
fn process_cpu(pid: i32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, fields) = stat.rsplit_once(')')?;
    let mut fields = fields.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|&t| t > 0)?;
    Some(Duration::from_nanos(
        (user + system) * 1_000_000_000 / ticks,
    ))
}

/// CPU clocks at one moment, to measure a stretch of a test.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuMark {
    judged: Duration,
    judge: Duration,
}

/// CPU used over a stretch of a test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CpuUsed {
    /// By the judged processes: the student's code.
    pub judged: Duration,
    /// By the judge: network, checks, harness.
    pub judge: Duration,
}

impl CpuMark {
    /// The clocks now.
    pub(crate) fn now() -> CpuMark {
        CpuMark {
            judged: judged_cpu(),
            judge: judge_cpu(),
        }
    }

    /// What was used since this mark.
    pub(crate) fn used(&self) -> CpuUsed {
        let now = CpuMark::now();
        CpuUsed {
            judged: now.judged.saturating_sub(self.judged),
            judge: now.judge.saturating_sub(self.judge),
        }
    }
}

/// The busy-loop warning for peers that used `judged` CPU over `wall`, if
/// that is more than [`BUSY_SHARE`] of a core.
pub(crate) fn busy_warning(judged: Duration, wall: Duration) -> Option<String> {
    let share = judged.as_secs_f64() / wall.as_secs_f64().max(1e-3);
    (share > BUSY_SHARE).then(|| {
        format!(
            "your code used {:.1} s of CPU in {:.1} s ({:.0} % of a core): look for a thread \
             that never sleeps (a loop that polls state or a channel without blocking, an \
             applier that spins while there is nothing to apply); the tests are timing \
             sensitive and a busy peer starves the others",
            judged.as_secs_f64(),
            wall.as_secs_f64(),
            share * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_some_cpu() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(process_cpu(pid).unwrap() > Duration::ZERO);
        assert!(judge_cpu() >= Duration::from_millis(20));
        assert_eq!(process_cpu(-1), None);
    }

    #[test]
    fn a_peer_busy_for_a_whole_core_is_named() {
        let wall = Duration::from_secs(10);
        assert_eq!(busy_warning(Duration::from_millis(300), wall), None);
        let warning = busy_warning(Duration::from_secs(25), wall).unwrap();
        assert!(
            warning.contains("25.0 s of CPU in 10.0 s (250 % of a core)"),
            "{warning}"
        );
    }
}
