//! The info object: the whole committed state of one upload, as JSON.
//!
//! HEAD reads it with one GET; every change is a write conditioned on the generation that
//! was read (`ifGenerationMatch`), so of two writers at the same offset only one applies.
//! The fields every cloud backend keeps are tus-cloud's [`UploadRecord`]; GCS's own ride
//! along in [`GcsFields`].

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tus_cloud::{BackendFields, ListingKeys, UploadRecord};

/// Custom metadata key of the info object: the expiry (ms since the epoch) of a live,
/// unfinished upload, so that the janitor's listing needs no read per upload.
pub(crate) const META_EXPIRES: &str = "tus-expires-ms";
/// Custom metadata key of the info object: present on live, unfinished finals.
pub(crate) const META_WAITING_FINAL: &str = "tus-waiting-final";
/// The listing metadata keys of the info object.
pub(crate) const LISTING: ListingKeys = ListingKeys { expires_ms: META_EXPIRES, waiting_final: META_WAITING_FINAL };

/// What the info object of an upload holds.
pub(crate) type UploadState = UploadRecord<GcsFields>;

/// GCS's fields of the info object; `offset` is the sum of the parts' sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GcsFields {
    /// The part objects holding the bytes, in order (empty once `composed`).
    pub(crate) parts: Vec<PartState>,
    /// The data object holds every byte (the parts were composed).
    pub(crate) composed: bool,
}

impl BackendFields for GcsFields {
    const FORMAT: u32 = 1;
}

/// One part object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartState {
    pub(crate) name: String,
    pub(crate) size: u64,
    /// The object's generation, kept for the one part that may later be replaced: the
    /// data object, when a one-request body broke off and what arrived stayed in it.
    /// Composing pins it, so a replaced object fails the compose instead of adding
    /// other bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) generation: Option<u64>,
}

impl PartState {
    /// The part as a compose source.
    pub(crate) fn source(&self) -> crate::api::Source {
        crate::api::Source { name: self.name.clone(), generation: self.generation }
    }
}

/// The listing metadata of the info object ([`UploadRecord::listing_metadata`]).
pub(crate) fn object_metadata(state: &UploadState) -> HashMap<String, String> {
    state.listing_metadata(&LISTING)
}
