//! `Upload-Metadata`: key/value pairs whose values travel base64-encoded.

use crate::error::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;

/// The metadata of an upload: keys (ASCII, no spaces or commas) with byte values, which
/// travel base64-encoded in the `Upload-Metadata` header.
///
/// ```
/// use tus_rs_client::Metadata;
///
/// let mut metadata = Metadata::new();
/// metadata.insert("filename", "résumé.pdf");
/// metadata.insert("is_confidential", "");
/// assert_eq!(metadata.encode().unwrap().as_deref(), Some("filename csOpc3Vtw6kucGRm,is_confidential"));
/// let parsed = Metadata::decode("filename csOpc3Vtw6kucGRm,is_confidential").unwrap();
/// assert_eq!(parsed.get_str("filename"), Some("résumé.pdf"));
/// assert_eq!(parsed, metadata);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(BTreeMap<String, Vec<u8>>);

impl Metadata {
    /// No metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, returning the value it had. Keys are checked when the
    /// metadata is encoded.
    pub fn insert(&mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        self.0.insert(key.into(), value.as_ref().to_vec())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        self.0.remove(key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.0.get(key).map(Vec::as_slice)
    }

    /// The value of `key`, when it is UTF-8.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The pairs, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no metadata.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `Upload-Metadata` header value (`None` when empty). Fails on a key that is
    /// empty or holds a space, a comma or a non-ASCII or control character.
    pub fn encode(&self) -> Result<Option<String>> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let mut pairs = Vec::with_capacity(self.0.len());
        for (key, value) in &self.0 {
            check_key(key)?;
            if value.is_empty() {
                pairs.push(key.clone());
            } else {
                pairs.push(format!("{key} {}", STANDARD.encode(value)));
            }
        }
        Ok(Some(pairs.join(",")))
    }

    /// Parses an `Upload-Metadata` header value.
    pub fn decode(header: &str) -> Result<Self> {
        let mut map = BTreeMap::new();
        for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = match pair.split_once(' ') {
                Some((key, value)) => (key, value.trim()),
                None => (pair, ""),
            };
            check_key(key)?;
            let value = STANDARD
                .decode(value)
                .map_err(|e| Error::InvalidInput(format!("metadata value of {key:?} is not base64: {e}")))?;
            map.insert(key.to_owned(), value);
        }
        Ok(Self(map))
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidInput("a metadata key is empty".into()));
    }
    if key.chars().any(|c| !c.is_ascii_graphic() || c == ',') {
        return Err(Error::InvalidInput(format!(
            "metadata key {key:?} must be ASCII without spaces, commas or control characters"
        )));
    }
    Ok(())
}

impl<K: Into<String>, V: AsRef<[u8]>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut metadata = Self::new();
        metadata.extend(iter);
        metadata
    }
}

impl<K: Into<String>, V: AsRef<[u8]>> Extend<(K, V)> for Metadata {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<'a> IntoIterator for &'a Metadata {
    type Item = (&'a String, &'a Vec<u8>);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Vec<u8>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_unicode_binary_and_empty() {
        let metadata: Metadata = [
            ("filename", "résumé 履歴書 🚀.txt".as_bytes()),
            ("empty", b"".as_slice()),
            ("binary", &[0u8, 255, 10, 13][..]),
            ("note", "with, comma and spaces".as_bytes()),
        ]
        .into_iter()
        .collect();
        let header = metadata.encode().unwrap().unwrap();
        assert!(header.contains("empty,") || header.ends_with("empty"), "{header}");
        assert!(!header.contains(' ') || header.split(',').all(|p| p.split(' ').count() <= 2));
        assert_eq!(Metadata::decode(&header).unwrap(), metadata);
    }

    #[test]
    fn known_encoding() {
        let metadata: Metadata = [("filename", "world_domination_plan.pdf")].into_iter().collect();
        assert_eq!(metadata.encode().unwrap().unwrap(), "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==");
        assert_eq!(Metadata::new().encode().unwrap(), None);
    }

    #[test]
    fn bad_keys_are_refused() {
        for key in ["", "with space", "a,b", "ключ", "tab\t"] {
            let metadata: Metadata = [(key, "v")].into_iter().collect();
            assert!(matches!(metadata.encode(), Err(Error::InvalidInput(_))), "{key:?}");
        }
    }

    #[test]
    fn decode_tolerates_spaces_and_refuses_bad_base64() {
        let parsed = Metadata::decode(" a YQ== , b ").unwrap();
        assert_eq!(parsed.get_str("a"), Some("a"));
        assert_eq!(parsed.get("b"), Some(&b""[..]));
        assert!(Metadata::decode("a !!!").is_err());
    }
}
