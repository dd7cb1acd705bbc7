//! The judge's hold on one judged process: a Raft peer, KV server or clerk
//! running student code in the `judged` binary, started by the judge and
//! reached only over a socket (see [`crate::protocol`]).
//!
//! The judge routes the process's calls through its own network, keeps its
//! persisted bytes, hands its applied messages to the checks, and labels
//! its log lines and output. A crash is `SIGKILL` of the process's group:
//! what it sent before is kept, and nothing after.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use labrpc::{ClientEnd, OnReply, RpcError, Server};
use parking_lot::Mutex;
use runlog::Kind;

use crate::protocol::{read_frame, write_frame, Applied, FromPeer, Members, Refusal, Role, ToPeer};
use crate::referee::Referee;
use crate::{cpu_time, logcapture, runrecord};

/// Names the `judged` binary, when it is not beside the test's own
/// directory (`target/<profile>/judged`, where cargo puts it).
pub const JUDGED_ENV: &str = "RAFT_LABS_JUDGED";

/// The variables a judged process inherits; nothing else of the judge's
/// environment (in particular nothing the grader gave the judge) reaches it.
const PASSED_ENV: [&str; 5] = ["PATH", "TMPDIR", "RUST_LOG", "RUST_BACKTRACE", "LANG"];

/// How long a killed process may take to be reaped and to have its last
/// messages read; past that, its socket is shut and the rest ignored.
const KILL_PATIENCE: Duration = Duration::from_secs(2);

/// How long a process that closed its socket may take to exit by itself
/// before it is killed.
const EXIT_PATIENCE: Duration = Duration::from_millis(500);

/// How long a write to a process may wait for it to read: past that, it has
/// stopped reading the judge's messages, and is killed.
const WRITE_PATIENCE: Duration = Duration::from_secs(5);

