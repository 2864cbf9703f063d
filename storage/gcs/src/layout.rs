//! Object names: where each upload's info, parts and data live in the bucket.
//!
//! `{prefix}info/{id}` (state JSON), `{prefix}parts/{id}/…` (one object per stored
//! PATCH or checkpoint, plus compose intermediates), `{prefix}data/{id}` (the composed
//! bytes of a complete upload).

use tus_core::UploadId;

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    prefix: String,
}

impl Layout {
    pub(crate) fn new(prefix: &str) -> Self {
        Self { prefix: prefix.trim_start_matches('/').to_owned() }
    }

    pub(crate) fn info_prefix(&self) -> String {
        format!("{}info/", self.prefix)
    }

    pub(crate) fn info(&self, id: &UploadId) -> String {
        format!("{}info/{id}", self.prefix)
    }

    pub(crate) fn data(&self, id: &UploadId) -> String {
        format!("{}data/{id}", self.prefix)
    }

    pub(crate) fn parts_prefix(&self, id: &UploadId) -> String {
        format!("{}parts/{id}/", self.prefix)
    }

    /// A new part starting at `offset`; the random token keeps a losing or failed
    /// writer from ever overwriting a committed part.
    pub(crate) fn part(&self, id: &UploadId, offset: u64) -> String {
        format!("{}{offset:020}-{}", self.parts_prefix(id), crate::token())
    }

    /// An intermediate object of a hierarchical compose.
    pub(crate) fn scratch(&self, id: &UploadId, index: usize) -> String {
        format!("{}compose-{}-{index}", self.parts_prefix(id), crate::token())
    }
}
