//! Serde for byte vectors as one run of bytes rather than a sequence of
//! one-byte elements. The postcard encoding is the same (a length, then the
//! bytes), but writing it is a copy instead of a call per byte: it matters
//! because a peer encodes its whole log on every save.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// The serializing half of `#[serde(with = "raft_messages::bytes")]`.
pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// The deserializing half of `#[serde(with = "raft_messages::bytes")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_byte_buf(ByteBuf)
}

struct ByteBuf;

impl Visitor<'_> for ByteBuf {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        Ok(bytes.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct AsBytes(#[serde(with = "super")] Vec<u8>);

    #[test]
    fn the_encoding_is_that_of_a_plain_vec() {
        let data: Vec<u8> = (0..=255).collect();
        let fast = postcard::to_allocvec(&AsBytes(data.clone())).unwrap();
        assert_eq!(fast, postcard::to_allocvec(&data).unwrap());
        assert_eq!(
            postcard::from_bytes::<AsBytes>(&fast).unwrap(),
            AsBytes(data)
        );
    }
}
