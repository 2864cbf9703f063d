//! What the cloud benchmarks (`--bench s3`, `--bench gcs`, `--bench azure`) share: `tus serve`
//! in a child process (a [`ServerProcess`], so its CPU time and peak RSS are the server's
//! alone), and one upload through it.

use crate::Error;
use crate::client::{Answer, Connection};
use crate::pattern::Pattern;
use crate::process::ServerProcess;
use http::{Method, StatusCode};
use std::process::ExitCode;

/// The `main` of a cloud benchmark: in the child process started by [`ServerProcess`] runs
/// that server; in the parent runs `bench`, reporting its error as `NAME bench failed: …`.
pub fn bench_main<F: Future<Output = Result<(), Error>>>(name: &str, bench: impl FnOnce() -> F) -> ExitCode {
    if let Some(code) = crate::roles::run_from_env() {
        return code;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(bench()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name} bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Creates an upload on `server` with `headers` (e.g. `Upload-Length`); returns its path.
pub async fn create(
    server: &ServerProcess,
    connection: &mut Connection,
    headers: &[(&str, String)],
) -> Result<String, Error> {
    let mut create = connection.request(Method::POST, server.path()).header("tus-resumable", "1.0.0");
    for (name, value) in headers {
        create = create.header(*name, value);
    }
    let created = connection.send(create.body(Pattern::new().empty())?).await?;
    if created.status != StatusCode::CREATED {
        return Err(format!("POST answered {}", created.status).into());
    }
    crate::scenarios::location_path(&created)
}

/// One streaming PATCH of the pattern's bytes `offset..offset + len` (with extra
/// `headers`), which must be taken whole.
pub async fn patch(
    connection: &mut Connection,
    path: &str,
    pattern: &Pattern,
    (offset, len): (u64, u64),
    headers: &[(&str, String)],
) -> Result<Answer, Error> {
    let mut patch = connection
        .request(Method::PATCH, path)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
        .header("content-length", len.to_string());
    for (name, value) in headers {
        patch = patch.header(*name, value);
    }
    let patched = connection.send(patch.body(pattern.body(offset, len))?).await?;
    if patched.status != StatusCode::NO_CONTENT || patched.number("upload-offset") != Some(offset + len) {
        return Err(format!("PATCH answered {} {:?}", patched.status, patched.header("upload-offset")).into());
    }
    Ok(patched)
}

/// The path's last segment: the upload's ID.
pub fn id_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// What one upload through a `tus serve` child measured.
#[derive(Debug)]
pub struct ServedUpload {
    /// The upload's URL path.
    pub path: String,
    /// From the first byte of the PATCH to its answer.
    pub time: std::time::Duration,
    /// The server's CPU time over the PATCH, in seconds.
    pub server_cpu: f64,
    /// The server's peak RSS during the PATCH, in bytes.
    pub peak_rss: u64,
    /// The server's peak RSS before the upload, in bytes.
    pub idle_rss: u64,
}

/// Starts `tus serve` on a cloud backend (`storage`: `--storage` and where, e.g. `--bucket
/// B`; under the prefix `tus/`, with `part` bytes × `concurrency` in flight; `env`) and
/// uploads the pattern's first `total` bytes as one POST and one streaming PATCH; stops
/// the server.
pub async fn upload_through_serve(
    storage: &[&str],
    (part, concurrency): (u64, usize),
    env: &[(&str, String)],
    pattern: &Pattern,
    total: u64,
) -> Result<ServedUpload, Error> {
    let (part, concurrency) = (part.to_string(), concurrency.to_string());
    let mut flags = storage.to_vec();
    flags.extend(["--prefix", "tus/", "--part-size", &part, "--part-concurrency", &concurrency]);
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::start_tus_with_env(dir.path(), &flags, env)?;
    let pid = server.pid();
    let idle_rss = crate::procfs::peak_rss(pid)?;
    crate::procfs::reset_peak_rss(pid)?;
    let mut connection = Connection::open(server.addr()).await?;
    let path = create(&server, &mut connection, &[("upload-length", total.to_string())]).await?;
    let cpu_before = crate::procfs::cpu_seconds(pid)?;
    let started = std::time::Instant::now();
    patch(&mut connection, &path, pattern, (0, total), &[]).await?;
    let time = started.elapsed();
    let peak_rss = crate::procfs::peak_rss(pid)?;
    let server_cpu = crate::procfs::cpu_seconds(pid)? - cpu_before;
    Ok(ServedUpload { path, time, server_cpu, peak_rss, idle_rss })
}

/// Prints the comparison table of a cloud benchmark: `title` heads it, `tus_row` and
/// `direct_row` name its rows; the memory bound is 64 MiB + `part` × (`concurrency` + 1).
pub fn print_comparison(
    (title, tus_row, direct_row): (&str, &str, &str),
    total: u64,
    served: &ServedUpload,
    direct: std::time::Duration,
    (part, concurrency): (u64, usize),
) {
    const MIB: u64 = 1 << 20;
    let mbps = |time: std::time::Duration| total as f64 / 1e6 / time.as_secs_f64();
    let (tus_mbps, direct_mbps) = (mbps(served.time), mbps(direct));
    let bound = 64 * MIB + part * (concurrency as u64 + 1);
    let ratio = tus_mbps / direct_mbps;
    println!("| {title} | value |");
    println!("| --- | --- |");
    println!(
        "| {tus_row} | {tus_mbps:.1} MB/s ({:.1} s; server CPU {:.1} s) |",
        served.time.as_secs_f64(),
        served.server_cpu
    );
    println!("| {direct_row} | {direct_mbps:.1} MB/s ({:.1} s) |", direct.as_secs_f64());
    println!("| ratio (target ≥ 0.8) | {ratio:.2} {} |", if ratio >= 0.8 { "met" } else { "missed" });
    println!(
        "| server peak RSS (bound 64 MiB + part × (concurrency + 1) = {} MiB) | {:.1} MiB ({}; idle {:.1} MiB) |",
        bound / MIB,
        served.peak_rss as f64 / MIB as f64,
        if served.peak_rss <= bound { "within" } else { "over" },
        served.idle_rss as f64 / MIB as f64,
    );
}
