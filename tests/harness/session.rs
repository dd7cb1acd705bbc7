//! Per-test discipline, shared by the Raft and KV configs: one test at a
//! time per process, a 120 s limit, the `Test (..): ...` and `Passed` lines,
//! and a failure report (seed, recent log lines, and the files holding the
//! run's events) when a test fails.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};
use runlog::Kind;

use crate::cpu_time::{self, CpuMark};
use crate::{completion, cpu, judged, logcapture, runrecord};

/// The most a test may take, from the creation of its config to `end()`.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// When a test is still running this long after it started (hung in a
/// harness call, or in a `Raft::kill` that never returns), the watchdog
/// prints the failure report and ends the process, so nothing hangs.
const WATCHDOG_LIMIT: Duration = Duration::from_secs(125);

/// The exit code of a process ended by the watchdog (the code of a failed
/// `cargo test` binary).
const WATCHDOG_EXIT_CODE: i32 = 101;

/// How often the watchdog asks the test's probe for a problem.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// How long a problem the probe reports may wait for the test thread to
/// raise it; past that, the test thread is taken to be stuck in a call
/// into student code, and the watchdog fails the test itself.
const RAISE_PATIENCE: Duration = Duration::from_secs(2);

/// A check the watchdog runs on its own thread: `Some(message)` when the
/// test has failed.
type Probe = Box<dyn Fn() -> Option<String> + Send>;

/// `cargo test` runs tests on several threads; these tests are
/// timing-sensitive, so they take turns: a test waits while another holds
/// the [`Turn`].
static TURN_TAKEN: Mutex<bool> = parking_lot::const_mutex(false);
static TURN_FREED: Condvar = Condvar::new();

/// The right to run: one test of the process holds it at a time.
struct Turn;

impl Turn {
    fn take() -> Turn {
        let mut taken = TURN_TAKEN.lock();
        while *taken {
            TURN_FREED.wait(&mut taken);
        }
        *taken = true;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *TURN_TAKEN.lock() = false;
        TURN_FREED.notify_one();
    }
}

/// A running test. Every config (Raft or KV) makes one when it is created
/// and holds it until it is dropped.
///
/// While it lives, no other test of the process runs. Dropping it during a
/// panic prints the failure report: the test, the network seed to replay
/// (`LABRPC_SEED=<seed>`) and the last log lines of each peer. Dropping it
/// without a panic and without [`passed`](Session::passed) fails the test:
/// a test must end with `end()`.
pub struct Session {
    started: Instant,
    /// The CPU clocks when the test started.
    cpu_at_start: CpuMark,
    info: Arc<Mutex<Info>>,
    passed: AtomicBool,
    /// Dropping it tells the watchdog the test is over.
    _watchdog: Sender<()>,
    /// Released last, once the test has cleaned up.
    _turn: Turn,
}

/// Starts the line a graded test prints last: `RAFT_LABS_CPU=<cpu> <wall>`,
/// the judged processes' CPU seconds and the test's wall seconds.
const CPU_LINE: &str = "RAFT_LABS_CPU=";

/// What the failure report says about the test, and the watchdog's probe.
struct Info {
    started: Instant,
    title: Option<String>,
    seed: Option<u64>,
    probe: Option<Probe>,
    /// When the current begin..end stretch began, and the CPU clocks then.
    stretch: (Instant, CpuMark),
}

impl Info {
    fn report(&self, verdict: &str) -> String {
        let title = self
            .title
            .as_deref()
            .unwrap_or("(a test that had not called begin)");
        let seed = match self.seed {
            Some(seed) => format!("replay with LABRPC_SEED={seed}"),
            None => "no network was made yet".to_string(),
        };
        format!(
            "---- {title}: {verdict} after {:.1} s; {seed} ----\n{}{}",
            self.started.elapsed().as_secs_f64(),
            logcapture::tails(),
            runrecord::save_failed_run(title, self.seed)
        )
    }
}

impl Session {
    /// Waits for the tests before this one to finish, then starts this
    /// test's clock, its watchdog and its log capture.
    pub fn start() -> Session {
        let turn = Turn::take();
        // Before any student code runs: see `completion`.
        completion::claim_token();
        cpu::share_one_cpu();
        logcapture::start_test();
        runrecord::start_test();
        let started = Instant::now();
        let info = Arc::new(Mutex::new(Info {
            started,
            title: None,
            seed: None,
            probe: None,
            stretch: (started, CpuMark::now()),
        }));
        let (watchdog, test_over) = crossbeam_channel::bounded::<()>(0);
        let watched = Arc::clone(&info);
        thread::Builder::new()
            .name("test-watchdog".into())
            .spawn(move || watch(&watched, &test_over, started))
            .expect("cannot start the test watchdog thread");
        Session {
            started,
            cpu_at_start: CpuMark::now(),
            info,
            passed: AtomicBool::new(false),
            _watchdog: watchdog,
            _turn: turn,
        }
    }

    /// Gives the watchdog a probe to run every quarter second: a problem it
    /// reports that the test thread has not raised within 2 s (because
    /// that thread is stuck inside a call into a deadlocked peer) fails the
    /// test from the watchdog, with the probe's message and the report.
    pub fn watch(&self, probe: impl Fn() -> Option<String> + Send + 'static) {
        self.info.lock().probe = Some(Box::new(probe));
    }

