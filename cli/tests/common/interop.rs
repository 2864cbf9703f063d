//! The real-client interop scenarios of `tus_example_harness::interop` (the same ones the
//! example apps run) against a `tus serve` child process.

use super::TusServer;
use std::path::Path;
use tus_example_harness::interop::{Endpoint, InteropServer};

/// A `tus serve` with its storage in a temporary directory (removed after the server).
pub struct Served {
    server: TusServer,
    storage: tempfile::TempDir,
}

impl Served {
    /// The server's `--dir`: its database and data files.
    pub fn storage_dir(&self) -> &Path {
        self.storage.path()
    }
}

impl InteropServer for Served {
    fn endpoint(&self) -> Endpoint {
        Endpoint::new(&self.server.url, None)
    }
}

/// Starts `tus serve` with default flags on a fresh storage directory.
pub async fn serve() -> Served {
    let storage = tempfile::tempdir().expect("a temporary storage directory");
    let server = TusServer::start(storage.path(), &[]);
    Served { server, storage }
}
