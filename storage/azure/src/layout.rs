//! Blob names: `{prefix}info/{id}` and `{prefix}data/{id}` ([`tus_cloud::Layout`]); the
//! data blob's staged blocks hold the bytes, and its block list is committed once the
//! upload is complete.

/// A new block ID: a fixed-width counter and a random token, so every ID of a blob has
/// the same length (Azure requires it) and a losing or failed writer's blocks never
/// replace a recorded block.
pub(crate) fn block_id(index: usize) -> String {
    format!("{index:06}-{}", tus_cloud::token())
}
