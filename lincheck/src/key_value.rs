//! The value of one key as the KV model tracks it.
//!
//! Appends make values long, and the search keeps a state for every step of
//! every partial linearization it tries. Copying the whole string on each
//! Append would cost time and memory quadratic in the number of appends, so
//! a value is a short chain of pieces shared with the values it was built
//! from, with its length and a running hash kept alongside so that most
//! comparisons of different values end without touching the text.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ptr;
use std::sync::Arc;

/// Multiplier of the polynomial hash; odd, so it is invertible mod 2^64.
const HASH_BASE: u64 = 0x100_0000_01b3;

/// The string a key holds: built by a Put and the Appends after it.
///
/// Cloning is O(1); appending costs O(appended bytes), times O(log len)
/// amortized; equality is exact.
#[derive(Clone, Default)]
pub struct KeyValue {
    /// The last piece, or `None` for the empty string.
    last: Option<Arc<Piece>>,
}

struct Piece {
    /// The value this piece extends.
    earlier: KeyValue,
    /// The bytes this piece adds; never empty.
    text: Box<str>,
    /// Length of the whole value up to and including this piece.
    len: usize,
    /// Polynomial hash of the whole value up to and including this piece.
    hash: u64,
}

impl KeyValue {
    /// The value holding exactly `text`.
    pub fn new(text: &str) -> KeyValue {
        KeyValue::default().append(text)
    }

    /// This value with `suffix` appended.
    pub fn append(&self, suffix: &str) -> KeyValue {
        if suffix.is_empty() {
            return self.clone();
        }
        // Fold in the last pieces while they are at most twice as long as
        // what is being added, so that each piece is over twice as long as
        // the next: a value has O(log len) pieces, and a byte is copied
        // O(log len) times as its value grows.
        let mut texts = vec![suffix];
        let mut merged_len = suffix.len();
        let mut earlier = self;
        while let Some(piece) = earlier.last.as_deref() {
            if piece.text.len() > 2 * merged_len {
                break;
            }
            texts.push(&piece.text);
            merged_len += piece.text.len();
            earlier = &piece.earlier;
        }
        let text: String = texts.into_iter().rev().collect();
        KeyValue {
            last: Some(Arc::new(Piece {
                earlier: earlier.clone(),
                text: text.into(),
                len: self.len() + suffix.len(),
                hash: suffix.bytes().fold(self.hash(), extend_hash),
            })),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.last.as_ref().map_or(0, |piece| piece.len)
    }

    /// Whether this is the empty string.
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// Whether this value is exactly `text`.
    pub fn equals_str(&self, text: &str) -> bool {
        self.len() == text.len() && same_bytes_from_end(self, Tail::Flat(text.as_bytes()))
    }

    /// Whether `text` starts with this value.
    pub fn is_prefix_of(&self, text: &str) -> bool {
        let len = self.len();
        len <= text.len() && same_bytes_from_end(self, Tail::Flat(&text.as_bytes()[..len]))
    }

    fn hash(&self) -> u64 {
        self.last.as_ref().map_or(0, |piece| piece.hash)
    }
}

fn extend_hash(hash: u64, byte: u8) -> u64 {
    hash.wrapping_mul(HASH_BASE)
        .wrapping_add(u64::from(byte) + 1)
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &KeyValue) -> bool {
        self.len() == other.len()
            && self.hash() == other.hash()
            && same_bytes_from_end(self, Tail::Pieces(PieceCursor::new(other)))
    }
}

impl Eq for KeyValue {}

impl Hash for KeyValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        state.write_u64(self.hash());
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut pieces = Vec::new();
        let mut value = self;
        while let Some(piece) = &value.last {
            pieces.push(&*piece.text);
            value = &piece.earlier;
        }
        pieces.iter().rev().try_for_each(|text| f.write_str(text))
    }
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

/// Walks a value's bytes backwards, piece by piece.
struct PieceCursor<'a> {
    /// The piece being read, or `None` at the start of the value.
    piece: Option<&'a Piece>,
    /// The bytes of `piece` not yet read: a prefix of its text.
    unread: &'a [u8],
}