/// Kills every judged process still alive: the judge is about to end
/// without its configs' cleanup (the watchdog ends a hung test).
pub(crate) fn kill_all() {
    for group in cpu_time::alive() {
        // SAFETY: one system call on a process group this process made.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// The judged binary: `$RAFT_LABS_JUDGED`, else `judged` in the directory
/// above the test binary's (`target/release/deps/lab2a-…` gives
/// `target/release/judged`).
fn judged_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(JUDGED_ENV) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps");
    profile_dir.join("judged")
}

/// An answer to a request of the judge (see [`Judged::ask`]).
#[derive(Debug)]
pub(crate) enum Answer {
    Started(Option<(u64, u64)>),
    State(u64, bool),
    ReadIndexed(Option<u64>),
    MembershipChanged(Result<(), Refusal>),
    Membership(Members),
    ClerkDone(String),
    CallTimes(Vec<Option<u64>>),
}

/// What a Raft peer applied or did on the judge's request, in order.
pub(crate) enum ApplyEvent {
    Applied(Applied),
    SnapshotTaken,
}

/// The judge's copy of one peer's persisted bytes: the copy that survives
/// a crash, handed to the next instance.
#[derive(Clone, Debug, Default)]
pub(crate) struct Disk {
    pub(crate) raft_state: Vec<u8>,
    pub(crate) snapshot: Vec<u8>,
}

/// The first failure found off the test thread: the death of a judged
/// process that the judge did not cause, or a message that breaks a rule
/// of the protocol (see [`crate::referee`]). The test fails with it. Cheap
/// to clone; clones share the record.
#[derive(Clone, Default)]
pub(crate) struct FirstDeath(Arc<Mutex<Option<String>>>);

impl FirstDeath {
    /// The death, if one happened.
    pub(crate) fn get(&self) -> Option<String> {
        self.0.lock().clone()
    }

    /// Fails the test if a process died.
    #[track_caller]
    pub(crate) fn check(&self) {
        if let Some(death) = self.get() {
            crate::config::fail(death);
        }
    }

    /// Records `problem`, unless a failure is already on record.
    pub(crate) fn record(&self, problem: String) {
        self.0.lock().get_or_insert(problem);
    }

    /// A [`Wiring::on_death`] that records here.
    pub(crate) fn recorder(&self) -> Box<dyn Fn(String) + Send> {
        let record = Arc::clone(&self.0);
        Box::new(move |problem| {
            record.lock().get_or_insert(problem);
        })
    }
}

/// What the judge connects a new process to.
pub(crate) struct Wiring {
    /// The judge's network ends for the process: its end `j` is `ends[j]`.
    pub(crate) ends: Vec<ClientEnd>,
    /// Where its saves go, for a peer or server.
    pub(crate) disk: Option<Arc<Mutex<Disk>>>,
    /// Where its applied messages go, for a Raft peer.
    pub(crate) applied: Option<Sender<ApplyEvent>>,
    /// Told why, if the process dies without the judge killing it.
    pub(crate) on_death: Box<dyn Fn(String) + Send>,
    /// Variables set for the process, besides those it inherits.
    pub(crate) env: Vec<(&'static str, String)>,
    /// The judge of the Raft messages it sends and answers, and its peer
    /// index; `None` for a process that hosts no Raft peer.
    pub(crate) referee: Option<(Arc<Referee>, usize)>,
}

/// A running judged process.
pub(crate) struct Judged {
    shared: Arc<Shared>,
    /// Disconnects when the reader has read the last message and reaped
    /// the process.
    finished: Receiver<()>,
    /// The judge's end of the socket, to shut it if a killed process's
    /// heir keeps it open.
    socket: UnixStream,
}

/// What the threads serving one process share.
struct Shared {
    label: String,
    /// The process's id, which is also its process group's.
    pid: i32,
    /// The judge's messages go out here, each frame whole, from whichever
    /// thread sends it: a network thread passing a call on, a test thread
    /// asking for the peer's state.
    out: Mutex<UnixStream>,
    /// Set when a write timed out: the process stopped reading.
    stalled: AtomicBool,
    killed: AtomicBool,
    next_id: AtomicU64,
    waiting: Mutex<Waiting>,
    /// The panic message the process sent before it died, if any.
    panic: Mutex<Option<String>>,
    /// See [`Wiring::referee`].
    referee: Option<(Arc<Referee>, usize)>,
}

/// The calls and requests sent to the process and not yet answered.
#[derive(Default)]
struct Waiting {
    /// Once set, nothing more is sent: the process has ended.
    gone: bool,
    calls: HashMap<u64, OnReply>,
    requests: HashMap<u64, Sender<Answer>>,
}

impl Judged {
    /// Starts the `judged` binary as `label` (e.g. `S2`) hosting `role`.
    pub(crate) fn spawn(label: &str, role: Role, wiring: Wiring) -> Result<Judged, String> {
        let binary = judged_binary();
        let (socket, theirs) =
            UnixStream::pair().map_err(|e| format!("cannot make a socket for {label}: {e}"))?;
        let mut command = Command::new(&binary);
        command
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_clear()
            .envs(PASSED_ENV.iter().filter_map(|var| {
                let value: OsString = std::env::var_os(var)?;
                Some((var, value))
            }))
            .envs(wiring.env.iter().map(|(var, value)| (var, value)))
            .process_group(0);
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot start {label} ({}): {e}; build it with the tests (cargo test builds it) \
                 or name it in {JUDGED_ENV}",
                binary.display()
            )
        })?;
        let io_error = |e: std::io::Error| format!("cannot set up {label}: {e}");
        let out = socket.try_clone().map_err(io_error)?;
        out.set_write_timeout(Some(WRITE_PATIENCE))
            .map_err(io_error)?;
        let reader = socket.try_clone().map_err(io_error)?;
        let pid = child.id() as i32;
        cpu_time::started(pid);
        let shared = Arc::new(Shared {
            label: label.to_string(),
            pid,
            out: Mutex::new(out),
            stalled: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            waiting: Mutex::new(Waiting::default()),
            panic: Mutex::new(None),
            referee: wiring.referee.clone(),
        });
        if let Some((referee, me)) = &wiring.referee {
            referee.started(*me);
        }
        for (stream, pipe) in [
            (
                "stdout",
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ),
            (
                "stderr",
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ),
        ] {
            if let Some(pipe) = pipe {
                let label = label.to_string();
                spawn_named(format!("{label}-{stream}"), move || {
                    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                        logcapture::judged_output(&label, stream, &line);
                    }
                });
            }
        }
        let (finished_tx, finished) = crossbeam_channel::bounded::<()>(0);
        {
            let shared = Arc::clone(&shared);
            spawn_named(format!("{label}-in"), move || {
                let _finished = finished_tx;
                let ended = shared.read_all(reader, &wiring);
                let status = reap(&mut child, shared.killed.load(Ordering::SeqCst));
                // The death is on record before anyone waiting hears of it.
                if !shared.killed.load(Ordering::SeqCst) {
                    (wiring.on_death)(shared.death(ended, status));
                }
                shared.close();
            });
        }
        shared.send(&ToPeer::Init(role));
        Ok(Judged {
            shared,
            finished,
            socket,
        })
    }

    /// A labrpc server that stands for this process's server on the
    /// judge's network: every call that reaches it goes to the process.
    pub(crate) fn server(&self) -> Server {
        let shared = Arc::clone(&self.shared);
        Server::forward(move |method, request, on_reply| {
            shared.forward_call(method, request, on_reply)
        })
    }

    /// Sends a request made by `make` from a fresh id, and waits for its
    /// answer; `None` if the process ends first.
    pub(crate) fn ask(&self, make: impl FnOnce(u64) -> ToPeer) -> Option<Answer> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut waiting = self.shared.waiting.lock();
            if waiting.gone {
                return None;
            }
            waiting.requests.insert(id, tx);
        }
        self.shared.send(&make(id));
        rx.recv().ok()
    }

    /// Sends `message`, expecting no answer.
    pub(crate) fn tell(&self, message: ToPeer) {
        self.shared.send(&message);
    }

    /// Kills the process and everything in its group with `SIGKILL`, then
    /// waits until what it sent before is read: its last saves count, and
    /// nothing it could send later does.
    pub(crate) fn kill(&self) {
        self.shared.killed.store(true, Ordering::SeqCst);
        self.shared.kill_group();
        if let Err(RecvTimeoutError::Timeout) = self.finished.recv_timeout(KILL_PATIENCE) {
            // A process it started holds the socket open: stop reading.
            let _ = self.socket.shutdown(std::net::Shutdown::Both);
            let _ = self.finished.recv();
        }
    }
}

