//! The client benchmark (`cargo bench -p tus-bench --bench client`): the tus client
//! (tus-rs-client) against `curl`, both uploading the same file to the real `tus serve`.
//!
//! - **Big upload**: a file of `TUS_CLIENT_BENCH_MIB` MiB (1024 by default) uploaded by
//!   `curl -T FILE -X PATCH` as one tus PATCH to an upload created just before, and by the
//!   client with 4 MiB chunks (its default), 64 MiB chunks and one chunk. The figure is
//!   MB/s from the creation POST to the last answer (best of `TUS_CLIENT_BENCH_RUNS`, 3 by
//!   default, alternating the order of the variants); the target is client ≥ 0.9 × curl.
//!   Also shown: the server's CPU per GiB, the CPU per GiB of the benchmark process (where
//!   the client runs; on a shared machine a steadier measure of the client's cost than
//!   MB/s), and its peak RSS during the upload, which stays small however big the chunks are.
//! - **Parallel**: a file of `TUS_CLIENT_BENCH_PARALLEL_MIB` MiB (128 by default) through a
//!   relay that limits each connection to `TUS_CLIENT_BENCH_RELAY_MBPS` MB/s (16 by
//!   default) in front of the server, as a server that is slow per connection would be:
//!   one stream against `parallel(4)`. The target is a speed-up above 1.
//!
//! `TUS_CLIENT_BENCH_MODES` picks the server's durability modes (`buffered,sync` by
//! default) and `TUS_BENCH_DIR` where the files go. Every upload is checked (final HEAD and
//! sampled ranges read back) before its figure counts. Started without `--bench` (e.g. by
//! `cargo test --benches`), it makes a quick smoke run with tiny sizes.

use crate::client::Connection;
use crate::pattern::{PATTERN_LEN, Pattern};
use crate::process::ServerProcess;
use crate::procfs::{self, Sampler};
use crate::roles::Role;
use crate::{Durability, Error, MIB, size_text};
use http::{Method, StatusCode};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The target for the big upload: client throughput / curl throughput.
const CURL_RATIO: f64 = 0.9;
const TUS_VERSION: &str = "1.0.0";
/// How long one curl upload may take.
const CURL_TIMEOUT: Duration = Duration::from_secs(600);

/// What to run, and how big (read from the environment).
#[derive(Debug, Clone)]
pub struct ClientBenchConfig {
    /// A smoke run: tiny sizes.
    pub smoke: bool,
    /// Size of the big upload.
    pub size: u64,
    /// Runs of each variant; the fastest counts.
    pub runs: usize,
    /// The server's durability modes.
    pub modes: Vec<Durability>,
    /// Size of the parallel upload.
    pub parallel_size: u64,
    /// Client-to-server bytes per second of each relayed connection.
    pub relay_rate: u64,
    /// Where the source files and the servers' directories go.
    pub scratch: PathBuf,
}

