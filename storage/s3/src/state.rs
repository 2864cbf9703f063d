//! The info object: the whole committed state of one upload, as JSON.
//!
//! HEAD reads it with one GET; every change is a conditional PUT on its ETag, so two
//! writers can never both apply at the same offset. The fields every cloud backend keeps
//! are tus-cloud's [`UploadRecord`]; S3's own ride along in [`S3Fields`].

use serde::{Deserialize, Serialize};
use tus_cloud::{BackendFields, UploadRecord};

/// What the info object of an upload holds.
pub(crate) type UploadState = UploadRecord<S3Fields>;

/// S3's fields of the info object. `offset` is the sum of `parts` plus `incomplete`, or
/// the data object's size once `completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct S3Fields {
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

impl BackendFields for S3Fields {
    const FORMAT: u32 = 1;
}

impl S3Fields {
    /// The fields of a new upload.
    pub(crate) fn new(part_size: u64, growing: bool) -> Self {
        Self { part_size, growing, multipart: None, parts: Vec::new(), incomplete: None, completed: false }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_format_written_before_tus_cloud() {
        let stored = br#"{"format":1,"id":"abc","offset":7,"length":10,"metadata":[["filename","YS50eHQ="]],
            "concat":{"final":["p1","p2"]},"created_at_ms":1,"expires_at_ms":null,"removed":false,
            "part_size":8388608,"growing":false,"multipart":"mp-1",
            "parts":[{"number":1,"etag":"\"e\"","size":5}],"incomplete":{"token":"t","size":2},"completed":false}"#;
        let state = UploadState::from_json(stored).unwrap();
        assert_eq!(state.backend.multipart.as_deref(), Some("mp-1"));
        assert_eq!(state.backend.incomplete, Some(IncompleteState { token: "t".into(), size: 2 }));
        assert!(state.waits_for("p2"));
        let info = state.to_info().unwrap();
        assert_eq!(info.offset, 7);
        assert_eq!(info.metadata.get_str("filename"), Some("a.txt"));
    }
}
