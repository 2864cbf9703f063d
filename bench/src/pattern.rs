//! The bytes every upload carries: a fixed pseudo-random buffer repeated over the whole
//! upload, so bodies are slices of one shared [`Bytes`] (no allocation per request) and
//! any stored range can be checked against what was sent.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The length of the repeated buffer (1 MiB): the largest frame a [`PatternBody`] yields.
pub const PATTERN_LEN: usize = 1 << 20;

/// A fixed buffer of pseudo-random bytes; byte `i` of every upload is `bytes[i % PATTERN_LEN]`.
#[derive(Debug, Clone)]
pub struct Pattern {
    bytes: Bytes,
}

impl Default for Pattern {
    fn default() -> Self {
        Self::new()
    }
}

impl Pattern {
    /// The pattern (always the same bytes: an xorshift64 sequence from a fixed seed).
    pub fn new() -> Self {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut bytes = Vec::with_capacity(PATTERN_LEN);
        while bytes.len() < PATTERN_LEN {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.extend_from_slice(&state.to_le_bytes());
        }
        Self { bytes: Bytes::from(bytes) }
    }

    /// A request body with the bytes `start..start + len` of an upload.
    pub fn body(&self, start: u64, len: u64) -> PatternBody {
        PatternBody { pattern: self.bytes.clone(), position: start, remaining: len }
    }

    /// The first `len` bytes of the pattern (at most [`PATTERN_LEN`]).
    pub fn slice(&self, len: usize) -> Bytes {
        self.bytes.slice(..len.min(PATTERN_LEN))
    }

    /// The bytes `start..start + len` of an upload, in one buffer (for clients that want
    /// a whole part at once).
    pub fn bytes(&self, start: u64, len: u64) -> Bytes {
        let len = usize::try_from(len).expect("a part fits in memory");
        let mut out = Vec::with_capacity(len);
        let mut position = start;
        while out.len() < len {
            let from = offset_in_pattern(position);
            let n = (len - out.len()).min(PATTERN_LEN - from);
            out.extend_from_slice(&self.bytes[from..from + n]);
            position += n as u64;
        }
        Bytes::from(out)
    }

    /// An empty request body.
    pub fn empty(&self) -> PatternBody {
        self.body(0, 0)
    }

    /// Whether `data` equals the bytes of an upload starting at offset `start`.
    pub fn matches(&self, start: u64, data: &[u8]) -> bool {
        let mut position = start;
        let mut rest = data;
        while !rest.is_empty() {
            let from = offset_in_pattern(position);
            let n = rest.len().min(PATTERN_LEN - from);
            if rest[..n] != self.bytes[from..from + n] {
                return false;
            }
            rest = &rest[n..];
            position += n as u64;
        }
        true
    }
}

fn offset_in_pattern(position: u64) -> usize {
    // The remainder is below PATTERN_LEN, so it fits in usize.
    (position % PATTERN_LEN as u64) as usize
}

/// A streaming request body of pattern bytes: frames are slices of the shared pattern
/// buffer of at most [`PATTERN_LEN`] bytes each, with an exact size hint.
#[derive(Debug, Clone)]
pub struct PatternBody {
    pattern: Bytes,
    position: u64,
    remaining: u64,
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let from = offset_in_pattern(self.position);
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(PATTERN_LEN - from);
        let frame = self.pattern.slice(from..from + n);
        self.position += n as u64;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn bodies_are_the_pattern_at_their_offset() {
        let pattern = Pattern::new();
        let start = PATTERN_LEN as u64 - 10;
        let body = pattern.body(start, 3 * PATTERN_LEN as u64).collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), 3 * PATTERN_LEN);
        assert!(pattern.matches(start, &body));
        assert!(!pattern.matches(start + 1, &body));
        assert!(pattern.empty().is_end_stream());
        assert_eq!(pattern.bytes(start, 3 * PATTERN_LEN as u64), body, "one buffer, the same bytes");
    }
}
