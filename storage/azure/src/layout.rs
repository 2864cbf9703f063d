//! Blob names: where each upload's info and data live in the container.
//!
//! `{prefix}info/{id}` (state JSON, with listing metadata) and `{prefix}data/{id}` (the
//! block blob whose staged blocks hold the bytes; its block list is committed once the
//! upload is complete).

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
}

/// A new block ID: a fixed-width counter and a random token, so every ID of a blob has
/// the same length (Azure requires it) and a losing or failed writer's blocks never
/// replace a recorded block.
pub(crate) fn block_id(index: usize) -> String {
    format!("{index:06}-{}", crate::token())
}
