//! The upload record: the whole committed state of one upload, kept as JSON in the
//! upload's info object.
//!
//! Every cloud backend stores the same core (ID, offset, length, metadata, concatenation
//! role, times, tombstone) and adds its own fields (parts, multipart ID, block list...).
//! [`UploadRecord<B>`] holds the core and flattens the backend's `B` into the same JSON
//! object, so a record reads as one flat object:
//!
//! ```json
//! {"format":1,"id":"abc","offset":5,"length":10,"metadata":[["name","YS50eHQ="]],
//!  "concat":null,"created_at_ms":1700000000000,"expires_at_ms":null,"removed":false,
//!  "parts":[{"name":"abc.part.0","size":5}],"composed":false}
//! ```
//!
//! (the last two fields are the backend's). That is the format tus-s3 and tus-gcs wrote
//! before this crate existed, so their stored records stay readable.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tus_core::{Concat, Metadata, NewUpload, StorageError, UploadId, UploadInfo};

/// The names a backend gives the listing metadata of its info objects
/// ([`UploadRecord::listing_metadata`]).
#[derive(Debug, Clone, Copy)]
pub struct ListingKeys {
    /// The key holding a live, unfinished upload's expiry in ms since the epoch.
    pub expires_ms: &'static str,
    /// The key present on live, unfinished final uploads.
    pub waiting_final: &'static str,
}

/// The fields a backend adds to the [`UploadRecord`], flattened into its JSON object.
///
/// Their names must differ from the record's own (`format`, `id`, `offset`, `length`,
/// `metadata`, `concat`, `created_at_ms`, `expires_at_ms`, `removed`).
pub trait BackendFields: Serialize + DeserializeOwned {
    /// The format version written into each record; a record of another version is
    /// refused as corrupt. Bump it when a change to the fields makes older records
    /// unreadable (or older builds misread newer records).
    const FORMAT: u32;
}

/// The committed state of one upload: the fields every backend has, plus the backend's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "B: Serialize", deserialize = "B: DeserializeOwned"))]
#[non_exhaustive]
pub struct UploadRecord<B> {
    /// The format version ([`BackendFields::FORMAT`]).
    format: u32,
    /// The upload's ID.
    pub id: String,
    /// Bytes stored.
    pub offset: u64,
    /// The upload's length, once known.
    pub length: Option<u64>,
    /// Metadata pairs in the client's order, values in base64 (values are bytes).
    pub metadata: Vec<(String, String)>,
    /// Partial or final.
    pub concat: Option<ConcatRole>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Expiry time, milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
    /// A tombstone: the upload was terminated or expired and its data objects are gone.
    pub removed: bool,
    /// The backend's own fields.
    #[serde(flatten)]
    pub backend: B,
}

/// The concatenation role, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConcatRole {
    /// A partial upload, to be concatenated into finals.
    Partial,
    /// A final upload made of these partials, in order.
    Final(Vec<String>),
}

/// A record that cannot be read back: not JSON of the expected shape, of another format
/// version, or holding an invalid ID or metadata value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord {
    why: String,
}

impl CorruptRecord {
    fn new(why: impl Into<String>) -> Self {
        Self { why: why.into() }
    }

    /// What is wrong with the record.
    pub fn reason(&self) -> &str {
        &self.why
    }
}

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt upload record: {}", self.why)
    }
}

impl std::error::Error for CorruptRecord {}

impl From<CorruptRecord> for StorageError {
    fn from(e: CorruptRecord) -> Self {
        StorageError::other(e)
    }
}

