//! A memory cgroup and a pids cgroup (cgroup v1) for each test run, where
//! the machine has hierarchies the grader may create cgroups in. Memory: the kernel kills the run's
//! processes when together they use more than the limit, and the cgroup's
//! OOM-kill count tells that death apart from others. The cgroup also names
//! every process of the run, whatever group or session it moved to, so the
//! ones it left behind can be killed. Pids: the kernel refuses a `fork`
//! or `clone` once the run's processes and threads number `pids.max`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// How many times removing a run's cgroup is tried while its last
/// processes are still on their way out.
const REMOVE_TRIES: u32 = 100;

/// The memory cgroup of the grader, below which it creates one per run.
#[derive(Debug, Clone)]
pub struct MemoryCgroups {
    parent: PathBuf,
}

/// The grader's own cgroup in the cgroup v1 hierarchy of `controller`.
fn own_cgroup(controller: &str) -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (root, mount_point) = mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        let (kind, _source, options) = (right.next()?, right.next()?, right.next()?);
        let is_it = kind == "cgroup" && options.split(',').any(|o| o == controller);
        let left: Vec<&str> = left.split_whitespace().collect();
        is_it.then(|| (left.get(3).copied(), left.get(4).copied()))
    })?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then_some(path)
    })?;
    let relative = own.strip_prefix(root?)?.trim_start_matches('/');
    Some(Path::new(mount_point?).join(relative))
}

/// A new cgroup below `parent`, named after `label`, set up by `limit`
/// (removed again if that fails), with its `cgroup.procs` open to join.
fn create_below(
    parent: &Path,
    label: &str,
    limit: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<RunCgroup> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "grade-{}-{}-{label}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let dir = parent.join(name);
    fs::create_dir(&dir)?;
    // Removed again if it cannot be set up.
    let mut cgroup = RunCgroup { dir, procs: None };
    limit(&cgroup.dir)?;
    let procs = OpenOptions::new()
        .write(true)
        .open(cgroup.dir.join("cgroup.procs"))?;
    cgroup.procs = Some(procs);
    Ok(cgroup)
}

impl MemoryCgroups {
    /// The grader's own memory cgroup, if it can create cgroups below it.
    pub fn detect() -> Option<MemoryCgroups> {
        let cgroups = MemoryCgroups {
            parent: own_cgroup("memory")?,
        };
        let probe = cgroups.create("probe", u64::MAX >> 2).ok()?;
        drop(probe);
        Some(cgroups)
    }

    /// A new cgroup, named after `label`, whose processes may use `limit`
    /// bytes of memory together.
    pub fn create(&self, label: &str, limit: u64) -> io::Result<RunCgroup> {
        create_below(&self.parent, label, |dir| {
            fs::write(dir.join("memory.limit_in_bytes"), limit.to_string())?;
            // Swap counts too, where the kernel accounts for it.
            let _ = fs::write(dir.join("memory.memsw.limit_in_bytes"), limit.to_string());
            Ok(())
        })
    }
}

/// The pids cgroup (cgroup v1) of the grader, below which it creates one
/// per run: the kernel refuses a `fork` or `clone` of the run's processes
/// once they number `pids.max` together (threads count), so a fork bomb
/// fails its own run and nothing else.
#[derive(Debug, Clone)]
pub struct PidsCgroups {
    parent: PathBuf,
}

impl PidsCgroups {
    /// The grader's own pids cgroup, if it can create cgroups below it.
    pub fn detect() -> Option<PidsCgroups> {
        let cgroups = PidsCgroups {
            parent: own_cgroup("pids")?,
        };
        let probe = cgroups.create("probe", 1 << 20).ok()?;
        drop(probe);
        Some(cgroups)
    }

    /// A new cgroup, named after `label`, whose processes may number
    /// `limit` together (threads included).
    pub fn create(&self, label: &str, limit: u64) -> io::Result<RunCgroup> {
        create_below(&self.parent, label, |dir| {
            fs::write(dir.join("pids.max"), limit.to_string())
        })
    }
}

/// One run's cgroup (memory or pids), removed when dropped (once it is
/// empty).
#[derive(Debug)]
pub struct RunCgroup {
    dir: PathBuf,
    procs: Option<File>,
}

impl RunCgroup {
    /// A file descriptor that a process joins the cgroup through, by
    /// writing `0` to it (safe to do between fork and exec).
    pub fn join_fd(&self) -> RawFd {
        self.procs.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// The processes in the cgroup that are still running.
    pub fn running(&self) -> Vec<u32> {
        fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                    stat.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                        .is_some_and(|state| state != "Z")
                })
            })
            .collect()
    }

    /// Whether a fork of the cgroup's processes was refused for going over
    /// its pids limit (a pids cgroup).
    pub fn refused_a_fork(&self) -> bool {
        self.counted("pids.events", "max ")
    }

    /// Whether the kernel killed a process of the cgroup for going over
    /// its memory limit (a memory cgroup).
    pub fn out_of_memory(&self) -> bool {
        self.counted("memory.oom_control", "oom_kill ")
    }

    /// Whether the counter after `key` in the cgroup's `file` is above 0.
    fn counted(&self, file: &str, key: &str) -> bool {
        fs::read_to_string(self.dir.join(file))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.strip_prefix(key))
            .any(|count| count.trim().parse::<u64>().is_ok_and(|n| n > 0))
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.procs = None;
        for _ in 0..REMOVE_TRIES {
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}
