//! How a grading confines the processes of its test runs: a memory limit
//! (a memory cgroup where the grader may create one, else an address-space
//! limit), an unprivileged user when the grader runs as root, and the
//! Landlock ruleset of [`crate::sandbox`] where the kernel has Landlock.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus};

use crate::cgroup::{MemoryCgroups, PidsCgroups, RunCgroup};
use crate::error::{io_error, Error};
use crate::sandbox;

/// How many processes and threads the processes of one run may number
/// together, by default (`--pids-limit`).
pub const DEFAULT_PIDS_LIMIT: u64 = 4096;

/// What Rust prints when an allocation fails (then it aborts): how a run
/// over an address-space limit shows.
const ALLOCATION_FAILED: &str = "memory allocation of ";

/// The user test processes run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct User {
    /// Its user id.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

impl User {
    /// The user `name`: a user name, or a numeric uid (whose primary group
    /// is its own id when the user database does not know it).
    pub fn lookup(name: &str) -> Result<User, Error> {
        let unknown = || Error::Other(format!("--run-as {name}: no such user"));
        let c_name = CString::new(name).map_err(|_| unknown())?;
        // SAFETY: getpwnam and getpwuid return a pointer to static storage
        // or null; it is read at once, on the one thread that looks users
        // up.
        let entry = unsafe {
            match name.parse::<u32>() {
                Ok(uid) => libc::getpwuid(uid),
                Err(_) => libc::getpwnam(c_name.as_ptr()),
            }
        };
        if let Some(entry) = unsafe { entry.as_ref() } {
            return Ok(User {
                uid: entry.pw_uid,
                gid: entry.pw_gid,
            });
        }
        let uid = name.parse::<u32>().map_err(|_| unknown())?;
        Ok(User { uid, gid: uid })
    }
}

/// The confinement of every test run of a grading.
#[derive(Debug)]
pub struct Confinement {
    memory_limit: u64,
    cgroups: Option<MemoryCgroups>,
    pids_limit: u64,
    pids: Option<PidsCgroups>,
    user: Option<User>,
    landlock: Option<i64>,
}

impl Confinement {
    /// Runs get `memory_limit` bytes; they run as `run_as` if the grader
    /// runs as root.
    pub fn new(memory_limit: u64, run_as: &str) -> Result<Confinement, Error> {
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let user = if root {
            Some(User::lookup(run_as)?)
        } else {
            None
        };
        Ok(Confinement {
            memory_limit,
            cgroups: MemoryCgroups::detect(),
            pids_limit: DEFAULT_PIDS_LIMIT,
            pids: PidsCgroups::detect(),
            user,
            landlock: sandbox::kernel_abi(),
        })
    }

    /// Runs' processes and threads may number `limit` together (where the
    /// machine has a pids cgroup hierarchy; see [`Confinement::shortfalls`]).
    pub fn with_pids_limit(mut self, limit: u64) -> Confinement {
        self.pids_limit = limit;
        self
    }

    /// Whether runs get a pids cgroup each.
    pub fn has_pids_cgroups(&self) -> bool {
        self.pids.is_some()
    }

    /// Where this machine confines runs less than it could, one line each
    /// (for the reports).
    pub fn shortfalls(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let who = match self.user {
            Some(user) => format!("uid {}", user.uid),
            None => "the grading user".to_string(),
        };
        if self.landlock.is_none() {
            lines.push(format!(
                "this kernel has no Landlock: test processes could write wherever {who} may"
            ));
        }
        if self.cgroups.is_none() {
            lines.push(
                "no memory cgroup to use: the memory limit is a limit on each test process's address space"
                    .to_string(),
            );
        }
        if self.pids.is_none() {
            lines.push(
                "no pids cgroup to use: the number of a run's processes is not limited".to_string(),
            );
        }
        lines
    }

