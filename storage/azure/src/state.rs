//! The info blob: the whole committed state of one upload, as JSON.
//!
//! HEAD reads it with one GET; every change is a write conditioned on the ETag that was
//! read (`If-Match`, or `If-None-Match: *` at creation), so of two writers at the same
//! offset only one applies. The fields every cloud backend keeps are tus-cloud's
//! [`UploadRecord`]; Azure's own ride along in [`AzureFields`].

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tus_cloud::{BackendFields, ListingKeys, UploadRecord};

/// Metadata name on the info blob (Azure allows only identifier characters): the expiry
/// (ms since the epoch) of a live, unfinished upload, so that the janitor's listing needs
/// no read per upload.
pub(crate) const META_EXPIRES: &str = "tusexpiresms";
/// Metadata name on the info blob: present on live, unfinished finals.
pub(crate) const META_WAITING_FINAL: &str = "tuswaitingfinal";
/// The listing metadata keys of the info object.
pub(crate) const LISTING: ListingKeys = ListingKeys { expires_ms: META_EXPIRES, waiting_final: META_WAITING_FINAL };

/// What the info blob of an upload holds.
pub(crate) type UploadState = UploadRecord<AzureFields>;

/// Azure's fields of the info blob; `offset` is the sum of the blocks' sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AzureFields {
    /// The staged blocks of the data blob holding the bytes, in order.
    pub(crate) blocks: Vec<BlockState>,
    /// The block list is committed: the data blob holds every byte.
    pub(crate) committed: bool,
}

impl BackendFields for AzureFields {
    const FORMAT: u32 = 1;
}

/// One block of the data blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockState {
    /// The block ID before base64 (ASCII, the same length for every block of a blob).
    pub(crate) id: String,
    pub(crate) size: u64,
}

/// The listing metadata of the info blob ([`UploadRecord::listing_metadata`]).
pub(crate) fn blob_metadata(state: &UploadState) -> HashMap<String, String> {
    state.listing_metadata(&LISTING)
}
