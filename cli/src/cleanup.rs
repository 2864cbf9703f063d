//! `tus cleanup`: removes unfinished uploads whose recorded expiry time has passed.

use crate::CliError;
use crate::args::{CleanupArgs, DurabilityArg, LockArg, StorageArg};
use std::io::Write;
use std::sync::Arc;
use tus_core::{Storage, TusLayer, UploadId};

/// Removes (or with `--dry-run`, lists) every unfinished upload of `--storage` (in `--dir`,
/// or in `--bucket` under `--prefix`) whose expiry time has passed, writing one line per
/// upload and a summary to `out`. Uploads are only given an expiry time by a server
/// running with `--expiration`. With `--storage s3` it also aborts the stale multipart
/// uploads no upload refers to (`--stale-after`), as the servers' janitor does.
///
/// Each upload is removed under its lock, taken only if free. With `--lock redis` (the
/// Redis the servers use), uploads a server is writing right now are left alone. With the
/// default `--lock memory`, a server's locks live in its process and this command cannot
/// see them: run it while no server uses the storage, or rely on the servers' janitor.
pub async fn cleanup(args: &CleanupArgs, out: &mut impl Write) -> Result<Vec<UploadId>, CliError> {
    let location = &args.location;
    let storage: Arc<dyn Storage> = match args.location.storage {
        StorageArg::Sqlite => {
            if !args.dir.is_dir() {
                let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory");
                return Err(CliError::Dir { path: args.dir.clone(), source: missing.into() });
            }
            crate::open_storage(&args.dir, DurabilityArg::Sync, false)?
        }
        StorageArg::S3 => {
            // Stale multipart uploads are handled once below, not on every batch the
            // sweep asks for (and not at all in a dry run).
            let storage =
                crate::connect_s3(location.bucket.as_deref(), &location.prefix, |b| b.stale_multipart_after(None))
                    .await?;
            if !args.dry_run {
                let aborted = storage.abort_stale_multipart_uploads(args.stale_after).await;
                let aborted = aborted.map_err(CliError::Cleanup)?;
                let deleted = storage.delete_stale_incomplete_parts(args.stale_after).await;
                let deleted = deleted.map_err(CliError::Cleanup)?;
                let _ = writeln!(
                    out,
                    "aborted {aborted} stale multipart upload(s), deleted {deleted} stale incomplete part(s)"
                );
            }
            Arc::new(storage)
        }
        StorageArg::Gcs => Arc::new(crate::connect_gcs(location.bucket.as_deref(), &location.prefix).await?),
        StorageArg::Azure => {
            Arc::new(crate::connect_azure(location.container.as_deref(), &location.prefix, |c| c).await?)
        }
    };
    let layer = TusLayer::from_arc(storage);
    let layer = match args.lock {
        LockArg::Memory => layer,
        LockArg::Redis => {
            // The lease only matters while this command holds a lock: a few milliseconds.
            let lease = std::time::Duration::from_secs(30);
            layer.locker(crate::server::connect_redis(args.redis_url.as_deref(), lease).await?)
        }
    };
    let place = args.location.place(&args.dir);
    let removed = layer.remove_expired(args.dry_run).await.map_err(CliError::Cleanup)?;
    let verb = if args.dry_run { "would remove" } else { "removed" };
    // Output is informational; a closed stdout must not turn a done cleanup into a failure.
    for id in &removed {
        let _ = writeln!(out, "{verb} {id}");
    }
    let _ = writeln!(out, "{verb} {} expired upload(s) from {place}", removed.len());
    let _ = out.flush();
    Ok(removed)
}
