//! The `Upload-Metadata` header: unique keys with optional base64 values.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard base64 that accepts values with or without padding (clients differ).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(true).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The metadata of an upload, in the order the client sent it.
///
/// Values are raw bytes (the header carries them base64 encoded); a key sent
/// without a value has an empty value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pairs: Vec<(String, Vec<u8>)>,
}

/// Why an `Upload-Metadata` header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMetadata(pub(crate) String);

impl std::fmt::Display for InvalidMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidMetadata {}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

impl Metadata {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses an `Upload-Metadata` header value strictly: every key is non-empty,
    /// printable ASCII without spaces or commas, and unique; every value is base64.
    /// An empty header gives an empty set (tuspy sends one).
    pub fn parse(header: &str) -> Result<Self, InvalidMetadata> {
        let mut metadata = Self::new();
        if header.trim().is_empty() {
            return Ok(metadata);
        }
        for pair in header.split(',') {
            let pair = pair.trim_matches(|c| c == ' ' || c == '\t');
            let mut parts = pair.split(' ');
            let key = parts.next().unwrap_or_default();
            let value = parts.next();
            if parts.next().is_some() {
                return Err(InvalidMetadata(format!("metadata pair {pair:?} has more than one space")));
            }
            if !valid_key(key) {
                return Err(InvalidMetadata(format!(
                    "metadata key {key:?} is empty or has a space, comma or control character"
                )));
            }
            if metadata.get(key).is_some() {
                return Err(InvalidMetadata(format!("metadata key {key:?} appears twice")));
            }
            let value = match value {
                None | Some("") => Vec::new(),
                Some(v) => LENIENT_BASE64
                    .decode(v)
                    .map_err(|_| InvalidMetadata(format!("metadata value of {key:?} is not valid base64")))?,
            };
            metadata.pairs.push((key.to_owned(), value));
        }
        Ok(metadata)
    }

    /// Encodes the set as an `Upload-Metadata` header value (keys without a value stand alone).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            if !value.is_empty() {
                out.push(' ');
                LENIENT_BASE64.encode_string(value, &mut out);
            }
        }
        out
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    /// The value of `key` when it is valid UTF-8.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Sets `key` to `value`, replacing an existing value in place.
    ///
    /// # Panics
    /// When `key` is not a valid metadata key (empty, or with a space, comma or
    /// non-printable character); keys are chosen by code, so that is a bug.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) {
        let key = key.into();
        assert!(valid_key(&key), "invalid metadata key {key:?}");
        let value = value.into();
        match self.pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        let index = self.pairs.iter().position(|(k, _)| k == key)?;
        Some(self.pairs.remove(index).1)
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_with_and_without_values() {
        let m = Metadata::parse("filename d29ybGQ=,is_confidential").unwrap();
        assert_eq!(m.get_str("filename"), Some("world"));
        assert_eq!(m.get("is_confidential"), Some(&b""[..]));
        assert_eq!(m.encode(), "filename d29ybGQ=,is_confidential");
    }

    #[test]
    fn tolerates_empty_header_spaces_and_missing_padding() {
        assert!(Metadata::parse("").unwrap().is_empty());
        let m = Metadata::parse("a d29ybGQ, b aGk=").unwrap();
        assert_eq!(m.get_str("a"), Some("world"));
        assert_eq!(m.get_str("b"), Some("hi"));
    }

    #[test]
    fn rejects_duplicates_bad_keys_and_bad_base64() {
        for bad in ["a aGk=,a aGk=", "a  aGk=", "a b c", "a !!!", ",", "a\u{1} aGk="] {
            assert!(Metadata::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trips_binary_values() {
        let mut m = Metadata::new();
        m.insert("x", b"\r\n\0".to_vec());
        assert_eq!(Metadata::parse(&m.encode()).unwrap(), m);
    }
}