    /// Fails, naming the first directory on the way it may not search,
    /// unless the runs' user can reach `dir` (an absolute path) from `/`:
    /// the runs start their binaries below it, and the kernel would refuse
    /// every one of them ("Permission denied") only after the build. The
    /// kernel itself answers, for a process that has become that user as a
    /// run does. Runs that keep the grader's user need no check.
    pub fn check_reachable(&self, dir: &Path) -> Result<(), Error> {
        let Some(user) = self.user else {
            return Ok(());
        };
        let mut on_the_way: Vec<&Path> = dir.ancestors().collect();
        on_the_way.reverse();
        let paths = on_the_way
            .iter()
            .map(|path| CString::new(path.as_os_str().as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::Other(format!("{}: a NUL byte in the path", dir.display())))?;
        // The probe never gets to exec (`true` is only a name): between
        // fork and exec it becomes the user, then exits with the number of
        // the first directory it may not search, or 0.
        let mut probe = Command::new("true");
        let search = move || -> io::Result<()> {
            // SAFETY: only system calls, on integers and the paths made
            // before the fork.
            unsafe {
                become_user(user)?;
                let blocked = paths
                    .iter()
                    .position(|path| libc::access(path.as_ptr(), libc::X_OK) != 0);
                let code = blocked.map_or(0, |at| i32::try_from(at + 1).unwrap_or(i32::MAX));
                libc::_exit(code.min(255));
            }
        };
        // SAFETY: `search` makes system calls only (see above).
        unsafe { probe.pre_exec(search) };
        let spawn_error = |source| Error::Spawn {
            program: format!("a process as uid {} to check what it can reach", user.uid),
            source,
        };
        let status = probe
            .spawn()
            .and_then(|mut probe| probe.wait())
            .map_err(spawn_error)?;
        let blocked = match status.code() {
            Some(0) => return Ok(()),
            Some(code) => on_the_way.get(code as usize - 1).copied().unwrap_or(dir),
            None => dir,
        };
        Err(Error::Other(format!(
            "the test runs' user (uid {}) cannot reach {}: it may not search {}; put the reference tree \
             under directories that user can search (not under a 0700 home or mktemp -d), or pass \
             --run-as a user who can",
            user.uid,
            dir.display(),
            blocked.display()
        )))
    }

    /// Whether runs get a memory cgroup each.
    pub fn has_cgroups(&self) -> bool {
        self.cgroups.is_some()
    }

    /// Sets up one run of `binaries` (a test binary, and the binary its
    /// peers run in) in `tree`: creates `scratch`, the only directory it
    /// may write in, and makes it the run's user's.
    pub fn jail(&self, binaries: &[&Path], tree: &Path, scratch: &Path) -> Result<Jail, Error> {
        fs::create_dir_all(scratch.join("tmp")).map_err(io_error(scratch))?;
        if let Some(user) = self.user {
            for dir in [scratch.to_path_buf(), scratch.join("tmp")] {
                chown(&dir, Some(user.uid), Some(user.gid)).map_err(io_error(&dir))?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                    .map_err(io_error(&dir))?;
            }
        }
        let cgroup = match &self.cgroups {
            Some(cgroups) => Some(
                cgroups
                    .create("run", self.memory_limit)
                    .map_err(|e| Error::Other(format!("cannot create a memory cgroup: {e}")))?,
            ),
            None => None,
        };
        let pids_cgroup = match &self.pids {
            Some(pids) => Some(
                pids.create("run", self.pids_limit)
                    .map_err(|e| Error::Other(format!("cannot create a pids cgroup: {e}")))?,
            ),
            None => None,
        };
        let ruleset = match self.landlock {
            Some(_) => sandbox::ruleset(binaries, tree, scratch)
                .map_err(|e| Error::Other(format!("cannot make the Landlock ruleset: {e}")))?,
            None => None,
        };
        Ok(Jail {
            user: self.user,
            address_space: cgroup.is_none().then_some(self.memory_limit),
            cgroup,
            pids_cgroup,
            ruleset,
            memory_limit: self.memory_limit,
            pids_limit: self.pids_limit,
        })
    }
}

/// Makes the calling process `user`, with no supplementary groups. Only
/// system calls: it may run between fork and exec.
fn become_user(user: User) -> io::Result<()> {
    // SAFETY: setgroups with a count of 0 reads no memory; setgid and
    // setuid take integers.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(user.gid) != 0
            || libc::setuid(user.uid) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The confinement of one run.
#[derive(Debug)]
pub struct Jail {
    cgroup: Option<RunCgroup>,
    pids_cgroup: Option<RunCgroup>,
    ruleset: Option<OwnedFd>,
    user: Option<User>,
    address_space: Option<u64>,
    memory_limit: u64,
    pids_limit: u64,
}

impl Jail {
    /// Gives a file of the run's scratch directory to the run's user.
    pub fn give(&self, file: &Path) -> Result<(), Error> {
        match self.user {
            Some(user) => chown(file, Some(user.uid), Some(user.gid)).map_err(io_error(file)),
            None => Ok(()),
        }
    }

    /// Makes the process `command` starts confined, before it runs any
    /// code of its own: joins the memory cgroup (or limits its address
    /// space), drops to the unprivileged user, then restricts itself to
    /// the Landlock ruleset. The jail must live until the process has
    /// started.
    pub fn apply(&self, command: &mut Command) {
        let join = self.cgroup.as_ref().map(RunCgroup::join_fd);
        let join_pids = self.pids_cgroup.as_ref().map(RunCgroup::join_fd);
        let ruleset = self.ruleset.as_ref().map(AsRawFd::as_raw_fd);
        let (user, address_space) = (self.user, self.address_space);
        let confine = move || -> io::Result<()> {
            // SAFETY: only system calls, on integers and a static byte,
            // which is all that is safe between fork and exec.
            unsafe {
                for fd in [join, join_pids].into_iter().flatten() {
                    if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if let Some(bytes) = address_space {
                    let limit = libc::rlimit {
                        rlim_cur: bytes,
                        rlim_max: bytes,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if let Some(user) = user {
                    become_user(user)?;
                }
            }
            match ruleset {
                Some(fd) => sandbox::restrict_self(fd),
                None => Ok(()),
            }
        };
        // SAFETY: `confine` makes system calls only (see above).
        unsafe { command.pre_exec(confine) };
    }

    /// Whether [`Jail::running`] knows every process of the run (it has a
    /// memory cgroup).
    pub fn tracks_processes(&self) -> bool {
        self.cgroup.is_some()
    }

    /// The processes of the run still running, wherever they moved (known
    /// only with a memory cgroup).
    pub fn running(&self) -> Vec<u32> {
        self.cgroup
            .as_ref()
            .map_or_else(Vec::new, RunCgroup::running)
    }

    /// Why the run failed, if the kernel refused it a process or a thread
    /// for going over its pids limit.
    pub fn too_many_processes(&self) -> Option<String> {
        let refused = self
            .pids_cgroup
            .as_ref()
            .is_some_and(RunCgroup::refused_a_fork);
        refused.then(|| {
            format!(
                "too many processes: it went over the limit of {} processes and threads, and a fork was refused",
                self.pids_limit
            )
        })
    }

    /// Why the run died, if it ran out of memory: `status` is how it
    /// ended, `output` the end of what it printed.
    pub fn out_of_memory(&self, status: ExitStatus, output: &str) -> Option<String> {
        let mib = self.memory_limit >> 20;
        let over = match &self.cgroup {
            Some(cgroup) => cgroup.out_of_memory(),
            None => status.signal() == Some(libc::SIGABRT) && output.contains(ALLOCATION_FAILED),
        };
        over.then(|| {
            format!("out of memory: it went over the memory limit of {mib} MiB and was killed")
        })
    }
}
