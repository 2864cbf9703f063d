//! Pieces shared by the tus cloud storages (`tus-s3`, `tus-gcs`, and the ones to come).
//!
//! - [`record`]: the upload record each of them keeps as JSON in one info object per
//!   upload (the fields every backend has, their conversion to [`tus_core::UploadInfo`],
//!   corrupt-record errors), generic over the fields a backend adds.
//! - [`layout`]: the names of an upload's info and data objects, and random name tokens.
//! - [`store`]: the info object as a [`RecordStore`] with conditional writes, and the
//!   storage operations that only read and conditionally write it (create, set the
//!   length, the offset check of an append, the error of a lost race).
//! - `emulator` (feature `emulator`): starts a cloud emulator for tests through the
//!   project's `scripts/*.sh` (which all source `scripts/lib/emulator.sh`), on a free
//!   loopback port, killed on drop.
//!
//! Why a crate of its own rather than tus-core: these pieces concern object stores
//! only (an info object read and written whole with preconditions), and tus-core should
//! not grow a serde-JSON format or test-process plumbing that its SQLite and in-memory
//! storages never use. The crate is small and has no cloud SDK in it, so every backend
//! can depend on it at no cost.

pub mod layout;
pub mod record;
pub mod store;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use layout::{Layout, token};
pub use record::{BackendFields, ConcatRole, CorruptRecord, ListingKeys, UploadRecord};
pub use store::RecordStore;
