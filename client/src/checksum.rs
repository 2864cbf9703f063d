//! The checksum extension: the algorithms and the `Upload-Checksum` header.

use base64::Engine as _;
use std::fmt;
use std::str::FromStr;

/// An algorithm for the `Upload-Checksum` header of each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChecksumAlgorithm {
    /// SHA-1: every server with the checksum extension supports it.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
    /// MD5.
    Md5,
}

impl ChecksumAlgorithm {
    /// Every algorithm this crate implements.
    pub const ALL: [Self; 4] = [Self::Sha1, Self::Sha256, Self::Sha512, Self::Md5];

    /// The lowercase name used on the wire (`sha1`, `sha256`, `sha512`, `md5`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
            Self::Md5 => "md5",
        }
    }

    pub(crate) fn hasher(self) -> Hasher {
        use sha2::Digest as _;
        match self {
            Self::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Self::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Self::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            Self::Md5 => Hasher::Md5(md5::Md5::new()),
        }
    }

    /// The `Upload-Checksum` value for `data`: the name, a space and the base64 digest.
    pub fn header_value(self, data: &[u8]) -> String {
        let mut hasher = self.hasher();
        hasher.update(data);
        hasher.header_value()
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a supported checksum algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm(pub String);

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown checksum algorithm {:?} (use sha1, sha256, sha512 or md5)", self.0)
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for ChecksumAlgorithm {
    type Err = UnknownAlgorithm;

    /// Parses a name, ignoring case and dashes (`sha256`, `SHA-256`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase().replace('-', "");
        Self::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// A streaming digest.
pub(crate) enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Md5(md5::Md5),
}

impl Hasher {
    pub(crate) fn update(&mut self, data: &[u8]) {
        use sha2::Digest as _;
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
            Self::Md5(h) => h.update(data),
        }
    }

    pub(crate) fn header_value(self) -> String {
        use sha2::Digest as _;
        let (name, digest) = match self {
            Self::Sha1(h) => ("sha1", h.finalize().to_vec()),
            Self::Sha256(h) => ("sha256", h.finalize().to_vec()),
            Self::Sha512(h) => ("sha512", h.finalize().to_vec()),
            Self::Md5(h) => ("md5", h.finalize().to_vec()),
        };
        format!("{name} {}", base64::engine::general_purpose::STANDARD.encode(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!("SHA-256".parse::<ChecksumAlgorithm>(), Ok(ChecksumAlgorithm::Sha256));
        assert_eq!("md5".parse::<ChecksumAlgorithm>(), Ok(ChecksumAlgorithm::Md5));
        assert!("crc32".parse::<ChecksumAlgorithm>().is_err());
    }

    #[test]
    fn known_digests() {
        assert_eq!(ChecksumAlgorithm::Sha1.header_value(b"hello"), "sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=");
        assert_eq!(ChecksumAlgorithm::Md5.header_value(b"hello"), "md5 XUFAKrxLKna5cZ2REBfFkg==");
        assert_eq!(
            ChecksumAlgorithm::Sha256.header_value(b"hello"),
            "sha256 LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
        );
    }
}
