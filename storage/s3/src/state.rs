//! The info object: the whole committed state of one upload, as JSON.
//!
//! HEAD reads it with one GET; every change is a conditional PUT on its ETag, so two
//! writers can never both apply at the same offset.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tus_core::{Concat, Metadata, StorageError, UploadId, UploadInfo};

/// The format version written into every info object.
const FORMAT: u32 = 1;

/// What the info object of an upload holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UploadState {
    /// The format version ([`FORMAT`]).
    pub(crate) format: u32,
    pub(crate) id: String,
    /// Bytes stored: the sum of `parts` plus `incomplete`, or the data object's size once
    /// `completed`.
    pub(crate) offset: u64,
    pub(crate) length: Option<u64>,
    /// Metadata pairs in the client's order, values in base64.
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) concat: Option<ConcatState>,
    pub(crate) created_at_ms: u64,
    pub(crate) expires_at_ms: Option<u64>,
    /// A tombstone: the upload was terminated or expired, its objects are gone.
    pub(crate) removed: bool,
    /// The size of the first part, chosen at creation.
    pub(crate) part_size: u64,
    /// Whether part sizes double every 900 parts (deferred length).
    pub(crate) growing: bool,
    /// The multipart upload holding the parts, once the first part is uploaded.
    pub(crate) multipart: Option<String>,
    /// The uploaded parts, in order; their sizes are the part sizes of `part_size`.
    pub(crate) parts: Vec<PartState>,
    /// The bytes after the last part, too few for a part, in an object of their own.
    pub(crate) incomplete: Option<IncompleteState>,
    /// The data object holds every byte (the multipart upload was completed).
    pub(crate) completed: bool,
}

/// The concatenation role, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ConcatState {
    Partial,
    Final(Vec<String>),
}

/// One uploaded part of the multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartState {
    pub(crate) number: i32,
    pub(crate) etag: String,
    pub(crate) size: u64,
}

/// The object holding the bytes after the last part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IncompleteState {
    /// A random token naming the object: each append writes a new one, so a failed
    /// or losing append never overwrites the committed one.
    pub(crate) token: String,
    pub(crate) size: u64,
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl UploadState {
    /// The state of a new upload.
    pub(crate) fn new(info: &UploadInfo, part_size: u64, growing: bool) -> Self {
        Self {
            format: FORMAT,
            id: info.id.as_str().to_owned(),
            offset: 0,
            length: info.length,
            metadata: info.metadata.iter().map(|(k, v)| (k.to_owned(), BASE64.encode(v))).collect(),
            concat: info.concat.as_ref().map(|c| match c {
                Concat::Partial => ConcatState::Partial,
                Concat::Final(ids) => ConcatState::Final(ids.iter().map(|id| id.as_str().to_owned()).collect()),
            }),
            created_at_ms: millis(info.created_at),
            expires_at_ms: info.expires_at.map(millis),
            removed: false,
            part_size,
            growing,
            multipart: None,
            parts: Vec::new(),
            incomplete: None,
            completed: false,
        }
    }

    /// Parses an info object.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let state: Self = serde_json::from_slice(bytes)
            .map_err(|e| StorageError::other(format!("corrupt upload info object: {e}")))?;
        if state.format != FORMAT {
            return Err(StorageError::other(format!("upload info object has unknown format {}", state.format)));
        }
        Ok(state)
    }

    /// Serializes the state for the info object.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // A struct of strings, numbers and vectors always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The state as tus-core sees it.
    pub(crate) fn info(&self) -> Result<UploadInfo, StorageError> {
        let corrupt = |what: &str| StorageError::other(format!("corrupt upload info object: {what}"));
        let id = UploadId::new(&self.id).map_err(|_| corrupt("id"))?;
        let mut info = UploadInfo::new(id);
        info.offset = self.offset;
        info.length = self.length;
        let mut metadata = Metadata::new();
        for (key, value) in &self.metadata {
            metadata.insert(key.clone(), BASE64.decode(value).map_err(|_| corrupt("metadata"))?);
        }
        info.metadata = metadata;
        info.concat = match &self.concat {
            None => None,
            Some(ConcatState::Partial) => Some(Concat::Partial),
            Some(ConcatState::Final(ids)) => Some(Concat::Final(
                ids.iter().map(UploadId::new).collect::<Result<_, _>>().map_err(|_| corrupt("concat"))?,
            )),
        };
        info.created_at = from_millis(self.created_at_ms);
        info.expires_at = self.expires_at_ms.map(from_millis);
        Ok(info)
    }

    /// Sets the expiry time.
    pub(crate) fn set_expires_at(&mut self, at: Option<SystemTime>) {
        self.expires_at_ms = at.map(millis);
    }

    /// Whether this is an unfinished final upload naming `partial`.
    pub(crate) fn waits_for(&self, partial: &str) -> bool {
        !self.removed
            && self.length != Some(self.offset)
            && matches!(&self.concat, Some(ConcatState::Final(ids)) if ids.iter().any(|id| id == partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let mut metadata = Metadata::new();
        metadata.insert("filename", "a.txt");
        metadata.insert("raw", vec![0u8, 0xff]);
        let mut info = UploadInfo::new(UploadId::new("abc").unwrap());
        info.length = Some(10);
        info.metadata = metadata;
        info.concat = Some(Concat::Final(vec![UploadId::new("p1").unwrap(), UploadId::new("p2").unwrap()]));
        info.expires_at = Some(SystemTime::now());
        let state = UploadState::new(&info, 8 << 20, false);
        let back = UploadState::decode(&state.encode()).unwrap().info().unwrap();
        assert_eq!(back.metadata, info.metadata);
        assert_eq!(back.concat, info.concat);
        assert_eq!(back.length, Some(10));
        assert!(state.waits_for("p2"));
        assert!(!state.waits_for("p3"));
    }
}
