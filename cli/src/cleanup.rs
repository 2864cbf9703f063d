//! `tus cleanup`: removes unfinished uploads whose recorded expiry time has passed.

use crate::CliError;
use crate::args::{CleanupArgs, LockArg, StorageArg};
use std::io::Write;
use std::sync::Arc;
use tus_core::{Storage, TusLayer, UploadId};

/// Removes (or with `--dry-run`, lists) every unfinished upload of `--storage` (in `--dir`,
/// or in `--bucket` under `--prefix`) whose expiry time has passed, writing one line per
/// upload and a summary to `out`. Uploads are only given an expiry time by a server
/// running with `--expiration`. Unless dry, it first removes what interrupted writes left
/// behind ([`Storage::remove_leftovers`]; on S3 the multipart uploads and incomplete parts
/// no upload refers to, older than `--stale-after`), as the servers' janitor does.
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
            crate::open_storage(&args.dir, |builder| builder.durability(tus_sqlite::Durability::Sync))?
        }
        StorageArg::S3 => {
            let stale_after = Some(args.stale_after);
            Arc::new(
                crate::connect_s3(location.bucket.as_deref(), &location.prefix, |b| {
                    b.stale_multipart_after(stale_after)
                })
                .await?,
            )
        }
        StorageArg::Gcs => Arc::new(crate::connect_gcs(location.bucket.as_deref(), &location.prefix).await?),
        StorageArg::Azure => {
            Arc::new(crate::connect_azure(location.container.as_deref(), &location.prefix, |c| c).await?)
        }
    };
    if !args.dry_run {
        // What interrupted writes left behind (S3: stale multipart uploads and parts).
        let leftovers = storage.remove_leftovers().await.map_err(CliError::Cleanup)?;
        if leftovers > 0 {
            let _ = writeln!(out, "removed {leftovers} leftover object(s) of interrupted writes");
        }
    }
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