/// `time` in milliseconds since the Unix epoch (0 before it, saturating far after it).
pub fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The time `ms` milliseconds after the Unix epoch.
pub fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl<B: BackendFields> UploadRecord<B> {
    /// The record of a new upload, created now, with the backend's initial fields.
    pub fn new(upload: &NewUpload, backend: B) -> Self {
        Self {
            format: B::FORMAT,
            id: upload.id.as_str().to_owned(),
            offset: 0,
            length: upload.length,
            metadata: upload.metadata.iter().map(|(k, v)| (k.to_owned(), BASE64.encode(v))).collect(),
            concat: upload.concat.as_ref().map(|c| match c {
                Concat::Partial => ConcatRole::Partial,
                Concat::Final(ids) => ConcatRole::Final(ids.iter().map(|id| id.as_str().to_owned()).collect()),
            }),
            created_at_ms: millis(SystemTime::now()),
            expires_at_ms: upload.expires_at.map(millis),
            removed: false,
            backend,
        }
    }

    /// Parses a record, refusing other format versions.
    ///
    /// # Errors
    /// [`StorageError::Other`] holding a [`CorruptRecord`] when the bytes are not a record
    /// of this format.
    pub fn from_json(bytes: &[u8]) -> Result<Self, StorageError> {
        let record: Self =
            serde_json::from_slice(bytes).map_err(|e| CorruptRecord::new(format!("not a valid record: {e}")))?;
        if record.format != B::FORMAT {
            let why = format!("format {} (this build reads {})", record.format, B::FORMAT);
            return Err(CorruptRecord::new(why).into());
        }
        Ok(record)
    }

    /// The record as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data (strings, numbers, vectors) always serialises; a backend whose fields
        // could fail would break its own tests at once.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl<B> UploadRecord<B> {
    /// The format version the record was written with.
    pub fn format(&self) -> u32 {
        self.format
    }

    /// Whether every byte is stored (the length is known and reached).
    pub fn is_complete(&self) -> bool {
        self.length == Some(self.offset)
    }

    /// Moves the expiry to `at`; `None` keeps the current one (an append that does not
    /// extend the expiry).
    pub fn set_expires_at(&mut self, at: Option<SystemTime>) {
        if let Some(at) = at {
            self.expires_at_ms = Some(millis(at));
        }
    }

    /// The custom metadata the info object carries so that a listing finds expired
    /// uploads and waiting finals without reading each record: on a live, unfinished
    /// upload, its expiry (ms since the epoch) under `keys.expires_ms`, and `"1"` under
    /// `keys.waiting_final` when it is a final upload. Each backend names the keys as its
    /// store allows.
    pub fn listing_metadata(&self, keys: &ListingKeys) -> HashMap<String, String> {
        let mut metadata = HashMap::new();
        if !self.removed && !self.is_complete() {
            if let Some(ms) = self.expires_at_ms {
                metadata.insert(keys.expires_ms.to_owned(), ms.to_string());
            }
            if matches!(self.concat, Some(ConcatRole::Final(_))) {
                metadata.insert(keys.waiting_final.to_owned(), "1".to_owned());
            }
        }
        metadata
    }

    /// Whether this is a live, unfinished final upload naming `partial`.
    pub fn waits_for(&self, partial: &str) -> bool {
        !self.removed
            && !self.is_complete()
            && matches!(&self.concat, Some(ConcatRole::Final(ids)) if ids.iter().any(|id| id == partial))
    }

    /// The record as tus-core sees it.
    ///
    /// # Errors
    /// [`StorageError::Other`] holding a [`CorruptRecord`] when the ID, a partial's ID or a
    /// metadata value is invalid.
    pub fn to_info(&self) -> Result<UploadInfo, StorageError> {
        let id = UploadId::new(&self.id).map_err(|e| CorruptRecord::new(format!("bad id {:?}: {e}", self.id)))?;
        let mut metadata = Metadata::new();
        for (key, value) in &self.metadata {
            let value =
                BASE64.decode(value).map_err(|e| CorruptRecord::new(format!("bad metadata value of {key:?}: {e}")))?;
            metadata.insert(key.clone(), value);
        }
        let concat = match &self.concat {
            None => None,
            Some(ConcatRole::Partial) => Some(Concat::Partial),
            Some(ConcatRole::Final(ids)) => Some(Concat::Final(
                ids.iter()
                    .map(|id| UploadId::new(id).map_err(|e| CorruptRecord::new(format!("bad partial id {id:?}: {e}"))))
                    .collect::<Result<_, CorruptRecord>>()?,
            )),
        };
        let mut info = UploadInfo::new(id);
        info.offset = self.offset;
        info.length = self.length;
        info.metadata = metadata;
        info.concat = concat;
        info.created_at = from_millis(self.created_at_ms);
        info.expires_at = self.expires_at_ms.map(from_millis);
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Parts {
        parts: Vec<u64>,
        done: bool,
    }

    impl BackendFields for Parts {
        const FORMAT: u32 = 1;
    }

    fn upload() -> NewUpload {
        let mut metadata = Metadata::new();
        metadata.insert("filename", "a.txt");
        metadata.insert("raw", vec![0u8, 0xff]);
        NewUpload::new(UploadId::new("abc").unwrap())
            .with_length(Some(10))
            .with_metadata(metadata)
            .with_concat(Some(Concat::Final(vec![UploadId::new("p1").unwrap(), UploadId::new("p2").unwrap()])))
            .with_expires_at(Some(SystemTime::now()))
    }

    #[test]
    fn round_trips_through_flat_json() {
        let upload = upload();
        let record = UploadRecord::new(&upload, Parts { parts: vec![3], done: false });
        let json: serde_json::Value = serde_json::from_slice(&record.to_json()).unwrap();
        assert_eq!(json["parts"], serde_json::json!([3]), "backend fields sit beside the common ones");
        assert_eq!(json["format"], 1);
        let back = UploadRecord::<Parts>::from_json(&record.to_json()).unwrap();
        assert_eq!(back, record);
        let info = back.to_info().unwrap();
        assert_eq!(info.metadata, upload.metadata);
        assert_eq!(info.concat, upload.concat);
        assert_eq!(info.length, Some(10));
        assert!(back.waits_for("p2"));
        assert!(!back.waits_for("p3"));
    }

    #[test]
    fn reads_a_record_written_before_the_crate_existed() {
        let stored = br#"{"format":1,"id":"x","offset":4,"length":null,"metadata":[["k","dg=="]],
            "concat":"partial","created_at_ms":1000,"expires_at_ms":2000,"removed":false,
            "parts":[4],"done":false}"#;
        let record = UploadRecord::<Parts>::from_json(stored).unwrap();
        assert_eq!(record.backend.parts, vec![4]);
        let info = record.to_info().unwrap();
        assert_eq!(info.offset, 4);
        assert_eq!(info.concat, Some(Concat::Partial));
        assert_eq!(info.metadata.get("k"), Some(&b"v"[..]));
        assert_eq!(info.expires_at, Some(from_millis(2000)));
    }

    fn corrupt(e: &StorageError) -> &CorruptRecord {
        match e {
            StorageError::Other(inner) => inner.downcast_ref().expect("a CorruptRecord"),
            other => panic!("not a corrupt record: {other}"),
        }
    }

    #[test]
    fn refuses_corrupt_records() {
        let other_format = br#"{"format":2,"id":"x","offset":0,"length":null,"metadata":[],"concat":null,
            "created_at_ms":0,"expires_at_ms":null,"removed":false,"parts":[],"done":false}"#;
        let err = UploadRecord::<Parts>::from_json(other_format).unwrap_err();
        assert!(corrupt(&err).reason().contains("format 2"), "{err}");
        assert!(UploadRecord::<Parts>::from_json(b"{\"format\":1}").is_err());
        let mut record = UploadRecord::new(&upload(), Parts { parts: vec![], done: false });
        record.metadata[0].1 = "not base64!".into();
        assert!(corrupt(&record.to_info().unwrap_err()).reason().contains("metadata"));
    }

    #[test]
    fn keeps_the_expiry_when_none_is_given() {
        let mut record = UploadRecord::new(&upload(), Parts { parts: vec![], done: false });
        let before = record.expires_at_ms;
        record.set_expires_at(None);
        assert_eq!(record.expires_at_ms, before);
        record.set_expires_at(Some(from_millis(5)));
        assert_eq!(record.expires_at_ms, Some(5));
    }
}
