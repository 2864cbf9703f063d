//! `tus cleanup`: removes unfinished uploads whose recorded expiry time has passed.

use crate::CliError;
use crate::args::{CleanupArgs, DurabilityArg};
use std::io::Write;
use tus_core::{TusLayer, UploadId};

/// Removes (or with `--dry-run`, lists) every unfinished upload in `--dir` whose expiry
/// time has passed, writing one line per upload and a summary to `out`. Uploads are only
/// given an expiry time by a server running with `--expiration`.
///
/// Run it while no server uses the directory, or rely on the server's own janitor: a
/// server's upload locks live in its process, so this command cannot see them.
pub async fn cleanup(args: &CleanupArgs, out: &mut impl Write) -> Result<Vec<UploadId>, CliError> {
    if !args.dir.is_dir() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory");
        return Err(CliError::Dir { path: args.dir.clone(), source: missing.into() });
    }
    let storage = crate::open_storage(&args.dir, DurabilityArg::Sync)?;
    let layer = TusLayer::from_arc(storage);
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