impl<'a> PieceCursor<'a> {
    fn new(value: &'a KeyValue) -> PieceCursor<'a> {
        let piece = value.last.as_deref();
        PieceCursor {
            piece,
            unread: piece.map_or(&[], |piece| piece.text.as_bytes()),
        }
    }

    /// Moves past a fully read piece; pieces are never empty, so one step
    /// is enough.
    fn settle(&mut self) {
        if let (true, Some(piece)) = (self.unread.is_empty(), self.piece) {
            *self = PieceCursor::new(&piece.earlier);
        }
    }

    /// Whether the cursor sits at the end of `piece`, so everything still
    /// to read is exactly the value that ends with `piece`.
    fn at_end_of(&self, piece: &Piece) -> bool {
        self.piece.is_some_and(|own| ptr::eq(own, piece)) && self.unread.len() == piece.text.len()
    }

    /// Reads the last `count` unread bytes, which must not cross a piece.
    fn consume(&mut self, count: usize) {
        self.unread = &self.unread[..self.unread.len() - count];
        self.settle();
    }
}

/// The other side of a comparison: another value, or a plain string.
enum Tail<'a> {
    Pieces(PieceCursor<'a>),
    Flat(&'a [u8]),
}

impl Tail<'_> {
    fn unread(&self) -> &[u8] {
        match self {
            Tail::Pieces(cursor) => cursor.unread,
            Tail::Flat(bytes) => bytes,
        }
    }

    fn consume(&mut self, count: usize) {
        match self {
            Tail::Pieces(cursor) => cursor.consume(count),
            Tail::Flat(bytes) => *bytes = &bytes[..bytes.len() - count],
        }
    }
}

/// Compares `value` with `other` from the last byte backwards; both must
/// have the same length. Stops early when both sides reach the end of one
/// shared piece, as values derived from a common one usually do.
fn same_bytes_from_end(value: &KeyValue, mut other: Tail<'_>) -> bool {
    let mut cursor = PieceCursor::new(value);
    while let Some(piece) = cursor.piece {
        if let Tail::Pieces(theirs) = &other {
            if theirs.at_end_of(piece) && cursor.at_end_of(piece) {
                return true;
            }
        }
        let count = cursor.unread.len().min(other.unread().len());
        if count == 0 {
            return false; // the lengths differ after all
        }
        let mine = &cursor.unread[cursor.unread.len() - count..];
        let theirs = &other.unread()[other.unread().len() - count..];
        if mine != theirs {
            return false;
        }
        cursor.consume(count);
        other.consume(count);
    }
    other.unread().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a value by a Put of `first` and then appends of `rest`.
    fn built(first: &str, rest: &[&str]) -> KeyValue {
        rest.iter()
            .fold(KeyValue::new(first), |value, suffix| value.append(suffix))
    }

    #[test]
    fn values_with_the_same_text_are_equal_however_they_were_built() {
        let whole = KeyValue::new("abcdef");
        let pieces = built("ab", &["c", "", "def"]);
        let other_pieces = built("a", &["bcd", "ef"]);
        assert_eq!(pieces.to_string(), "abcdef");
        assert_eq!(whole, pieces);
        assert_eq!(pieces, other_pieces);
        assert!(pieces.equals_str("abcdef"));
        assert_eq!(KeyValue::new(""), KeyValue::default());
        assert!(KeyValue::default().equals_str(""));
    }

    #[test]
    fn values_with_different_text_differ() {
        let base = built("x", &["1", "2"]);
        assert_ne!(base, built("x", &["2", "1"]));
        assert_ne!(base, built("x", &["1"]));
        assert_ne!(base, KeyValue::new("y12"));
        assert!(!base.equals_str("x13"));
        assert!(!base.equals_str("x1"));
        assert!(!base.equals_str("x12 "));
    }

    #[test]
    fn prefixes_are_recognised() {
        let value = built("ab", &["c"]);
        assert!(value.is_prefix_of("abc") && value.is_prefix_of("abcd"));
        assert!(
            !value.is_prefix_of("ab") && !value.is_prefix_of("abd") && !value.is_prefix_of("xabc")
        );
        assert!(KeyValue::default().is_prefix_of(""));
    }

    #[test]
    fn shared_history_compares_without_reading_it_all() {
        let common = (0..1000).fold(KeyValue::default(), |value, i| value.append(&i.to_string()));
        let left = common.append("tail");
        let right = common.append("ta").append("il");
        assert_eq!(left, right);
        assert_ne!(left, common.append("tall"));
        assert_eq!(left.len(), common.len() + 4);
    }

    #[test]
    fn pieces_stay_few_as_a_value_grows() {
        let mut value = KeyValue::default();
        for i in 0..20_000 {
            value = value.append(&format!("{i};"));
            let mut pieces = 0;
            let mut rest = &value;
            while let Some(piece) = rest.last.as_deref() {
                pieces += 1;
                rest = &piece.earlier;
            }
            assert!(
                pieces <= value.len().ilog2() as usize + 1,
                "{pieces} pieces"
            );
        }
        assert!(value.to_string().ends_with(";19998;19999;"));
        assert!(value.equals_str(&(0..20_000).map(|i| format!("{i};")).collect::<String>()));
    }
}