impl Drop for Judged {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Shared {
    /// Sends `message` to the process. If it has not read for
    /// [`WRITE_PATIENCE`], it is killed (and its death reported).
    fn send(&self, message: &ToPeer) {
        let mut out = self.out.lock();
        if let Err(e) = write_frame(&mut *out, message) {
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                self.stalled.store(true, Ordering::SeqCst);
                self.kill_group();
            }
        }
    }

    fn kill_group(&self) {
        // SAFETY: kill makes one system call; a negative pid names the
        // process group the child leads.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
    }

    /// Serves the process's messages until its socket closes; `Err` says
    /// what was wrong with the last one.
    fn read_all(self: &Arc<Shared>, socket: UnixStream, wiring: &Wiring) -> Result<(), String> {
        let mut input = BufReader::new(socket);
        loop {
            let message = match read_frame::<_, FromPeer>(&mut input) {
                Ok(Some(message)) => message,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            self.take(message, wiring)?;
        }
    }

    fn take(self: &Arc<Shared>, message: FromPeer, wiring: &Wiring) -> Result<(), String> {
        match message {
            FromPeer::Call {
                call,
                end,
                method,
                request,
            } => {
                let shared = Arc::clone(self);
                let reply = move |outcome| shared.send(&ToPeer::Reply { call, outcome });
                if let Some((referee, me)) = &self.referee {
                    referee.sent(*me, &method, &request);
                }
                match wiring.ends.get(end) {
                    Some(end) => end.call_bytes(&method, request, reply),
                    None => return Err(format!("a call on end {end}, which it was not given")),
                }
            }
            FromPeer::Handled { call, outcome } => {
                let waiting = self.waiting.lock().calls.remove(&call);
                match waiting {
                    Some(on_reply) => on_reply(outcome),
                    None => return Err(format!("an answer to call {call}, which it was not sent")),
                }
            }
            FromPeer::Saved {
                raft_state,
                snapshot,
            } => {
                let Some(disk) = &wiring.disk else {
                    return Err("a save, from a process with no persister".into());
                };
                if let Some((referee, me)) = &self.referee {
                    referee.saved(*me);
                }
                let mut disk = disk.lock();
                disk.raft_state = raft_state;
                if let Some(snapshot) = snapshot {
                    disk.snapshot = snapshot;
                }
            }
            FromPeer::Applied(applied) => {
                if let Some((referee, me)) = &self.referee {
                    referee.applied(*me, &applied);
                }
                let kind = match &applied {
                    Applied::Command { index, term, .. }
                    | Applied::Membership { index, term, .. } => Kind::Applied {
                        index: *index,
                        entry_term: Some(*term),
                    },
                    Applied::Snapshot { index, term, .. } => Kind::Snapshot {
                        index: *index,
                        entry_term: Some(*term),
                    },
                };
                runrecord::record(runrecord::peer_of(&self.label), None, kind);
                self.apply(wiring, ApplyEvent::Applied(applied))?
            }
            FromPeer::SnapshotTaken => self.apply(wiring, ApplyEvent::SnapshotTaken)?,
            FromPeer::Started { req, result } => self.answer(req, Answer::Started(result))?,
            FromPeer::State { req, term, leader } => {
                let peer = runrecord::peer_of(&self.label);
                runrecord::record(peer, Some(term), Kind::State { leader });
                self.answer(req, Answer::State(term, leader))?
            }
            FromPeer::ReadIndexed { req, index } => self.answer(req, Answer::ReadIndexed(index))?,
            FromPeer::MembershipChanged { req, result } => {
                self.answer(req, Answer::MembershipChanged(result))?
            }
            FromPeer::Membership { req, members } => {
                self.answer(req, Answer::Membership(members))?
            }
            FromPeer::ClerkDone { req, value } => self.answer(req, Answer::ClerkDone(value))?,
            FromPeer::CallTimes { req, nanos } => self.answer(req, Answer::CallTimes(nanos))?,
            FromPeer::Log {
                level,
                target,
                message,
            } => {
                let level = match level {
                    1 => log::Level::Error,
                    2 => log::Level::Warn,
                    3 => log::Level::Info,
                    4 => log::Level::Debug,
                    _ => log::Level::Trace,
                };
                logcapture::judged_log(&self.label, level, &target, &message);
            }
            FromPeer::Panicked { message } => *self.panic.lock() = Some(message),
        }
        Ok(())
    }

    fn apply(&self, wiring: &Wiring, event: ApplyEvent) -> Result<(), String> {
        match &wiring.applied {
            // The applier has gone only when the test is over.
            Some(applied) => {
                let _ = applied.send(event);
                Ok(())
            }
            None => Err("an applied message, from a process that hosts no Raft peer".into()),
        }
    }

    fn answer(&self, req: u64, answer: Answer) -> Result<(), String> {
        let waiting = self.waiting.lock().requests.remove(&req);
        match waiting {
            Some(asker) => {
                let _ = asker.send(answer);
                Ok(())
            }
            None => Err(format!("an answer to request {req}, which it was not sent")),
        }
    }

    /// Passes a call that reached the process's stand-in server on to the
    /// process; its answer completes it.
    fn forward_call(&self, method: &str, request: Vec<u8>, on_reply: OnReply) {
        let call = self.next_id.fetch_add(1, Ordering::Relaxed);
        // What the request proves is judged with its answer, against the
        // saves made before it arrived.
        let judged = self.referee.as_ref().and_then(|(referee, me)| {
            let arrival = referee.arrived(*me, method, &request)?;
            Some((Arc::clone(referee), *me, arrival))
        });
        let on_reply: OnReply = match judged {
            Some((referee, me, arrival)) => Box::new(move |outcome| {
                match &outcome {
                    Ok(reply) => referee.answered(me, &arrival, reply),
                    Err(_) => referee.unanswered(me, &arrival),
                }
                on_reply(outcome)
            }),
            None => on_reply,
        };
        {
            let mut waiting = self.waiting.lock();
            if waiting.gone {
                drop(waiting);
                return on_reply(Err(RpcError::ServerGone));
            }
            waiting.calls.insert(call, on_reply);
        }
        self.send(&ToPeer::Handle {
            call,
            method: method.to_string(),
            request,
        });
    }

    /// The process has ended: every call and request waiting on it fails.
    fn close(&self) {
        let calls = {
            let mut waiting = self.waiting.lock();
            waiting.gone = true;
            waiting.requests.clear();
            std::mem::take(&mut waiting.calls)
        };
        for on_reply in calls.into_values() {
            on_reply(Err(RpcError::ServerGone));
        }
    }

    /// Why the process died, for the test's failure.
    fn death(&self, ended: Result<(), String>, status: Option<ExitStatus>) -> String {
        let label = &self.label;
        let how = match status {
            _ if self.stalled.load(Ordering::SeqCst) => format!(
                "it read none of the judge's messages for {} s, so the judge killed it",
                WRITE_PATIENCE.as_secs()
            ),
            Some(status) => describe(status),
            None => "it was still running, so the judge killed it".to_string(),
        };
        match (self.panic.lock().take(), ended) {
            (Some(panic), _) => format!("{label} died: {panic} ({how})"),
            (None, Err(problem)) => {
                format!("{label} sent the judge {problem}; it was stopped ({how})")
            }
            (None, Ok(())) => format!("{label} died: {how}"),
        }
    }
}

/// Reaps the process whose socket closed: at once if it was killed, else
/// after it has had a moment to exit by itself (then it is killed). `None`
/// if it had to be killed. Its CPU time is read once it has exited, before
/// it is reaped.
fn reap(child: &mut Child, killed: bool) -> Option<ExitStatus> {
    let pid = child.id() as i32;
    let mut had_to_kill = false;
    if !killed {
        let deadline = Instant::now() + EXIT_PATIENCE;
        while !has_exited(pid, false) {
            if Instant::now() >= deadline {
                // SAFETY: one system call on the group the child leads.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                had_to_kill = true;
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
    has_exited(pid, true);
    cpu_time::ended(pid);
    let status = child.wait().ok();
    if had_to_kill {
        None
    } else {
        status
    }
}

/// Whether child `pid` has exited, waiting for it if `block`; it stays
/// unreaped, so its `/proc` entry is still readable.
fn has_exited(pid: i32, block: bool) -> bool {
    let mut flags = libc::WEXITED | libc::WNOWAIT;
    if !block {
        flags |= libc::WNOHANG;
    }
    // SAFETY: waitid writes one siginfo_t, zeroed before, for our own child.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let done = libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags);
        // With WNOHANG, a child that has not exited leaves si_pid at 0.
        done == 0 && info.si_pid() != 0
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("it exited with status {code}"),
        (None, Some(libc::SIGABRT)) => "it aborted".to_string(),
        (None, Some(signal)) => format!("it was killed by signal {signal}"),
        (None, None) => format!("it ended: {status}"),
    }
}

fn spawn_named(name: String, body: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .name(name)
        .spawn(body)
        .expect("cannot start a thread of the judge");
}
