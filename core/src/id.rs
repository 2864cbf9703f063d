//! Upload identifiers and how new ones are made.

use std::fmt;
use std::sync::Arc;

/// The identifier of one upload: the last segment of its URL.
///
/// An `UploadId` is always safe to put in a URL path and a file name: it is 1 to 128
/// characters from the RFC 3986 unreserved set (`A-Z a-z 0-9 - _ . ~`), and it is
/// neither `.` nor `..`. IDs from clients, hooks and generators all pass through
/// [`UploadId::new`], so no other value ever reaches a storage backend.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UploadId(Arc<str>);

/// The reason a string is not a valid [`UploadId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUploadId(String);

impl fmt::Display for InvalidUploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid upload id {:?}: use 1 to 128 characters from A-Z a-z 0-9 - _ . ~", self.0)
    }
}

impl std::error::Error for InvalidUploadId {}

impl UploadId {
    /// The longest ID accepted.
    pub const MAX_LEN: usize = 128;

    /// Validates `id` and wraps it.
    pub fn new(id: impl AsRef<str>) -> Result<Self, InvalidUploadId> {
        let id = id.as_ref();
        let valid = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id != "."
            && id != ".."
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if valid { Ok(Self(Arc::from(id))) } else { Err(InvalidUploadId(id.chars().take(200).collect())) }
    }

    /// The ID as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for UploadId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for UploadId {
    type Err = InvalidUploadId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Makes the IDs of new uploads.
///
/// The default, [`RandomIds`], gives 128 random bits as 32 lowercase hex digits.
/// A hook may still choose an ID per upload (see [`crate::Hooks::pre_create`]).
pub trait IdGenerator: Send + Sync + 'static {
    /// Returns a fresh ID. Collisions are detected by the storage and answered with 500.
    fn generate(&self) -> UploadId;
}

/// The default ID generator: 128 bits from the operating system's CSPRNG, hex encoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn generate(&self) -> UploadId {
        let mut bytes = [0u8; 16];
        // The OS RNG failing means the machine is unusable; there is no safe fallback.
        getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
        // Encoded on the stack, then copied once into the ID's own allocation (hex digits are
        // ASCII, so the lossy conversion borrows and never replaces anything).
        let mut hex = [0u8; 32];
        for (pair, b) in hex.chunks_exact_mut(2).zip(bytes) {
            pair[0] = b"0123456789abcdef"[usize::from(b >> 4)];
            pair[1] = b"0123456789abcdef"[usize::from(b & 0xf)];
        }
        UploadId(Arc::from(&*String::from_utf8_lossy(&hex)))
    }
}

impl<F> IdGenerator for F
where
    F: Fn() -> UploadId + Send + Sync + 'static,
{
    fn generate(&self) -> UploadId {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unreserved_characters_only() {
        assert!(UploadId::new("abc-DEF_123.~x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "a%2e", "a\0", "ä", "a,b", &"x".repeat(129)] {
            assert!(UploadId::new(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn random_ids_are_32_hex_digits_and_distinct() {
        let a = RandomIds.generate();
        let b = RandomIds.generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| b"0123456789abcdef".contains(&c)), "{a} is not lowercase hex");
        assert_ne!(a, b);
    }
}
