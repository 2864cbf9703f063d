//! The checksum extension: algorithms, the `Upload-Checksum` header and streaming hashers.

use base64::Engine as _;
use std::fmt;
use std::str::FromStr;

/// A checksum algorithm a client may name in `Upload-Checksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChecksumAlgorithm {
    /// SHA-1, the one every tus server with the checksum extension must support.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
    /// MD5.
    Md5,
    /// CRC-32 (IEEE), the digest being the 4 bytes of the checksum, big-endian.
    Crc32,
    /// CRC-32C (Castagnoli), the digest being the 4 bytes of the checksum, big-endian.
    Crc32c,
}

impl ChecksumAlgorithm {
    /// Every algorithm this crate implements, in the order they are advertised.
    pub const ALL: [Self; 6] = [Self::Sha1, Self::Sha256, Self::Sha512, Self::Md5, Self::Crc32, Self::Crc32c];

    /// The lowercase name used on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
            Self::Md5 => "md5",
            Self::Crc32 => "crc32",
            Self::Crc32c => "crc32c",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
            Self::Md5 => 16,
            Self::Crc32 | Self::Crc32c => 4,
        }
    }

    /// A fresh streaming hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        use sha2::Digest as _;
        Hasher(match self {
            Self::Sha1 => HasherState::Sha1(sha1::Sha1::new()),
            Self::Sha256 => HasherState::Sha256(sha2::Sha256::new()),
            Self::Sha512 => HasherState::Sha512(sha2::Sha512::new()),
            Self::Md5 => HasherState::Md5(md5::Md5::new()),
            Self::Crc32 => HasherState::Crc32(crc32fast::Hasher::new()),
            Self::Crc32c => HasherState::Crc32c(0),
        })
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An algorithm name that is not one of [`ChecksumAlgorithm::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm(pub String);

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported checksum algorithm {:?}", self.0)
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for ChecksumAlgorithm {
    type Err = UnknownAlgorithm;
    /// Names are matched exactly: the spec says they are lowercase, so `SHA1` is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// A streaming hasher; feed it with [`Hasher::update`] and read the digest with [`Hasher::finish`].
#[derive(Clone)]
pub struct Hasher(HasherState);

#[derive(Clone)]
enum HasherState {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// Hashes more bytes.
    pub fn update(&mut self, data: &[u8]) {
        use sha2::Digest as _;
        match &mut self.0 {
            HasherState::Sha1(h) => h.update(data),
            HasherState::Sha256(h) => h.update(data),
            HasherState::Sha512(h) => h.update(data),
            HasherState::Md5(h) => h.update(data),
            HasherState::Crc32(h) => h.update(data),
            HasherState::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
        }
    }

    /// The digest of everything hashed so far.
    pub fn finish(self) -> Vec<u8> {
        use sha2::Digest as _;
        match self.0 {
            HasherState::Sha1(h) => h.finalize().to_vec(),
            HasherState::Sha256(h) => h.finalize().to_vec(),
            HasherState::Sha512(h) => h.finalize().to_vec(),
            HasherState::Md5(h) => h.finalize().to_vec(),
            HasherState::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            HasherState::Crc32c(crc) => crc.to_be_bytes().to_vec(),
        }
    }
}

/// A parsed `Upload-Checksum` header: an algorithm and the expected digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadChecksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The expected digest, decoded from base64.
    pub digest: Vec<u8>,
}

/// Why an `Upload-Checksum` header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidChecksum {
    /// The algorithm is not supported (or not enabled).
    Unsupported(String),
    /// The header is not `<algorithm> <base64 digest>` with a digest of the right length.
    Malformed(String),
}

impl fmt::Display for InvalidChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported(name) => write!(f, "unsupported checksum algorithm {name:?}"),
            Self::Malformed(why) => write!(f, "malformed Upload-Checksum: {why}"),
        }
    }
}

impl std::error::Error for InvalidChecksum {}

impl UploadChecksum {
    /// Parses `<algorithm> <base64 digest>`, accepting only the `enabled` algorithms.
    pub fn parse(value: &str, enabled: &[ChecksumAlgorithm]) -> Result<Self, InvalidChecksum> {
        let (name, digest) = value
            .trim()
            .split_once(' ')
            .ok_or_else(|| InvalidChecksum::Malformed("expected \"<algorithm> <base64 digest>\"".into()))?;
        let algorithm: ChecksumAlgorithm = name.parse().map_err(|_| InvalidChecksum::Unsupported(name.to_owned()))?;
        if !enabled.contains(&algorithm) {
            return Err(InvalidChecksum::Unsupported(name.to_owned()));
        }
        let digest = base64::engine::general_purpose::STANDARD
            .decode(digest.trim())
            .map_err(|_| InvalidChecksum::Malformed("the digest is not base64".into()))?;
        if digest.len() != algorithm.digest_len() {
            return Err(InvalidChecksum::Malformed(format!(
                "a {algorithm} digest has {} bytes, this one has {}",
                algorithm.digest_len(),
                digest.len()
            )));
        }
        Ok(Self { algorithm, digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_of_hello_world_matches_the_spec_example() {
        let c = UploadChecksum::parse("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", &ChecksumAlgorithm::ALL).unwrap();
        let mut h = c.algorithm.hasher();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), c.digest);
    }

    #[test]
    fn crcs_match_their_check_values() {
        for (algorithm, check) in [(ChecksumAlgorithm::Crc32, 0xCBF4_3926u32), (ChecksumAlgorithm::Crc32c, 0xE306_9283)]
        {
            let mut h = algorithm.hasher();
            h.update(b"1234");
            h.update(b"56789");
            assert_eq!(h.finish(), check.to_be_bytes());
        }
    }

    #[test]
    fn refuses_uppercase_unknown_and_malformed() {
        let all = ChecksumAlgorithm::ALL;
        assert!(matches!(
            UploadChecksum::parse("SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", &all),
            Err(InvalidChecksum::Unsupported(_))
        ));
        assert!(matches!(UploadChecksum::parse("whirlpool abc=", &all), Err(InvalidChecksum::Unsupported(_))));
        assert!(matches!(UploadChecksum::parse("sha1", &all), Err(InvalidChecksum::Malformed(_))));
        assert!(matches!(UploadChecksum::parse("sha1 !!!", &all), Err(InvalidChecksum::Malformed(_))));
        assert!(matches!(UploadChecksum::parse("sha1 aGk=", &all), Err(InvalidChecksum::Malformed(_))));
        assert!(matches!(
            UploadChecksum::parse("md5 Kq5sNclPz7QV2+lfQIuc6R7oRu0=", &[ChecksumAlgorithm::Sha1]),
            Err(InvalidChecksum::Unsupported(_))
        ));
    }
}
