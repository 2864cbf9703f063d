//! The library behind the `tus` command: a ready-to-run tus 1.0.0 upload server over
//! [`tus_core`] and the embedded [`tus_sqlite`] storage, and the client commands
//! (`tus upload`, `tus info`, `tus delete`) over [`tus_rs_client`].
//!
//! The binary only parses the command line and waits for signals; everything else
//! lives here so that it can be used and tested from Rust:
//!
//! ```no_run
//! use tus_cli::{ServeArgs, Server};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), tus_cli::CliError> {
//! let mut args = ServeArgs::new("/var/lib/tus");
//! args.port = 0;
//! let server = Server::bind(args).await?;
//! println!("serving {}", server.url());
//! server.run(async { tokio::signal::ctrl_c().await.ok(); }).await
//! # }
//! ```

mod args;
mod cleanup;
mod hooks;
mod linger;
mod ops;
mod server;
mod transfer;

pub use args::{
    CleanupArgs, Cli, ClientArgs, Command, DeleteArgs, DurabilityArg, ExpirationMode, InfoArgs, ServeArgs, UploadArgs,
    parse_duration, parse_header, parse_metadata, parse_public_url, parse_size,
};
pub use args::{LockArg, StorageArg, StorageLocation};
pub use cleanup::cleanup;
pub use hooks::HookArgs;
pub use ops::{HEALTHZ, METRICS, READYZ};
pub use server::Server;
pub use transfer::{CACHE_DIR_ENV, delete, human_bytes, info, progress_line, upload, url_storage_path};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tus_core::{Storage, StorageError};
use tus_sqlite::{Durability, SqliteStorage, SqliteStorageBuilder};

/// Why the server or a command could not run. Its `Display` is one line.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// The storage directory cannot be created or opened.
    Dir {
        /// The directory given with `--dir`.
        path: PathBuf,
        /// What went wrong.
        source: StorageError,
    },
    /// The listening address cannot be resolved or bound.
    Bind {
        /// The `--host` and `--port` given.
        address: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Removing expired uploads failed.
    Cleanup(StorageError),
    /// An upload, info or delete command failed.
    Upload(Box<tus_rs_client::Error>),
    /// `--lock redis`: Redis cannot be reached (or the URL is invalid).
    Redis(tus_redis::ConnectError),
    /// A `--hooks-*` flag cannot work (e.g. a `--hooks-http` value that is not a URL).
    Hooks(tus_hooks::InvalidHookConfig),
    /// `--storage s3`: the bucket or the credentials cannot be used.
    S3(tus_s3::S3SetupError),
    /// `--storage gcs`: the bucket or the credentials cannot be used.
    Gcs(tus_gcs::GcsError),
    /// `--storage azure`: the container, the connection string or the key cannot be used.
    Azure(tus_azure::AzureError),
    /// The upload was interrupted (Ctrl-C); it can be resumed.
    Interrupted {
        /// The upload's URL, when it had been created.
        url: Option<String>,
        /// The bytes the server had confirmed.
        offset: u64,
        /// The file's size.
        total: u64,
    },
}

impl CliError {
    /// The process exit code for this error: 130 for an interruption, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Interrupted { .. } => 130,
            _ => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Dir { path, source } => format!("cannot use --dir {}: {source}", path.display()),
            Self::Bind { address, source } => format!("cannot listen on {address}: {source}"),
            Self::Cleanup(source) => format!("cannot remove expired uploads: {source}"),
            Self::Upload(source) if source.is_retryable() || source.is_cancelled() => {
                format!("{source} (run the same command again to resume the upload)")
            }
            Self::Upload(source) => source.to_string(),
            Self::Interrupted { url: Some(url), offset, total } => {
                format!("interrupted at byte {offset} of {total}; run the same command again to resume {url}")
            }
            Self::Interrupted { url: None, .. } => "interrupted before the upload was created".to_owned(),
            Self::Redis(source) => format!("cannot use --lock redis: {source}"),
            Self::Hooks(source) => format!("cannot set up hooks: {source}"),
            Self::S3(source) => format!("cannot use --storage s3: {source}"),
            Self::Gcs(source) => format!("cannot use --storage gcs: {source}"),
            Self::Azure(source) => format!("cannot use --storage azure: {source}"),
        };
        // One line, whatever the underlying error says.
        f.write_str(&text.replace(['\r', '\n'], " "))
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Dir { source, .. } | Self::Cleanup(source) => Some(source),
            Self::Bind { source, .. } => Some(source),
            Self::Upload(source) => Some(source),
            Self::Redis(source) => Some(source),
            Self::Hooks(source) => Some(source),
            Self::S3(source) => Some(source),
            Self::Gcs(source) => Some(source),
            Self::Azure(source) => Some(source),
            Self::Interrupted { .. } => None,
        }
    }
}

