//! The info blob: the whole committed state of one upload, as JSON.
//!
//! HEAD reads it with one GET; every change is a write conditioned on the ETag that was
//! read (`If-Match`, or `If-None-Match: *` at creation), so of two writers at the same
//! offset only one applies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tus_core::{Concat, Metadata, NewUpload, StorageError, UploadId, UploadInfo};

/// The format version written into every info blob.
const FORMAT: u32 = 1;

/// Metadata name on the info blob (Azure allows only identifier characters): the expiry
/// (ms since the epoch) of a live, unfinished upload, so that the janitor's listing needs
/// no read per upload.
pub(crate) const META_EXPIRES: &str = "tusexpiresms";
/// Metadata name on the info blob: present on live, unfinished finals.
pub(crate) const META_WAITING_FINAL: &str = "tuswaitingfinal";

/// What the info blob of an upload holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UploadState {
    pub(crate) format: u32,
    pub(crate) id: String,
    /// Bytes stored: the sum of the blocks' sizes.
    pub(crate) offset: u64,
    pub(crate) length: Option<u64>,
    /// Metadata pairs, values in base64.
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) concat: Option<ConcatState>,
    pub(crate) created_at_ms: u64,
    pub(crate) expires_at_ms: Option<u64>,
    /// A tombstone: the upload was terminated or expired, its blobs are gone.
    pub(crate) removed: bool,
    /// The staged blocks of the data blob holding the bytes, in order.
    pub(crate) blocks: Vec<BlockState>,
    /// The block list is committed: the data blob holds every byte.
    pub(crate) committed: bool,
}

/// The concatenation role, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ConcatState {
    Partial,
    Final(Vec<String>),
}

/// One block of the data blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockState {
    /// The block ID before base64 (ASCII, the same length for every block of a blob).
    pub(crate) id: String,
    pub(crate) size: u64,
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn corrupt(why: String) -> StorageError {
    StorageError::Other(Box::new(crate::AzureError::Corrupt(why)))
}

impl UploadState {
    /// The state of a new upload.
    pub(crate) fn new(upload: &NewUpload) -> Self {
        Self {
            format: FORMAT,
            id: upload.id.to_string(),
            offset: 0,
            length: upload.length,
            metadata: upload.metadata.iter().map(|(k, v)| (k.to_owned(), BASE64.encode(v))).collect(),
            concat: upload.concat.as_ref().map(|c| match c {
                Concat::Partial => ConcatState::Partial,
                Concat::Final(ids) => ConcatState::Final(ids.iter().map(ToString::to_string).collect()),
            }),
            created_at_ms: millis(SystemTime::now()),
            expires_at_ms: upload.expires_at.map(millis),
            removed: false,
            blocks: Vec::new(),
            committed: false,
        }
    }

    pub(crate) fn from_json(bytes: &[u8]) -> Result<Self, StorageError> {
        let state: Self =
            serde_json::from_slice(bytes).map_err(|e| corrupt(format!("info blob is not valid JSON: {e}")))?;
        if state.format != FORMAT {
            return Err(corrupt(format!("info blob of format {} (this build reads {FORMAT})", state.format)));
        }
        Ok(state)
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.length == Some(self.offset)
    }

    pub(crate) fn set_expires_at(&mut self, at: Option<SystemTime>) {
        if let Some(at) = at {
            self.expires_at_ms = Some(millis(at));
        }
    }

    /// The metadata of the info blob, for listings.
    pub(crate) fn blob_metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::new();
        if !self.removed && !self.is_complete() {
            if let Some(ms) = self.expires_at_ms {
                metadata.insert(META_EXPIRES.to_owned(), ms.to_string());
            }
            if matches!(self.concat, Some(ConcatState::Final(_))) {
                metadata.insert(META_WAITING_FINAL.to_owned(), "1".to_owned());
            }
        }
        metadata
    }

    /// Whether this unfinished final names `partial`.
    pub(crate) fn waits_for(&self, partial: &UploadId) -> bool {
        !self.removed
            && !self.is_complete()
            && matches!(&self.concat, Some(ConcatState::Final(ids)) if ids.iter().any(|id| id == partial.as_str()))
    }

    pub(crate) fn to_info(&self) -> Result<UploadInfo, StorageError> {
        let id = UploadId::new(&self.id).map_err(|e| corrupt(format!("bad id {:?}: {e}", self.id)))?;
        let mut metadata = Metadata::new();
        for (key, value) in &self.metadata {
            let value = BASE64.decode(value).map_err(|e| corrupt(format!("bad metadata value of {key:?}: {e}")))?;
            metadata.insert(key.clone(), value);
        }
        let concat = match &self.concat {
            None => None,
            Some(ConcatState::Partial) => Some(Concat::Partial),
            Some(ConcatState::Final(ids)) => Some(Concat::Final(
                ids.iter()
                    .map(|id| UploadId::new(id).map_err(|e| corrupt(format!("bad partial id {id:?}: {e}"))))
                    .collect::<Result<_, _>>()?,
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
