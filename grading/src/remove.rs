//! Removal of a directory tree a judged process may have shaped: at any
//! depth, without following symbolic links, and without holding one file
//! descriptor per level. (`std::fs::remove_dir_all` keeps every level's
//! directory open on the way down, so a tree deeper than `RLIMIT_NOFILE`,
//! which a detached child makes in seconds, outlives it.)
//!
//! [`remove_tree`] descends one directory at a time with `openat`, closing
//! the level it leaves, removes the files of each level with `unlinkat`,
//! and climbs back through `..`, so it holds at most three descriptors
//! (the parent of the tree, the current level and a listing of it) and a
//! stack of names. Only the grader's own trees go through it, once every
//! process of the run is gone, so nothing moves the tree under it.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// How many names of a directory are read before they are acted on.
const BATCH: usize = 1024;

/// A directory removed with [`remove_tree`] when dropped.
#[derive(Debug)]
pub struct RemovedOnDrop(std::path::PathBuf);

impl RemovedOnDrop {
    /// Takes over `dir` (e.g. a kept [`tempfile::TempDir`]).
    pub fn new(dir: std::path::PathBuf) -> RemovedOnDrop {
        RemovedOnDrop(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = remove_tree(&self.0);
    }
}

/// Removes `path` and, if it is a directory, everything below it, at any
/// depth; a symbolic link is removed, not followed. A `path` that does not
/// exist is not an error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{}: not a removable name", path.display())))?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let parent = open_dir(libc::AT_FDCWD, &c_path(parent.as_os_str())?)?;
    let name = c_path(name)?;
    match is_dir(parent.as_raw_fd(), &name) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
        Ok(false) => return unlink(parent.as_raw_fd(), &name, 0),
        Ok(true) => {}
    }
    let mut current = open_subdir(parent.as_raw_fd(), &name)?;
    // The names from the tree's root down to the current level.
    let mut descent: Vec<CString> = Vec::new();
    loop {
        match clear_files(current.as_raw_fd())? {
            Some(subdir) => {
                // Replacing `current` closes the level left behind.
                current = open_subdir(current.as_raw_fd(), &subdir)?;
                descent.push(subdir);
            }
            None => match descent.pop() {
                Some(emptied) => {
                    current = open_dir(current.as_raw_fd(), c"..")?;
                    unlink(current.as_raw_fd(), &emptied, libc::AT_REMOVEDIR)?;
                }
                None => {
                    drop(current);
                    return unlink(parent.as_raw_fd(), &name, libc::AT_REMOVEDIR);
                }
            },
        }
    }
}

/// Removes every entry of the directory `dir` that is not a directory,
/// and returns the name of a subdirectory, if one is left.
fn clear_files(dir: RawFd) -> io::Result<Option<CString>> {
    loop {
        let names = list(dir)?;
        if names.is_empty() {
            return Ok(None);
        }
        for name in names {
            if is_dir(dir, &name)? {
                return Ok(Some(name));
            }
            unlink(dir, &name, 0).or_else(|e| {
                // A file of a directory its owner made read-only.
                if e.raw_os_error() == Some(libc::EACCES) {
                    // SAFETY: fchmod takes integers.
                    unsafe { libc::fchmod(dir, 0o700) };
                    unlink(dir, &name, 0)
                } else {
                    Err(e)
                }
            })?;
        }
    }
}

/// Up to [`BATCH`] names in the directory `dir`, but `.` and `..`, from its
/// start.
fn list(dir: RawFd) -> io::Result<Vec<CString>> {
    // SAFETY: dup takes an integer; fdopendir takes the new descriptor
    // over (closedir closes it), and readdir's entries are read before the
    // next call.
    unsafe {
        let copy = libc::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0);
        if copy < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = libc::fdopendir(copy);
        if stream.is_null() {
            let error = io::Error::last_os_error();
            libc::close(copy);
            return Err(error);
        }
        // A duplicate shares the offset: start from the beginning.
        libc::rewinddir(stream);
        let mut names = Vec::new();
        while names.len() < BATCH {
            let entry = libc::readdir(stream);
            if entry.is_null() {
                break;
            }
            let name = CStr::from_ptr((*entry).d_name.as_ptr());
            if name != c"." && name != c".." {
                names.push(name.to_owned());
            }
        }
        libc::closedir(stream);
        Ok(names)
    }
}

/// Whether `name` in `dir` is a directory (not following a symbolic link).
fn is_dir(dir: RawFd, name: &CStr) -> io::Result<bool> {
    // SAFETY: fstatat writes into the zeroed stat it is given.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstatat(dir, name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stat.st_mode & libc::S_IFMT == libc::S_IFDIR)
    }
}

/// Opens the subdirectory `name` of `dir`, never through a symbolic link;
/// one its owner closed to itself is opened up first.
fn open_subdir(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    open_dir(dir, name).or_else(|e| {
        if e.raw_os_error() == Some(libc::EACCES) {
            // SAFETY: fchmodat takes a descriptor and a string; `name` was
            // just seen to be a directory, and nothing of the run is left
            // to swap it.
            unsafe { libc::fchmodat(dir, name.as_ptr(), 0o700, 0) };
            open_dir(dir, name)
        } else {
            Err(e)
        }
    })
}

/// Opens the directory `name` relative to `dir`.
fn open_dir(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat takes a descriptor, a string and flags; a descriptor
    // it returns is ours alone.
    unsafe {
        let fd = libc::openat(dir, name.as_ptr(), flags);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// `unlinkat(dir, name, flags)`.
fn unlink(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unlinkat takes a descriptor, a string and flags.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn c_path(path: &OsStr) -> io::Result<CString> {
    CString::new(path.as_bytes()).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn removes_files_links_and_closed_directories_but_not_what_links_name() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "keep").unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("a/b/c")).unwrap();
        for i in 0..3000 {
            fs::write(tree.join(format!("a/f{i}")), "x").unwrap();
        }
        symlink(&outside, tree.join("a/b/link")).unwrap();
        symlink(dir.path(), tree.join("a/b/c/up")).unwrap();
        fs::set_permissions(tree.join("a/b/c"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(tree.join("a/b"), fs::Permissions::from_mode(0o500)).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert_eq!(fs::read_to_string(&outside).unwrap(), "keep");
        remove_tree(&tree).unwrap();
        remove_tree(&outside).unwrap();
        assert!(!outside.exists());
    }
}
