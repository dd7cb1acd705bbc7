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
/// assert_eq!(disk.save_count(), 2);
/// ```
#[derive(Default)]
pub struct Persister {
    saved: Mutex<Saved>,
    /// Told of every save, in order (see [`Persister::restored`]).
    on_save: Option<SaveHook>,
}

/// What [`Persister::restored`] calls with each save's bytes.
type SaveHook = Box<dyn Fn(&[u8], Option<&[u8]>) + Send + Sync>;

impl std::fmt::Debug for Persister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let saved = self.saved.lock();
        f.debug_struct("Persister")
            .field("raft_state_size", &saved.raft_state.len())
            .field("snapshot_size", &saved.snapshot.len())
            .finish()
    }
}

#[derive(Clone, Debug, Default)]
struct Saved {
    raft_state: Vec<u8>,
    snapshot: Vec<u8>,
    /// How many saves there have been.
    saves: u64,
}

impl Persister {
    /// Empty storage: no Raft state, no snapshot.
    pub fn new() -> Persister {
        Persister::default()
    }

    /// Storage that starts out holding `raft_state` and `snapshot`, and
    /// hands every later save to `on_save`, in the order of the saves,
    /// before `save` returns. The tests run each peer in a process of its
    /// own this way: the harness, in another process, keeps the copy of
    /// each peer's storage that survives a crash.
    pub fn restored(
        raft_state: Vec<u8>,
        snapshot: Vec<u8>,
        on_save: impl Fn(&[u8], Option<&[u8]>) + Send + Sync + 'static,
    ) -> Persister {
        Persister {
            saved: Mutex::new(Saved {
                raft_state,
                snapshot,
                saves: 0,
            }),
            on_save: Some(Box::new(on_save)),
        }
    }

    /// An independent copy of what is saved now; later saves to either
    /// one do not affect the other (nor reach the original's `on_save`).
    pub fn copy(&self) -> Persister {
        Persister {
            saved: Mutex::new(self.saved.lock().clone()),
            on_save: None,
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

    /// How many times [`save`](Persister::save) was called on this storage
    /// (a copy starts from the count of what it copied): the KV bench
    /// reports it per operation.
    pub fn save_count(&self) -> u64 {
        self.saved.lock().saves
    }

    /// Atomically replaces the raft state, and the snapshot when `Some`.
    pub fn save(&self, raft_state: Vec<u8>, snapshot: Option<Vec<u8>>) {
        let mut saved = self.saved.lock();
        // Under the lock, so the hook sees saves in the order they happen.
        if let Some(on_save) = &self.on_save {
            on_save(&raft_state, snapshot.as_deref());
        }
        saved.raft_state = raft_state;
        saved.saves += 1;
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
    fn a_restored_persister_reports_each_save_in_order() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let disk = Persister::restored(vec![1], vec![2], move |state, snapshot| {
            tx.send((state.to_vec(), snapshot.map(<[u8]>::to_vec)))
                .unwrap()
        });
        assert_eq!((disk.raft_state(), disk.snapshot()), (vec![1], vec![2]));
        disk.save(vec![3], None);
        disk.save(vec![4], Some(vec![5]));
        let seen: Vec<_> = rx.try_iter().collect();
        assert_eq!(seen, [(vec![3], None), (vec![4], Some(vec![5]))]);
        assert_eq!((disk.raft_state(), disk.snapshot()), (vec![4], vec![5]));
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
