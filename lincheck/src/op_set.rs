//! The set of operations a partial linearization has placed.

/// A bitset over a partition's operations that keeps a hash of its members
/// up to date as they come and go, and knows which of its words matter:
/// the search places operations roughly in call order, so a set is a run
/// of full words, a few mixed ones, and zeros, and only the mixed ones
/// need storing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpSet {
    words: Vec<u64>,
    /// XOR of `member_hash(i)` over the members `i`.
    hash: u64,
    /// How many leading words are full.
    full_words: usize,
    /// How many leading words hold members; the rest are zero.
    used_words: usize,
}

impl OpSet {
    /// An empty set able to hold operations `0..capacity`.
    pub(crate) fn new(capacity: usize) -> OpSet {
        OpSet {
            words: vec![0; capacity.div_ceil(64)],
            hash: 0,
            full_words: 0,
            used_words: 0,
        }
    }

    /// Adds `operation`, which must not be a member.
    pub(crate) fn insert(&mut self, operation: usize) {
        debug_assert!(!self.contains(operation));
        let word = operation / 64;
        self.words[word] |= 1 << (operation % 64);
        self.hash ^= member_hash(operation);
        self.used_words = self.used_words.max(word + 1);
        while self.words.get(self.full_words) == Some(&u64::MAX) {
            self.full_words += 1;
        }
    }

    /// Removes `operation`, which must be a member.
    pub(crate) fn remove(&mut self, operation: usize) {
        debug_assert!(self.contains(operation));
        let word = operation / 64;
        self.words[word] &= !(1 << (operation % 64));
        self.hash ^= member_hash(operation);
        self.full_words = self.full_words.min(word);
        while self.used_words > 0 && self.words[self.used_words - 1] == 0 {
            self.used_words -= 1;
        }
    }

    /// Whether `operation` is a member.
    pub(crate) fn contains(&self, operation: usize) -> bool {
        self.words[operation / 64] & (1 << (operation % 64)) != 0
    }

    /// A hash of the members; equal sets have equal hashes.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// How many leading words are full.
    pub(crate) fn full_words(&self) -> usize {
        self.full_words
    }

    /// The words between the leading full ones and the trailing empty
    /// ones; with [`OpSet::full_words`], they tell sets of one capacity
    /// apart.
    pub(crate) fn mixed_words(&self) -> &[u64] {
        &self.words[self.full_words.min(self.used_words)..self.used_words]
    }
}

/// A well-mixed 64-bit value per operation (the splitmix64 finalizer), so
/// XORs of different member sets rarely collide.
fn member_hash(operation: usize) -> u64 {
    let mut z = (operation as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set of capacity 200 holding `members`, inserted in that order.
    fn set_of(members: impl IntoIterator<Item = usize>) -> OpSet {
        let mut set = OpSet::new(200);
        members.into_iter().for_each(|member| set.insert(member));
        set
    }

    #[test]
    fn membership_and_hash_depend_only_on_the_members() {
        let forward = set_of([0, 64, 129]);
        let mut backward = set_of([129, 5, 64, 0]);
        assert_ne!(forward, backward);
        assert_ne!(forward.hash(), backward.hash());
        backward.remove(5);
        assert_eq!(forward, backward);
        assert_eq!(forward.hash(), backward.hash());
        assert!(forward.contains(129) && !forward.contains(5) && !forward.contains(128));
        let mut emptied = forward;
        [0, 64, 129]
            .into_iter()
            .for_each(|member| emptied.remove(member));
        assert_eq!(emptied, OpSet::new(200));
        assert_eq!(emptied.hash(), 0);
    }

    #[test]
    fn full_and_mixed_words_tell_sets_apart() {
        let first_word_and_a_few = set_of((0..64).chain([70, 130]));
        let summary = |set: &OpSet| (set.full_words(), set.mixed_words().to_vec());
        assert_eq!(first_word_and_a_few.full_words(), 1);
        assert_eq!(first_word_and_a_few.mixed_words().len(), 2);
        let same = summary(&first_word_and_a_few);
        assert_eq!(summary(&set_of([130, 70].into_iter().chain(0..64))), same);
        let mut different = [
            set_of((0..64).chain([70])),
            set_of((0..64).chain([70, 130, 131])),
            set_of((1..64).chain([70, 130])),
            set_of((0..65).chain([70, 130])),
        ];
        assert!(different.iter().all(|set| summary(set) != same));
        // Removing and re-adding members brings the same summary back.
        different[3].remove(64);
        assert_eq!(summary(&different[3]), same);
        let full = set_of(0..200);
        assert_eq!((full.full_words(), full.mixed_words().len()), (3, 1));
        assert_eq!(summary(&OpSet::new(200)), (0, vec![]));
    }
}