impl ClientBenchConfig {
    /// Reads the configuration; `smoke` makes the defaults tiny.
    pub fn from_env(smoke: bool) -> Result<Self, String> {
        let pick = |full: u64, tiny: u64| if smoke { tiny } else { full };
        let modes = match std::env::var("TUS_CLIENT_BENCH_MODES") {
            Ok(list) => list.split(',').map(|m| m.trim().parse()).collect::<Result<Vec<_>, _>>()?,
            Err(_) => vec![Durability::Buffered, Durability::Sync],
        };
        let config = Self {
            smoke,
            size: env_number("TUS_CLIENT_BENCH_MIB", pick(1024, 16))? << 20,
            runs: usize::try_from(env_number("TUS_CLIENT_BENCH_RUNS", pick(3, 1))?).map_err(|e| e.to_string())?,
            modes,
            parallel_size: env_number("TUS_CLIENT_BENCH_PARALLEL_MIB", pick(128, 8))? << 20,
            relay_rate: env_number("TUS_CLIENT_BENCH_RELAY_MBPS", 16)? * 1_000_000,
            scratch: std::env::var_os("TUS_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
        };
        if config.size == 0 || config.runs == 0 || config.parallel_size == 0 || config.relay_rate == 0 {
            return Err("TUS_CLIENT_BENCH_* sizes, runs and rates must be at least 1".to_owned());
        }
        Ok(config)
    }
}

fn env_number(var: &str, default: u64) -> Result<u64, String> {
    match std::env::var(var) {
        Ok(value) => value.trim().parse().map_err(|_| format!("{var}={value:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// How the big file is uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// `curl -T` as one PATCH.
    Curl,
    /// The client with this chunk size.
    Client(u64),
}

impl Variant {
    fn name(self, size: u64) -> String {
        match self {
            Self::Curl => "curl, one PATCH".to_owned(),
            Self::Client(chunk) if chunk >= size => "client, one chunk".to_owned(),
            Self::Client(chunk) => format!("client, {} chunks", size_text(chunk)),
        }
    }
}

/// One measured upload.
#[derive(Debug, Clone, Copy)]
struct Measured {
    bytes: u64,
    elapsed: Duration,
    server_cpu: f64,
    /// CPU seconds of the benchmark process (the client's) during the upload; `None` for
    /// curl (a child process, counted nowhere).
    client_cpu: Option<f64>,
    /// Peak RSS of the benchmark process (the client's) during the upload; `None` for curl.
    client_rss: Option<u64>,
    /// The requests that carried data (POST and PATCH) and their mean round trip, from the
    /// client's `after_response` hook; `None` for curl.
    data_requests: Option<(usize, Duration)>,
}

impl Measured {
    fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

/// The best of the runs of one variant (and the worst memory).
#[derive(Debug, Default, Clone, Copy)]
struct Best {
    mb_per_second: f64,
    server_cpu_per_gib: f64,
    client_cpu_per_gib: Option<f64>,
    client_rss: Option<u64>,
    data_requests: Option<(usize, Duration)>,
}

impl Best {
    fn add(&mut self, run: &Measured) {
        let gib = run.bytes as f64 / f64::from(1u32 << 30);
        if run.mb_per_second() > self.mb_per_second {
            self.mb_per_second = run.mb_per_second();
            self.server_cpu_per_gib = run.server_cpu / gib;
            self.client_cpu_per_gib = run.client_cpu.map(|cpu| cpu / gib);
            self.data_requests = run.data_requests;
        }
        self.client_rss = match (self.client_rss, run.client_rss) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Runs the whole client benchmark and prints its tables; the process's exit code.
pub fn run() -> ExitCode {
    let smoke = !std::env::args().skip(1).any(|arg| arg == "--bench");
    let config = match ClientBenchConfig::from_env(smoke) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tus-bench client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tus-bench client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_all(&config)) {
        Ok(report) => {
            print!("{report}");
            if report.contains("FAILED") { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        Err(e) => {
            eprintln!("tus-bench client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_all(config: &ClientBenchConfig) -> Result<String, Error> {
    let pattern = Pattern::new();
    let files = tempfile::Builder::new().prefix("tus-client-bench-").tempdir_in(&config.scratch)?;
    let big_file = files.path().join("big.bin");
    write_pattern_file(&big_file, config.size, &pattern)?;
    let mut variants = vec![Variant::Curl];
    // Chunk sizes at or above the file's size are all "one chunk": measured once.
    variants.extend([4 << 20, 64 << 20].into_iter().filter(|&chunk| chunk < config.size).map(Variant::Client));
    variants.push(Variant::Client(config.size));

    let mut out = String::new();
    let _ = writeln!(out, "## tus-bench client: tus-rs-client vs curl against `tus serve`\n");
    let _ = writeln!(out, "{}\n", machine());
    let _ = writeln!(
        out,
        "| upload of {} | server durability | MB/s (best of {}) | ratio to curl | target | server CPU | \
         client CPU | bench-process peak RSS | POST/PATCH requests × mean round trip |",
        size_text(config.size),
        config.runs
    );
    let _ = writeln!(out, "|---|---|---:|---:|---|---:|---:|---:|---:|");
    for &mode in &config.modes {
        eprintln!("== durability {mode}: starting tus serve");
        let server = ServerProcess::start(Role::Tus, mode, &config.scratch)?;
        let mut best = vec![None::<Best>; variants.len()];
        let mut failed = vec![None::<String>; variants.len()];
        for run in 0..config.runs {
            // Rotate which variant goes first, so none always follows the same one.
            for k in 0..variants.len() {
                let index = (k + run) % variants.len();
                if failed[index].is_some() {
                    continue;
                }
                let variant = variants[index];
                crate::settle(server.dir(), config.size, &pattern);
                let label = format!("{} [{mode}] run {}", variant.name(config.size), run + 1);
                match big_upload(&server, &pattern, &big_file, config.size, variant).await {
                    Ok(measured) => {
                        eprintln!(
                            "   {label}: {:.0} MB/s in {:.2} s, server {:.2} CPU-s, client {} CPU-s",
                            measured.mb_per_second(),
                            measured.elapsed.as_secs_f64(),
                            measured.server_cpu,
                            measured.client_cpu.map_or_else(|| "–".to_owned(), |cpu| format!("{cpu:.2}"))
                        );
                        best[index].get_or_insert_with(Best::default).add(&measured);
                    }
                    Err(e) => {
                        eprintln!("   {label}: FAILED: {e}");
                        failed[index] = Some(e.to_string());
                    }
                }
            }
        }
        let curl = best[0].map(|b| b.mb_per_second);
        for (index, variant) in variants.iter().enumerate() {
            let name = variant.name(config.size);
            let Some(figures) = best[index].filter(|_| failed[index].is_none()) else {
                let _ = writeln!(out, "| {name} | {mode} | FAILED | – | – | – | – | – | – |");
                continue;
            };
            let ratio = curl.filter(|c| *c > 0.0).map(|c| figures.mb_per_second / c);
            let (ratio_text, target) = match (variant, ratio) {
                (Variant::Curl, _) => ("1.00".to_owned(), "baseline".to_owned()),
                (_, Some(r)) => {
                    let verdict = if r >= CURL_RATIO { "PASS" } else { "MISS" };
                    (format!("{r:.2}"), format!("≥ {CURL_RATIO:.2} × curl: **{verdict}**"))
                }
                (_, None) => ("–".to_owned(), "n/a".to_owned()),
            };
            let client_cpu =
                figures.client_cpu_per_gib.map_or_else(|| "–".to_owned(), |cpu| format!("{cpu:.2} CPU-s/GiB"));
            let rss = figures.client_rss.map_or_else(|| "–".to_owned(), |r| format!("{:.1} MiB", r as f64 / MIB));
            let requests = figures.data_requests.map_or_else(
                || "1 (curl)".to_owned(),
                |(count, mean)| format!("{count} × {:.1} ms", mean.as_secs_f64() * 1e3),
            );
            let _ = writeln!(
                out,
                "| {name} | {mode} | {:.0} MB/s | {ratio_text} | {target} | {:.2} CPU-s/GiB | {client_cpu} | {rss} | \
                 {requests} |",
                figures.mb_per_second, figures.server_cpu_per_gib
            );
        }
        drop(server);
    }
    std::fs::remove_file(&big_file)?;

    let parallel_file = files.path().join("parallel.bin");
    write_pattern_file(&parallel_file, config.parallel_size, &pattern)?;
    out.push('\n');
    out.push_str(&parallel_table(config, &pattern, &parallel_file).await?);
    out.push_str(
        "\nMB/s = 10^6 bytes per second, from the creation POST to the last answer (the client also asks \
         OPTIONS first). curl: `curl -sS -T FILE -X PATCH -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
         -H 'Content-Type: application/offset+octet-stream'` to an upload the benchmark creates just before. \
         Before each big run: `sync`, then a page-cache warm-up (see `settle` in bench/src/lib.rs). \
         Bench-process peak RSS: VmHWM of the process the client runs in, reset before each upload.\n",
    );
    Ok(out)
}

/// The parallel scenario through the throttling relay, in buffered durability.
async fn parallel_table(config: &ClientBenchConfig, pattern: &Pattern, file: &Path) -> Result<String, Error> {
    eprintln!(
        "== parallel: tus serve (buffered) behind a relay of {} MB/s per connection",
        config.relay_rate / 1_000_000
    );
    let server = ServerProcess::start(Role::Tus, Durability::Buffered, &config.scratch)?;
    let relay = Relay::start(server.addr(), config.relay_rate).await?;
    let mut best = [0.0f64; 2];
    let mut peak_rss = [0u64; 2];
    let mut failures = [None::<String>, None];
    for run in 0..config.runs {
        for k in 0..2 {
            let index = (k + run) % 2;
            let parts = [1, 4][index];
            if failures[index].is_some() {
                continue;
            }
            crate::settle(server.dir(), config.parallel_size, pattern);
            match parallel_upload(&server, relay.addr, pattern, file, config.parallel_size, parts).await {
                Ok(measured) => {
                    eprintln!("   parallel({parts}) run {}: {:.1} MB/s", run + 1, measured.mb_per_second());
                    best[index] = best[index].max(measured.mb_per_second());
                    peak_rss[index] = peak_rss[index].max(measured.client_rss.unwrap_or(0));
                }
                Err(e) => {
                    eprintln!("   parallel({parts}) run {}: FAILED: {e}", run + 1);
                    failures[index] = Some(e.to_string());
                }
            }
        }
    }
    let mut out = format!(
        "| upload of {} through a relay of {} MB/s per connection | MB/s (best of {}) | speed-up | target | \
         bench-process peak RSS |\n|---|---:|---:|---|---:|\n",
        size_text(config.parallel_size),
        config.relay_rate / 1_000_000,
        config.runs
    );
    let cell = |index: usize| {
        if failures[index].is_some() { "FAILED".to_owned() } else { format!("{:.1} MB/s", best[index]) }
    };
    let rss = |index: usize| format!("{:.1} MiB", peak_rss[index] as f64 / MIB);
    let _ = writeln!(out, "| client, one stream (4 MiB chunks) | {} | 1.00 | baseline | {} |", cell(0), rss(0));
    let speedup = (failures.iter().all(Option::is_none) && best[0] > 0.0).then(|| best[1] / best[0]);
    let (speedup_text, verdict) = match speedup {
        Some(s) => (format!("{s:.2}"), if s > 1.0 { "PASS" } else { "MISS" }),
        None => ("–".to_owned(), "n/a"),
    };
    let _ = writeln!(
        out,
        "| client, `parallel(4)`, 4 MiB chunks | {} | {speedup_text} | > 1 × one stream: **{verdict}** | {} |",
        cell(1),
        rss(1)
    );
    Ok(out)
}

/// Writes `size` bytes of the pattern (byte `i` is the pattern's `i % PATTERN_LEN`).
fn write_pattern_file(path: &Path, size: u64, pattern: &Pattern) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let block = pattern.slice(PATTERN_LEN);
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()
}

fn endpoint(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// One upload of the big file; checked, then deleted.
async fn big_upload(
    server: &ServerProcess,
    pattern: &Pattern,
    file: &Path,
    size: u64,
    variant: Variant,
) -> Result<Measured, Error> {
    let sampler = Sampler::start(server.pid())?;
    let me = std::process::id();
    let client_cpu_at_start = procfs::cpu_seconds(me)?;
    procfs::reset_peak_rss(me)?;
    let start = Instant::now();
    let round_trips = Arc::new(Mutex::new(Vec::new()));
    let upload_path = match variant {
        Variant::Curl => curl_upload(server, file, size).await?,
        Variant::Client(chunk) => {
            let seen = round_trips.clone();
            let client = tus_rs_client::Client::builder(endpoint(server.addr(), server.path()))
                .chunk_size(chunk)
                .after_response(move |r| {
                    if *r.method == Method::POST || *r.method == Method::PATCH {
                        seen.lock().unwrap_or_else(PoisonError::into_inner).push(r.elapsed);
                    }
                })
                .build()?;
            let uploaded = client.upload(tus_rs_client::Source::file(file)).resume(false).await?;
            uploaded.url.path().to_owned()
        }
    };
    let elapsed = start.elapsed();
    let data_requests = {
        let round_trips = round_trips.lock().unwrap_or_else(PoisonError::into_inner);
        let count = round_trips.len();
        (count > 0).then(|| (count, round_trips.iter().sum::<Duration>() / count as u32))
    };
    let is_client = matches!(variant, Variant::Client(_));
    let client_cpu = is_client.then(|| procfs::cpu_seconds(me)).transpose()?.map(|cpu| cpu - client_cpu_at_start);
    let client_rss = is_client.then(|| procfs::peak_rss(me)).transpose()?;
    let usage = sampler.finish()?;
    check_and_delete(server, pattern, &upload_path, size).await?;
    Ok(Measured { bytes: size, elapsed, server_cpu: usage.cpu_seconds, client_cpu, client_rss, data_requests })
}

/// Creates an upload of `size` bytes and sends the file with `curl` as one PATCH; returns
/// the upload's path.
async fn curl_upload(server: &ServerProcess, file: &Path, size: u64) -> Result<String, Error> {
    let mut conn = Connection::open(server.addr()).await?;
    let create = conn
        .request(Method::POST, server.path())
        .header("Tus-Resumable", TUS_VERSION)
        .header("Upload-Length", size)
        .header(http::header::CONTENT_LENGTH, 0)
        .body(Pattern::new().empty())?;
    let answer = conn.send(create).await?;
    if answer.status != StatusCode::CREATED {
        return Err(format!("creation POST answered {}", answer.status).into());
    }
    let location = answer.header("location").ok_or("creation POST answered without Location")?;
    let url = absolute_url(server.addr(), server.path(), location);
    let curl = tokio::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T"])
        .arg(file)
        .args(["-X", "PATCH", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0"])
        .args(["-H", "Content-Type: application/offset+octet-stream"])
        .arg(&url)
        .kill_on_drop(true)
        .output();
    // A stuck curl is killed (kill_on_drop) rather than hanging the benchmark.
    let output = tokio::time::timeout(CURL_TIMEOUT, curl)
        .await
        .map_err(|_| format!("curl did not finish within {CURL_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot run curl (scripts/install-test-deps.sh installs it): {e}"))?;
    let status = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || status.trim() != "204" {
        return Err(format!("curl PATCH: HTTP {status}, {}", String::from_utf8_lossy(&output.stderr).trim()).into());
    }
    Ok(url.trim_start_matches(&format!("http://{}", server.addr())).to_owned())
}

/// The absolute URL of a `Location` (absolute, or a path).
fn absolute_url(addr: SocketAddr, base_path: &str, location: &str) -> String {
    if location.starts_with("http://") {
        location.to_owned()
    } else if location.starts_with('/') {
        endpoint(addr, location)
    } else {
        endpoint(addr, &format!("{}/{location}", base_path.trim_end_matches('/')))
    }
}

/// Checks the upload at `path` holds the pattern (final HEAD, sampled ranges), then deletes it.
async fn check_and_delete(server: &ServerProcess, pattern: &Pattern, path: &str, size: u64) -> Result<(), Error> {
    let mut conn = Connection::open(server.addr()).await?;
    crate::scenarios::verify_upload(&mut conn, path, pattern, size).await?;
    let delete = conn.request(Method::DELETE, path).header("Tus-Resumable", TUS_VERSION).body(pattern.empty())?;
    if let Ok(answer) = conn.send(delete).await
        && answer.status != StatusCode::NO_CONTENT
    {
        eprintln!("  note: DELETE of {path} answered {}", answer.status);
    }
    Ok(())
}

/// One upload through the relay, as one stream or `parts` parallel ones.
async fn parallel_upload(
    server: &ServerProcess,
    relay: SocketAddr,
    pattern: &Pattern,
    file: &Path,
    size: u64,
    parts: usize,
) -> Result<Measured, Error> {
    let me = std::process::id();
    procfs::reset_peak_rss(me)?;
    let start = Instant::now();
    let client = tus_rs_client::Client::builder(endpoint(relay, server.path())).build()?;
    let uploaded = client.upload(tus_rs_client::Source::file(file)).parallel(parts).resume(false).await?;
    let elapsed = start.elapsed();
    let client_rss = Some(procfs::peak_rss(me)?);
    check_and_delete(server, pattern, uploaded.url.path(), size).await?;
    for part in &uploaded.partial_urls {
        delete_quietly(server, part.path()).await;
    }
    Ok(Measured { bytes: size, elapsed, server_cpu: 0.0, client_cpu: None, client_rss, data_requests: None })
}

async fn delete_quietly(server: &ServerProcess, path: &str) {
    if let Ok(mut conn) = Connection::open(server.addr()).await
        && let Ok(request) =
            conn.request(Method::DELETE, path).header("Tus-Resumable", TUS_VERSION).body(Pattern::new().empty())
    {
        let _ = conn.send(request).await;
    }
}

/// A TCP relay in front of a server that limits each connection's client-to-server bytes
/// to `rate` per second (the answers pass at full speed). Stops when dropped.
#[derive(Debug)]
pub struct Relay {
    /// Where clients connect.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Listens on a loopback port and relays every connection to `target`.
    pub async fn start(target: SocketAddr, rate: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                connections.spawn(relay_connection(inbound, target, rate));
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self { addr, task })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay_connection(inbound: TcpStream, target: SocketAddr, rate: u64) {
    let Ok(outbound) = TcpStream::connect(target).await else { return };
    let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
    let (mut in_read, mut in_write) = inbound.into_split();
    let (mut out_read, mut out_write) = outbound.into_split();
    let upstream = async move {
        let mut buf = vec![0u8; 64 << 10];
        // The time the bytes sent so far are due by: pacing never banks idle time, so a
        // connection that waited between requests cannot burst.
        let mut due = tokio::time::Instant::now();
        loop {
            let n = match in_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if out_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            due = due.max(tokio::time::Instant::now()) + Duration::from_secs_f64(n as f64 / rate as f64);
            tokio::time::sleep_until(due).await;
        }
        let _ = out_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut out_read, &mut in_write).await;
        let _ = in_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// The machine, the date and the curl version.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned())
    };
    // Other work on the machine skews every figure: the load is part of the record.
    let load = std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".to_owned(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    format!(
        "machine: nproc {cpus} ({model}), load average {load} at the start, {}, {}",
        run("curl", &["--version"]).split_whitespace().take(2).collect::<Vec<_>>().join(" "),
        run("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_join_like_a_client_would() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(absolute_url(addr, "/files/", "/files/abc"), "http://127.0.0.1:8080/files/abc");
        assert_eq!(absolute_url(addr, "/files/", "abc"), "http://127.0.0.1:8080/files/abc");
        assert_eq!(absolute_url(addr, "/files/", "http://h/files/x"), "http://h/files/x");
    }

    /// The relay passes bytes both ways and paces the client's side.
    #[tokio::test]
    async fn the_relay_limits_each_connection() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.unwrap();
            let mut got = Vec::new();
            socket.read_to_end(&mut got).await.unwrap();
            socket.write_all(&(got.len() as u64).to_be_bytes()).await.unwrap();
        });
        let relay = Relay::start(target, 1_000_000).await.unwrap();
        let mut conn = TcpStream::connect(relay.addr).await.unwrap();
        let started = Instant::now();
        conn.write_all(&vec![7u8; 300_000]).await.unwrap();
        conn.shutdown().await.unwrap();
        let mut answer = [0u8; 8];
        conn.read_exact(&mut answer).await.unwrap();
        assert_eq!(u64::from_be_bytes(answer), 300_000);
        // 300 kB at 1 MB/s: about 0.3 s (the first 64 KiB go at once).
        assert!(started.elapsed() >= Duration::from_millis(200), "{:?}", started.elapsed());
    }
}
