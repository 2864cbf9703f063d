//! `tus upload`, `tus info` and `tus delete`: the client side, over [`tus_rs_client`].

use crate::CliError;
use crate::args::{ClientArgs, DeleteArgs, InfoArgs, UploadArgs};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tus_rs_client::{Client, Error, JsonFileUrlStorage, Progress, RetryPolicy, Source};

/// The environment variable that overrides where `tus upload` keeps its URL storage (a
/// directory; the storage is `uploads.json` inside).
pub const CACHE_DIR_ENV: &str = "TUS_CACHE_DIR";

/// How often plain progress lines are printed when stdout is not a terminal.
const LINE_INTERVAL: Duration = Duration::from_secs(1);

/// The URL storage file of `tus upload`: `$TUS_CACHE_DIR/uploads.json`, else in the user's
/// cache directory (e.g. `~/.cache/tus/uploads.json`).
pub fn url_storage_path() -> Option<PathBuf> {
    match std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("uploads.json")),
        None => dirs::cache_dir().map(|dir| dir.join("tus").join("uploads.json")),
    }
}

fn client_builder(endpoint: &str, args: &ClientArgs) -> tus_rs_client::ClientBuilder {
    let mut builder = Client::builder(endpoint)
        .retry_policy(RetryPolicy::new(args.retries).base_delay(args.retry_delay))
        .timeout(args.timeout)
        .danger_accept_invalid_certs(args.insecure);
    for (name, value) in &args.headers {
        builder = builder.header(name, value);
    }
    builder
}

/// Prints a line on stdout at once.
fn say(line: impl std::fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// `12.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// One plain progress line.
pub fn progress_line(p: &Progress) -> String {
    let mut line = format!("tus: {}", human_bytes(p.bytes_sent));
    if let Some(total) = p.total {
        line.push_str(&format!(" / {} ({:.0}%)", human_bytes(total), p.percent().unwrap_or(0.0).floor()));
    }
    line.push_str(&format!(", {}/s", human_bytes(p.speed() as u64)));
    if let Some(eta) = p.eta().filter(|_| !p.is_complete()) {
        line.push_str(&format!(", ETA {}s", eta.as_secs()));
    }
    if p.retries > 0 {
        line.push_str(&format!(", {} retries", p.retries));
    }
    line
}

/// How progress is shown.
#[derive(Clone)]
enum Display {
    Quiet,
    Bar(ProgressBar),
    Lines(Arc<Mutex<Option<Instant>>>),
}

impl Display {
    fn new(quiet: bool, total: u64) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stdout().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            Self::Bar(bar)
        } else {
            Self::Lines(Arc::new(Mutex::new(None)))
        }
    }

    fn say(&self, line: impl std::fmt::Display) {
        match self {
            Self::Quiet => {}
            Self::Bar(bar) => bar.println(line.to_string()),
            Self::Lines(_) => say(line),
        }
    }

    fn update(&self, p: &Progress) {
        match self {
            Self::Quiet => {}
            Self::Bar(bar) => {
                if p.started_at > 0 && bar.position() == 0 {
                    bar.reset_elapsed();
                }
                bar.set_position(p.bytes_sent);
            }
            Self::Lines(last) => {
                let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let due = last.is_none_or(|at| at.elapsed() >= LINE_INTERVAL);
                if due || p.is_complete() {
                    *last = Some(Instant::now());
                    say(progress_line(p));
                }
            }
        }
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            let (done, elapsed) = (bar.position(), bar.elapsed());
            bar.finish_and_clear();
            say(format!("tus: uploaded {} in {:.1}s", human_bytes(done), elapsed.as_secs_f64()));
        }
    }

    fn abandon(&self) {
        if let Self::Bar(bar) = self {
            bar.abandon();
        }
    }
}