impl From<DurabilityArg> for Durability {
    fn from(arg: DurabilityArg) -> Self {
        match arg {
            DurabilityArg::Sync => Durability::Sync,
            DurabilityArg::Buffered => Durability::Buffered,
        }
    }
}

/// Opens (creating when missing) the SQLite storage in `dir` with the options `options`
/// sets on its builder.
pub fn open_storage(
    dir: &Path,
    options: impl FnOnce(SqliteStorageBuilder) -> SqliteStorageBuilder,
) -> Result<Arc<dyn Storage>, CliError> {
    let fail = |source: StorageError| CliError::Dir { path: dir.to_owned(), source };
    if dir.exists() && !dir.is_dir() {
        let not_dir = std::io::Error::new(std::io::ErrorKind::NotADirectory, "it exists and is not a directory");
        return Err(fail(StorageError::Io(not_dir)));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(StorageError::Io(e)))?;
    let storage = options(SqliteStorage::builder(dir)).open().map_err(fail)?;
    Ok(Arc::new(storage))
}

/// Opens the storage `tus serve` runs on (`--storage`), and the largest upload it can hold.
/// For S3, GCS and Azure it checks the bucket (container) and the credentials first (one request).
pub async fn open_serve_storage(args: &ServeArgs) -> Result<(Arc<dyn Storage>, Option<u64>), CliError> {
    let location = &args.location;
    match location.storage {
        StorageArg::Sqlite => {
            let options = |builder: SqliteStorageBuilder| {
                let builder = builder.durability(args.durability.into()).exclusive(args.exclusive);
                match args.inline_limit {
                    Some(limit) => builder.inline_limit(limit),
                    None => builder,
                }
            };
            Ok((open_storage(&args.dir, options)?, None))
        }
        StorageArg::S3 => {
            let storage = connect_s3(location.bucket.as_deref(), &location.prefix, |builder| {
                builder
                    .part_size(args.part_size)
                    .part_concurrency(args.part_concurrency)
                    .fixed_part_size(args.fixed_part_size)
                    .min_part_size(args.min_part_size)
            })
            .await?;
            let max = storage.max_upload_size();
            Ok((Arc::new(storage), Some(max)))
        }
        StorageArg::Gcs => Ok((Arc::new(connect_gcs(location.bucket.as_deref(), &location.prefix).await?), None)),
        StorageArg::Azure => {
            let storage = connect_azure(location.container.as_deref(), &location.prefix, |config| {
                config.block_size(args.part_size).block_concurrency(args.part_concurrency)
            })
            .await?;
            Ok((Arc::new(storage), Some(tus_azure::AzureStorage::MAX_UPLOAD_SIZE)))
        }
    }
}

/// The S3 storage of `--bucket` and `--prefix`, credentials and endpoint from the
/// environment, its builder adjusted by `tune`; checks the bucket and the credentials.
pub(crate) async fn connect_s3(
    bucket: Option<&str>,
    prefix: &str,
    tune: impl FnOnce(tus_s3::S3StorageBuilder) -> tus_s3::S3StorageBuilder,
) -> Result<tus_s3::S3Storage, CliError> {
    let client = tus_s3::client_from_env().map_err(CliError::S3)?;
    let builder = tus_s3::S3Storage::builder(client, bucket.unwrap_or_default()).prefix(prefix);
    let storage = tune(builder).build().map_err(CliError::S3)?;
    storage.check().await.map_err(CliError::S3)?;
    Ok(storage)
}

/// The GCS storage of `--bucket` and `--prefix` (`STORAGE_EMULATOR_HOST` or the usual
/// credentials); checks the bucket and the credentials.
pub(crate) async fn connect_gcs(bucket: Option<&str>, prefix: &str) -> Result<tus_gcs::GcsStorage, CliError> {
    let config = tus_gcs::GcsConfig::from_env(bucket.unwrap_or_default()).prefix(prefix);
    tus_gcs::GcsStorage::connect(config).await.map_err(CliError::Gcs)
}

/// The Azure storage of `--container` and `--prefix` (`AZURE_STORAGE_CONNECTION_STRING`),
/// its configuration adjusted by `tune`; checks the container and the key.
pub(crate) async fn connect_azure(
    container: Option<&str>,
    prefix: &str,
    tune: impl FnOnce(tus_azure::AzureConfig) -> tus_azure::AzureConfig,
) -> Result<tus_azure::AzureStorage, CliError> {
    let config = tus_azure::AzureConfig::from_env(container.unwrap_or_default()).map_err(CliError::Azure)?;
    tus_azure::AzureStorage::connect(tune(config.prefix(prefix))).await.map_err(CliError::Azure)
}

/// `http://ADDRESS/BASE`: how clients reach a server bound to `addr` (IPv6 in brackets).
pub fn server_url(addr: SocketAddr, base_path: &str) -> String {
    let base = base_path.trim().trim_matches('/');
    format!("http://{addr}/{base}")
}
