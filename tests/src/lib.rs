//! # tus-conformance
//!
//! A black-box conformance suite for tus 1.0.0 servers: every line of Part A of the
//! project's protocol checklist (`shared/protocol.md`) is one check in [`checks`],
//! run over real HTTP on `127.0.0.1` against real servers.
//!
//! - [`Target`] is a tus endpoint plus the [`Profile`] its server was configured with.
//! - [`client`] is a small HTTP/1.1 client: whole, streaming and chunked bodies with
//!   trailers (on hyper), and a raw TCP mode for dropped connections,
//!   `Expect: 100-continue` and byte-exact reads.
//! - [`server::spawn`] serves a [`tus_core::TusLayer`] in-process, standalone or
//!   wrapped around an inner application ([`Mode`]).
//! - [`ServedLayer`] serves a layer with the requests a storage's own HTTP tests repeat.
//! - [`Launcher`] starts configured servers; [`InProcess`] does it over a [`Backend`].
//!
//! The test runner `tests/conformance.rs` runs every check for each backend and mode.
//!
//! # Running
//!
//! ```text
//! cargo test -p tus-conformance                          # memory and SQLite, standalone and wrapped
//! cargo test -p tus-conformance --no-default-features    # memory only
//! cargo test -p tus-conformance --features s3 s3_        # S3 storage on moto (scripts/moto.sh)
//! cargo test -p tus-conformance --features gcs gcs_      # GCS storage on fake-gcs-server
//! cargo test -p tus-conformance --features azure azure_  # Azure Blob storage on Azurite
//! cargo test -p tus-conformance a4_4                     # one line, every combination
//! cargo test -p tus-conformance memory_wrapped::         # one combination
//! ```
//!
//! A14.3 (`kill -9` mid-PATCH) needs a separate server process: it is listed as an
//! ignored test here and checked by the CLI's tests (`cli/tests/crash.rs`).

pub mod checks;
pub mod client;
mod deploy;
pub mod digest;
mod served;
pub mod server;
mod target;

pub use deploy::{Backend, Deployment, Event, EventKind, EventLog, InProcess, Launcher};
pub use served::ServedLayer;
pub use server::{Mode, RunningServer, spawn};
pub use target::{CorsProfile, DENY_HEADER, HookProfile, IdScheme, Profile, Refusal, StorageSupport, Target};