/// `tus upload`: uploads (or resumes) the file; prints its URL at the end and returns it.
/// Cancelling `cancel` stops it with [`CliError::Interrupted`], leaving it resumable.
pub async fn upload(args: &UploadArgs, cancel: CancellationToken) -> Result<String, CliError> {
    let fail = |e: Error| CliError::Upload(Box::new(e));
    let file = &args.file;
    let size = tokio::fs::metadata(file)
        .await
        .map_err(|e| fail(Error::Io { context: format!("cannot read {}", file.display()), source: e }))?
        .len();
    let mut builder = client_builder(&args.endpoint, &args.client).chunk_size(args.chunk_size).checksum(args.checksum);
    if !args.no_resume {
        match url_storage_path() {
            Some(path) => builder = builder.url_storage(JsonFileUrlStorage::new(path)),
            None => eprintln!("tus: warning: no cache directory ({CACHE_DIR_ENV} unset): uploads cannot be resumed"),
        }
    }
    let client = builder.build().map_err(fail)?;

    let mut upload = client.upload(Source::file(file)).cancel_token(cancel).resume(!args.no_resume);
    if !args.metadata.iter().any(|(k, _)| k == "filename")
        && let Some(name) = file.file_name().and_then(|n| n.to_str())
    {
        upload = upload.metadata("filename", name);
    }
    for (key, value) in &args.metadata {
        upload = upload.metadata(key, value);
    }
    let display = Display::new(args.quiet, size);
    display.say(format!("tus: uploading {} ({}) to {}", file.display(), human_bytes(size), client.endpoint()));
    let progress = display.clone();
    upload = upload.on_progress(move |p| progress.update(p));

    let interrupted = |e: &Error| match e {
        Error::Cancelled { url, offset } => {
            Some(CliError::Interrupted { url: url.as_ref().map(ToString::to_string), offset: *offset, total: size })
        }
        _ => None,
    };
    let url = if args.parallel > 1 {
        display.say(format!("tus: {} parallel parts", args.parallel));
        let uploaded = upload.parallel(usize::from(args.parallel)).await;
        let uploaded = uploaded.map_err(|e| {
            display.abandon();
            interrupted(&e).unwrap_or_else(|| fail(e))
        })?;
        if let Some(offset) = uploaded.resumed_from {
            display.say(format!("tus: resumed the parts of an earlier upload at {}", human_bytes(offset)));
        }
        uploaded.url
    } else {
        let mut uploader = upload.uploader().await.map_err(fail)?;
        let result = async {
            match uploader.url() {
                Some(url) => display.say(format!("tus: resuming {url} at byte {} of {size}", uploader.offset())),
                // Created first, so that the URL is known (and shown) before any data moves.
                None => display.say(format!("tus: created {}", uploader.create().await?)),
            }
            uploader.upload().await?;
            Ok::<_, Error>(uploader.url().cloned().expect("created"))
        }
        .await;
        result.map_err(|e| {
            display.abandon();
            interrupted(&e).unwrap_or_else(|| fail(e))
        })?
    };
    display.finish();
    say(&url);
    Ok(url.to_string())
}

/// `tus info`: prints the upload's offset, length, completion and metadata.
pub async fn info(args: &InfoArgs) -> Result<(), CliError> {
    let fail = |e: Error| CliError::Upload(Box::new(e));
    let client = client_builder(&args.url, &args.client).build().map_err(fail)?;
    let info = client.upload_info(&args.url).await.map_err(fail)?;
    let mut out = String::new();
    out.push_str(&format!("url: {}\n", info.url));
    out.push_str(&format!("offset: {}\n", info.offset));
    match info.length {
        Some(length) => out.push_str(&format!("length: {length}\n")),
        None => out.push_str("length: deferred\n"),
    }
    out.push_str(&format!("complete: {}\n", if info.is_complete() { "yes" } else { "no" }));
    if let Some(concat) = &info.concat {
        out.push_str(&format!("concat: {concat}\n"));
    }
    if let Some(expires) = &info.expires {
        out.push_str(&format!("expires: {expires}\n"));
    }
    for (key, value) in info.metadata.iter() {
        match std::str::from_utf8(value) {
            Ok(text) => out.push_str(&format!("metadata: {key}={text}\n")),
            Err(_) => out.push_str(&format!("metadata: {key} ({} bytes, binary)\n", value.len())),
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    Ok(())
}

/// `tus delete`: terminates the upload.
pub async fn delete(args: &DeleteArgs) -> Result<(), CliError> {
    let fail = |e: Error| CliError::Upload(Box::new(e));
    let client = client_builder(&args.url, &args.client).build().map_err(fail)?;
    client.delete_upload(&args.url).await.map_err(fail)?;
    say(format!("tus: deleted {}", args.url));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_lines() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
        let p = Progress::default();
        assert_eq!(progress_line(&p), "tus: 0 B, 0 B/s");
    }
}
