//! Stable fingerprints: of a grading's plan and of the official tests, so
//! that `grade merge` can tell shards of one grading from shards of
//! another. FNV-1a, 64 bits: the same on every machine and Rust version
//! (std's hasher promises neither). It catches mistakes (a shard of another
//! plan, a tree with other tests), not forgery: the shards' reports are
//! the instructor's own files.

use std::fs;
use std::path::Path;

use crate::error::{io_error, Error};
use crate::tree::OFFICIAL;

/// An FNV-1a hash being fed.
#[derive(Debug, Clone)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    /// Feeds `bytes`, then their length, so that `ab`,`c` and `a`,`bc`
    /// differ.
    pub fn feed(&mut self, bytes: &[u8]) -> &mut Self {
        let length = (bytes.len() as u64).to_le_bytes();
        for &byte in bytes.iter().chain(&length) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// The hash so far, as 16 hexadecimal digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The version of the official tests in `reference`: a hash of the path
/// and contents of every file the grader lays over a submission (the tests,
/// the harness, the network, the workspace manifests and lock file).
pub fn tests_version(reference: &Path) -> Result<String, Error> {
    let mut digest = Digest::default();
    for name in OFFICIAL {
        feed_path(&mut digest, reference, Path::new(name))?;
    }
    Ok(digest.hex())
}

/// Feeds the file or directory `relative` (below `root`), its entries in
/// name order; build output (`target*`) is left out, as the grader leaves
/// it out of a tree.
fn feed_path(digest: &mut Digest, root: &Path, relative: &Path) -> Result<(), Error> {
    let path = root.join(relative);
    if path.is_dir() {
        let mut names = fs::read_dir(&path)
            .map_err(io_error(&path))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_error(&path))?;
        names.sort();
        for name in names
            .iter()
            .filter(|n| !n.to_string_lossy().starts_with("target"))
        {
            feed_path(digest, root, &relative.join(name))?;
        }
    } else if path.is_file() {
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        digest
            .feed(relative.to_string_lossy().as_bytes())
            .feed(&bytes);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_boundaries() {
        // FNV-1a of nothing is its offset basis.
        assert_eq!(Digest::default().hex(), "cbf29ce484222325");
        let hash = |parts: &[&str]| {
            let mut digest = Digest::default();
            parts.iter().for_each(|p| {
                digest.feed(p.as_bytes());
            });
            digest.hex()
        };
        assert_eq!(hash(&["ab", "c"]), hash(&["ab", "c"]));
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
    }

    #[test]
    fn the_tests_version_follows_the_official_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("tests/harness")).unwrap();
        fs::write(root.join("tests/lab2a.rs"), "fn a() {}").unwrap();
        fs::write(root.join("Cargo.toml"), "[workspace]").unwrap();
        let first = tests_version(root).unwrap();
        fs::create_dir_all(root.join("raft/src")).unwrap();
        fs::write(root.join("raft/src/lib.rs"), "student code").unwrap();
        fs::create_dir_all(root.join("tests/target")).unwrap();
        fs::write(root.join("tests/target/junk"), "built").unwrap();
        assert_eq!(tests_version(root).unwrap(), first);
        fs::write(root.join("tests/lab2a.rs"), "fn b() {}").unwrap();
        assert_ne!(tests_version(root).unwrap(), first);
    }
}
