//! Stable storage for one peer: the bytes that survive a crash.

use parking_lot::Mutex;

/// What a peer has saved: its Raft state and the service's latest snapshot.
///
/// Shared as `Arc<Persister>` between a peer and the test harness, which
/// hands a crashed peer's successor a [`copy`](Persister::copy). Every read
/// returns a copy, so no caller can change saved bytes in place.
///
/// ```
/// use raft::Persister;
/// let disk = Persister::new();
/// disk.save(b"state".to_vec(), Some(b"snap".to_vec()));
/// disk.save(b"state2".to_vec(), None);
/// assert_eq!(disk.raft_state(), b"state2");
/// assert_eq!(disk.snapshot(), b"snap", "None keeps the saved snapshot");
/// ```
#[derive(Debug, Default)]
pub struct Persister {
    saved: Mutex<Saved>,
}

#[derive(Clone, Debug, Default)]
struct Saved {
    raft_state: Vec<u8>,
    snapshot: Vec<u8>,
}

impl Persister {
    /// Empty storage: no Raft state, no snapshot.
    pub fn new() -> Persister {
        Persister::default()
    }

    /// An independent copy of what is saved now; later saves to either
    /// one do not affect the other.
    pub fn copy(&self) -> Persister {
        Persister {
            saved: Mutex::new(self.saved.lock().clone()),
        }
    }

    /// The saved Raft state; empty if none was saved.
    pub fn raft_state(&self) -> Vec<u8> {
        self.saved.lock().raft_state.clone()
    }

    /// The size in bytes of the saved Raft state.
    pub fn raft_state_size(&self) -> usize {
        self.saved.lock().raft_state.len()
    }

    /// The saved snapshot; empty if none was saved.
    pub fn snapshot(&self) -> Vec<u8> {
        self.saved.lock().snapshot.clone()
    }

    /// The size in bytes of the saved snapshot.
    pub fn snapshot_size(&self) -> usize {
        self.saved.lock().snapshot.len()
    }

    /// Atomically replaces the raft state, and the snapshot when `Some`.
    pub fn save(&self, raft_state: Vec<u8>, snapshot: Option<Vec<u8>>) {
        let mut saved = self.saved.lock();
        saved.raft_state = raft_state;
        if let Some(snapshot) = snapshot {
            saved.snapshot = snapshot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn a_save_replaces_state_and_snapshot_together() {
        let disk = Arc::new(Persister::new());
        disk.save(vec![0], Some(vec![0]));
        let writer = {
            let disk = Arc::clone(&disk);
            thread::spawn(move || {
                for i in 1..=200u8 {
                    disk.save(vec![i], Some(vec![i]));
                }
            })
        };
        for _ in 0..200 {
            let seen = disk.copy();
            assert_eq!(
                seen.raft_state(),
                seen.snapshot(),
                "a save was seen half done"
            );
        }
        writer.join().unwrap();
    }

    #[test]
    fn a_copy_is_independent() {
        let original = Persister::new();
        original.save(vec![1], Some(vec![2]));
        let copy = original.copy();
        original.save(vec![3], Some(vec![4, 4]));
        assert_eq!((copy.raft_state(), copy.snapshot()), (vec![1], vec![2]));
        assert_eq!(
            (original.raft_state_size(), original.snapshot_size()),
            (1, 2)
        );
    }
}
