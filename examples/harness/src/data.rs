//! Large request bodies made on the fly, and their digests.

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

/// The chunk size of generated bodies.
const CHUNK: usize = 256 << 10;

/// A deterministic body of any length, made chunk by chunk so that a test never holds more
/// than one chunk of it. Every chunk differs (it starts with its index), so reordered,
/// repeated or lost chunks change the digest.
#[derive(Debug, Clone)]
pub struct Pattern {
    block: Bytes,
    len: u64,
}

impl Pattern {
    /// A body of `len` bytes derived from `seed`.
    pub fn new(len: u64, seed: u64) -> Self {
        // xorshift64*: plenty for test data, and cheap even in a debug build.
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut block = Vec::with_capacity(2 * CHUNK);
        while block.len() < 2 * CHUNK {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            block.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        Self { block: block.into(), len }
    }

    /// The length of the body.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes `range` of the body, as chunks (each at most 256 KiB).
    pub fn chunks(&self, range: std::ops::Range<u64>) -> impl Iterator<Item = Bytes> + Send + 'static {
        let this = self.clone();
        let end = range.end.min(self.len);
        let mut at = range.start.min(end);
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let index = at / CHUNK as u64;
            let within = (at % CHUNK as u64) as usize;
            let take = ((CHUNK - within) as u64).min(end - at) as usize;
            let chunk = this.chunk(index);
            at += take as u64;
            Some(chunk.slice(within..within + take))
        })
    }

    /// The bytes `range` as one buffer (for small bodies).
    pub fn bytes(&self, range: std::ops::Range<u64>) -> Bytes {
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        for chunk in self.chunks(range) {
            out.extend_from_slice(&chunk);
        }
        out.into()
    }

    /// The hex SHA-256 of the whole body (computed chunk by chunk).
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for chunk in self.chunks(0..self.len) {
            hasher.update(&chunk);
        }
        hex(&hasher.finalize())
    }

    /// Chunk `index` whole: a window of the random block, stamped with its index.
    fn chunk(&self, index: u64) -> Bytes {
        let start = (index.wrapping_mul(4099) % CHUNK as u64) as usize;
        let mut chunk = self.block[start..start + CHUNK].to_vec();
        chunk[..8].copy_from_slice(&index.to_le_bytes());
        chunk.into()
    }
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_any_range_make_the_same_body() {
        let pattern = Pattern::new(3 * CHUNK as u64 + 1000, 7);
        let whole = pattern.bytes(0..pattern.len());
        assert_eq!(whole.len() as u64, pattern.len());
        let split =
            [pattern.bytes(0..12345), pattern.bytes(12345..600_000), pattern.bytes(600_000..pattern.len())].concat();
        assert_eq!(whole, split);
        assert_eq!(pattern.sha256(), sha256_hex(&whole));
        assert_ne!(whole[..CHUNK], whole[CHUNK..2 * CHUNK]);
        assert_ne!(Pattern::new(100, 1).bytes(0..100), Pattern::new(100, 2).bytes(0..100));
    }
}
