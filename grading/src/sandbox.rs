//! The Landlock ruleset that confines a test run, where the kernel has
//! Landlock: the run may write only in its own directory (and to
//! `/dev/null`); it may read and execute the system's programs and
//! libraries, read and run its binaries (the test's, and the one its peers
//! run in), read the tree it runs in, `/proc`, `/sys`
//! and `/dev`, and nothing else (not the reference tree, not other
//! submissions, not the grader's reports); it may not use TCP, signal
//! processes outside its domain or reach abstract Unix sockets made
//! outside it.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, BitFlags, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope, ABI,
};

/// The Landlock ABI whose rights the ruleset handles; a kernel with an
/// older one enforces what it can (best effort).
const HANDLED: ABI = ABI::V6;

/// Where the system's programs and libraries live: readable and
/// executable.
const SYSTEM: [&str; 7] = ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc"];

/// Readable, for what the standard library and the harness look up.
const KERNEL_VIEWS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The highest Landlock ABI the kernel supports; `None` without Landlock.
pub fn kernel_abi() -> Option<i64> {
    // SAFETY: with a null attribute, a size of 0 and the VERSION flag,
    // landlock_create_ruleset only returns the ABI version.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    (version > 0).then_some(version)
}

/// The ruleset of a run of `binaries` in `tree` that may write in
/// `scratch`, as a file descriptor for [`restrict_self`]; `None` if the
/// kernel has no Landlock. The peers the test starts inherit it.
pub fn ruleset(binaries: &[&Path], tree: &Path, scratch: &Path) -> io::Result<Option<OwnedFd>> {
    // path_beneath_rules skips paths that do not exist, and keeps only
    // the rights that apply to a file for a file.
    let all = AccessFs::from_all(HANDLED);
    let read = AccessFs::from_read(HANDLED);
    let no_exec = |rights: BitFlags<AccessFs>| rights & !BitFlags::from(AccessFs::Execute);
    let created = Ruleset::default()
        .handle_access(all)
        .and_then(|r| r.handle_access(AccessNet::from_all(HANDLED)))
        .and_then(|r| r.scope(Scope::from_all(HANDLED)))
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(path_beneath_rules(SYSTEM, read)))
        .and_then(|r| r.add_rules(path_beneath_rules(KERNEL_VIEWS, no_exec(read))))
        .and_then(|r| r.add_rules(path_beneath_rules([tree], no_exec(read))))
        .and_then(|r| r.add_rules(path_beneath_rules(binaries, read)))
        .and_then(|r| r.add_rules(path_beneath_rules(["/dev/null"], no_exec(all))))
        .and_then(|r| r.add_rules(path_beneath_rules([scratch], all)))
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(created.into())
}

/// The ruleset of a build of `tree` into `target_dir`: cargo, rustc and the
/// linker may read the system, the toolchain (`homes`: cargo's and
/// rustup's) and the tree, and write only the tree, the target directory,
/// cargo's home (its locks) and `/tmp`. So `include!`, `include_str!` or
/// `#[path]` in a submission cannot read the reference solution next to the
/// grader, or anything else outside those. `None` without Landlock.
pub fn build_ruleset(
    tree: &Path,
    target_dir: &Path,
    homes: &[PathBuf],
) -> io::Result<Option<OwnedFd>> {
    let all = AccessFs::from_all(HANDLED);
    let read = AccessFs::from_read(HANDLED);
    let no_exec = |rights: BitFlags<AccessFs>| rights & !BitFlags::from(AccessFs::Execute);
    let created = Ruleset::default()
        .handle_access(all)
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(path_beneath_rules(SYSTEM, read)))
        .and_then(|r| r.add_rules(path_beneath_rules(KERNEL_VIEWS, no_exec(read))))
        .and_then(|r| r.add_rules(path_beneath_rules(homes, all)))
        .and_then(|r| r.add_rules(path_beneath_rules([tree, target_dir], all)))
        .and_then(|r| r.add_rules(path_beneath_rules(["/tmp", "/dev/null"], no_exec(all))))
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(created.into())
}

/// Confines the calling process to the ruleset `fd` for good (and sets
/// no-new-privileges, which Landlock requires). Only system calls: safe
/// between fork and exec.
pub fn restrict_self(fd: std::os::fd::RawFd) -> io::Result<()> {
    // SAFETY: prctl and landlock_restrict_self take integers only.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