    /// Takes the probe back: the test is ending, and its config is shutting
    /// the peers down.
    pub fn unwatch(&self) {
        self.info.lock().probe = None;
    }

    /// Records the network seed, for the failure report.
    /// Under the grader it is also printed at once, so a run killed at its
    /// timeout still names the seed that replays it.
    pub fn set_seed(&self, seed: u64) {
        self.info.lock().seed = Some(seed);
        if completion::graded() {
            print_now(&format!("LABRPC_SEED={seed}\n"));
        }
    }

    /// Prints `Test (2A): <desc> ...`; the part comes from the test
    /// binary's name (`lab2a` gives `2A`).
    pub fn begin(&self, desc: &str) {
        let title = match part_of_this_binary() {
            Some(part) => format!("Test ({part}): {desc}"),
            None => format!("Test: {desc}"),
        };
        print_now(&format!("{title} ...\n"));
        runrecord::record(
            None,
            None,
            Kind::Begin {
                title: title.clone(),
            },
        );
        let mut info = self.info.lock();
        info.title = Some(title);
        info.stretch = (Instant::now(), CpuMark::now());
        drop(info);
        // A test may hold several begin/end pairs; each begin needs its end.
        self.passed.store(false, Ordering::SeqCst);
    }

    /// Prints `warning: <message>` at once: something a student should
    /// look at that does not fail the test.
    pub fn warn(&self, message: &str) {
        print_now(&format!("warning: {message}\n"));
    }

    /// Time since the test's config was made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Fails the test if it has run longer than [`TIME_LIMIT`].
    #[track_caller]
    pub fn check_time(&self) {
        if self.elapsed() > TIME_LIMIT {
            panic!("test took longer than {} seconds", TIME_LIMIT.as_secs());
        }
    }

    /// Declares the test passed and prints `  ... Passed --  <summary>
    /// <cpu>`, `<cpu>` being the seconds of CPU the judged processes (the
    /// code under test) used since `begin`; warns if that was more than a
    /// core's worth ([`cpu_time::BUSY_SHARE`]). The one place where a test
    /// passes: every config's `end()` calls it.
    #[track_caller]
    pub fn passed(&self, summary: &str) {
        self.check_time();
        self.passed.store(true, Ordering::SeqCst);
        let (since, mark) = self.info.lock().stretch;
        let used = mark.used();
        print_now(&format!(
            "  ... Passed --  {summary}  {:5.2}\n",
            used.judged.as_secs_f64()
        ));
        if let Some(warning) = cpu_time::busy_warning(used.judged, since.elapsed()) {
            self.warn(&warning);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if completion::graded() {
            // For the grader's per-test CPU column: the code under test's
            // CPU seconds over the test's wall seconds.
            print_now(&format!(
                "{CPU_LINE}{:.3} {:.3}\n",
                self.cpu_at_start.used().judged.as_secs_f64(),
                self.started.elapsed().as_secs_f64()
            ));
        }
        if thread::panicking() {
            eprint!("{}", self.info.lock().report("FAILED"));
        } else if !self.passed.load(Ordering::SeqCst) {
            panic!("the test returned without calling end(), so it cannot count as passed");
        } else {
            // The test function returned after its last end(): only now is
            // the whole test passed.
            completion::record_pass();
        }
    }
}

/// The watchdog: ends the process with the failure report when the test
/// runs past [`WATCHDOG_LIMIT`], or when its probe's problem stays unraised.
fn watch(info: &Mutex<Info>, test_over: &crossbeam_channel::Receiver<()>, started: Instant) {
    let mut unraised_since: Option<Instant> = None;
    loop {
        match test_over.recv_timeout(PROBE_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let verdict = if started.elapsed() > WATCHDOG_LIMIT {
            Some("HUNG (the harness ends the process)".to_string())
        } else {
            let problem = info.lock().probe.as_ref().and_then(|probe| probe());
            match problem {
                None => {
                    unraised_since = None;
                    None
                }
                Some(problem) => {
                    let since = *unraised_since.get_or_insert_with(Instant::now);
                    (since.elapsed() > RAISE_PATIENCE).then(|| {
                        format!(
                            "FAILED: {problem}\n(the test itself is stuck in a call into the \
                             peers, so the harness ends the process)"
                        )
                    })
                }
            }
        };
        if let Some(verdict) = verdict {
            runrecord::failed(&verdict);
            let report = info.lock().report(&verdict);
            // Straight to the process's stderr: libtest's capture would be
            // lost when the process exits.
            let _ = std::io::stderr().write_all(report.as_bytes());
            judged::kill_all();
            std::process::exit(WATCHDOG_EXIT_CODE);
        }
    }
}

/// Prints at once, past libtest's output capture, as the Go tester does:
/// the progress lines show up while the suite runs.
fn print_now(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// `2A` for the binary of the `lab2a` test target (`lab2a-<hash>`).
fn part_of_this_binary() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let stem = exe.file_stem()?.to_str()?;
    let target = stem.split('-').next()?;
    let part = target.strip_prefix("lab")?;
    (!part.is_empty()).then(|| part.to_uppercase())
}
