//! Object names: `{prefix}info/{id}` and `{prefix}data/{id}` ([`tus_cloud::Layout`]),
//! and `{prefix}parts/{id}/…` (one object per stored PATCH or checkpoint, plus compose
//! intermediates) until the upload's parts are composed into its data object.

use tus_cloud::{Layout, token};
use tus_core::UploadId;

/// The names of an upload's part objects.
pub(crate) trait PartNames {
    /// What every part of `id` starts with.
    fn parts_prefix(&self, id: &UploadId) -> String;
    /// A new part starting at `offset`; the random token keeps a losing or failed writer
    /// from ever overwriting a committed part.
    fn part(&self, id: &UploadId, offset: u64) -> String;
    /// An intermediate object of a hierarchical compose.
    fn scratch(&self, id: &UploadId, index: usize) -> String;
}

impl PartNames for Layout {
    fn parts_prefix(&self, id: &UploadId) -> String {
        format!("{}parts/{id}/", self.prefix())
    }

    fn part(&self, id: &UploadId, offset: u64) -> String {
        format!("{}{offset:020}-{}", self.parts_prefix(id), token())
    }

    fn scratch(&self, id: &UploadId, index: usize) -> String {
        format!("{}compose-{}-{index}", self.parts_prefix(id), token())
    }
}
