//! `tus cleanup`: removes unfinished uploads whose recorded expiry time has passed.

use crate::CliError;
use crate::args::{CleanupArgs, DurabilityArg, LockArg};
use std::io::Write;
use tus_core::{TusLayer, UploadId};

/// Removes (or with `--dry-run`, lists) every unfinished upload in `--dir` whose expiry
/// time has passed, writing one line per upload and a summary to `out`. Uploads are only
/// given an expiry time by a server running with `--expiration`.
///
/// Each upload is removed under its lock, taken only if free. With `--lock redis` (the
/// Redis the servers use), uploads a server is writing right now are left alone. With the
/// default `--lock memory`, a server's locks live in its process and this command cannot
/// see them: run it while no server uses the directory, or rely on the servers' janitor.
pub async fn cleanup(args: &CleanupArgs, out: &mut impl Write) -> Result<Vec<UploadId>, CliError> {
    if !args.dir.is_dir() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory");
        return Err(CliError::Dir { path: args.dir.clone(), source: missing.into() });
    }
    let storage = crate::open_storage(&args.dir, DurabilityArg::Sync)?;
    let layer = TusLayer::from_arc(storage);
    let layer = match args.lock {
        LockArg::Memory => layer,
        LockArg::Redis => {
            // The lease only matters while this command holds a lock: a few milliseconds.
            let lease = std::time::Duration::from_secs(30);
            layer.locker(crate::server::connect_redis(args.redis_url.as_deref(), lease).await?)
        }
    };
    let removed = layer.remove_expired(args.dry_run).await.map_err(CliError::Cleanup)?;
    let verb = if args.dry_run { "would remove" } else { "removed" };
    // Output is informational; a closed stdout must not turn a done cleanup into a failure.
    for id in &removed {
        let _ = writeln!(out, "{verb} {id}");
    }
    let _ = writeln!(out, "{verb} {} expired upload(s) from {}", removed.len(), args.dir.display());
    let _ = out.flush();
    Ok(removed)
}
