//! GCS throughput (`cargo bench -p tus-bench --bench gcs`): the same bytes (256 MiB by
//! default, `TUS_BENCH_GCS_MIB`; fake-gcs-server holds every object in RAM) uploaded to
//! fake-gcs-server
//!
//! - through `tus serve --storage gcs` (a child process: this binary re-executed), as one
//!   streaming PATCH with a known length (tus-gcs streams it straight into the data
//!   object: no part, no compose): MB/s, the server's CPU time and peak RSS, the
//!   emulator's CPU time;
//! - directly as one object, with the very request tus-gcs sends for each part (a resumable
//!   session, then one chunked PUT: `FakeGcs::upload_object`): MB/s, the emulator's CPU;
//! - the multi-part path, for comparison: the same upload through `tus serve` with a
//!   deferred length, so that its PATCH streams a part object, and a last, empty PATCH
//!   declaring the length composes the parts into the data object.
//!
//! After one unmeasured upload (the emulator's heap grows on the first), each row is the
//! best of `TUS_BENCH_GCS_RUNS` (3) runs: the machine is shared and the emulator's garbage
//! collector adds noise. It prints them side by side with the ratio (target ≥ 0.8).
//! fake-gcs-server is started by `scripts/fake-gcs.sh`.

use http::Method;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tus_bench::Error;
use tus_bench::client::Connection;
use tus_bench::cloud::{bench_main, create, id_of, patch};
use tus_bench::pattern::{PATTERN_LEN, Pattern};
use tus_bench::process::ServerProcess;
use tus_bench::procfs::cpu_seconds;
use tus_gcs::emulator::FakeGcs;

const MIB: u64 = 1 << 20;
const BUCKET: &str = "bench";

fn main() -> ExitCode {
    bench_main("gcs", run)
}

/// One measured span: wall time, and the CPU seconds of the server and the emulator.
#[derive(Debug, Clone, Copy)]
struct Span {
    wall: Duration,
    server_cpu: f64,
    emulator_cpu: f64,
}

impl Span {
    /// The faster of two runs.
    fn best(self, other: Option<Span>) -> Span {
        match other {
            Some(other) if other.wall < self.wall => other,
            _ => self,
        }
    }
}

/// The processes a span measures.
#[derive(Debug, Clone, Copy)]
struct Pids {
    server: Option<u32>,
    emulator: u32,
}

/// Runs `work`, measuring `pids`.
async fn measure<T>(pids: Pids, work: impl Future<Output = Result<T, Error>>) -> Result<(T, Span), Error> {
    let server_cpu = || pids.server.map(cpu_seconds).transpose().map(Option::unwrap_or_default);
    let (server_before, emulator_before) = (server_cpu()?, cpu_seconds(pids.emulator)?);
    let started = Instant::now();
    let out = work.await?;
    let wall = started.elapsed();
    let span = Span {
        wall,
        server_cpu: server_cpu()? - server_before,
        emulator_cpu: cpu_seconds(pids.emulator)? - emulator_before,
    };
    Ok((out, span))
}

/// The best run of each row.
#[derive(Debug, Default)]
struct Best {
    tus: Option<Span>,
    stream: Option<Span>,
    compose: Option<Span>,
    direct: Option<Span>,
}

async fn run() -> Result<(), Error> {
    let mib: u64 = std::env::var("TUS_BENCH_GCS_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let runs: u32 = std::env::var("TUS_BENCH_GCS_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let total = mib * MIB;
    eprintln!("gcs bench: {mib} MiB, best of {runs}; starting fake-gcs-server");
    let emulator = FakeGcs::start();
    emulator.storage(BUCKET, |c| c).await;
    let emulator_pid = emulator.pid().ok_or("no emulator process")?;
    let pattern = Pattern::new();

    let dir = tempfile::tempdir()?;
    let flags = ["--storage", "gcs", "--bucket", BUCKET, "--prefix", "tus/"];
    let env = [("STORAGE_EMULATOR_HOST", emulator.endpoint())];
    let server = ServerProcess::start_tus_with_env(dir.path(), &flags, &env)?;
    let idle_rss = tus_bench::procfs::peak_rss(server.pid())?;
    tus_bench::procfs::reset_peak_rss(server.pid())?;
    let mut connection = Connection::open(server.addr()).await?;
    let with_server = Pids { server: Some(server.pid()), emulator: emulator_pid };
    let direct_only = Pids { server: None, emulator: emulator_pid };

    upload_directly(&emulator, "warm-up", &pattern, total).await?;
    emulator.delete(BUCKET, "warm-up").await?;
    let mut best = Best::default();
    for run in 1..=runs {
        eprintln!("gcs bench: run {run} of {runs}");
        // Through tus serve, length known: one PATCH straight into the data object.
        let path = create(&server, &mut connection, &[("upload-length", total.to_string())]).await?;
        let upload = patch(&mut connection, &path, &pattern, (0, total), &[]);
        let (_, tus) = measure(with_server, upload).await?;
        best.tus = Some(tus.best(best.tus));
        check_object(&emulator, &format!("tus/data/{}", id_of(&path)), &pattern, total).await?;
        terminate(&server, &mut connection, &path).await?;

        // The same, length deferred: streaming the parts, then composing them, apart.
        let path = create(&server, &mut connection, &[("upload-defer-length", "1".to_owned())]).await?;
        let upload = patch(&mut connection, &path, &pattern, (0, total), &[]);
        let (_, stream) = measure(with_server, upload).await?;
        best.stream = Some(stream.best(best.stream));
        let length = [("upload-length", total.to_string())];
        let declare = patch(&mut connection, &path, &pattern, (total, 0), &length);
        let (_, compose) = measure(with_server, declare).await?;
        best.compose = Some(compose.best(best.compose));
        check_object(&emulator, &format!("tus/data/{}", id_of(&path)), &pattern, total).await?;
        terminate(&server, &mut connection, &path).await?;

        // Directly: one object, the same request tus-gcs makes for a part.
        let (_, direct) = measure(direct_only, upload_directly(&emulator, "direct", &pattern, total)).await?;
        best.direct = Some(direct.best(best.direct));
        check_object(&emulator, "direct", &pattern, total).await?;
        emulator.delete(BUCKET, "direct").await?;
    }
    let peak_rss = tus_bench::procfs::peak_rss(server.pid())?;
    drop(connection);
    drop(server);

    let (Some(tus), Some(stream), Some(compose), Some(direct)) = (best.tus, best.stream, best.compose, best.direct)
    else {
        return Err("no run".into());
    };
    let mbps = |time: Duration| total as f64 / 1e6 / time.as_secs_f64();
    let ratio = mbps(tus.wall) / mbps(direct.wall);
    let row = |what: &str, span: &Span| {
        let server =
            if span.server_cpu > 0.0 { format!("server CPU {:.2} s, ", span.server_cpu) } else { String::new() };
        println!(
            "| {what} | {:.1} MB/s ({:.2} s; {server}emulator CPU {:.2} s) |",
            mbps(span.wall),
            span.wall.as_secs_f64(),
            span.emulator_cpu
        );
    };
    println!("| GCS upload of {mib} MiB to fake-gcs-server (best of {runs}) | value |");
    println!("| --- | --- |");
    row("tus serve --storage gcs, one PATCH", &tus);
    row("direct: one object, tus-gcs's upload request", &direct);
    println!("| ratio (target ≥ 0.8) | {ratio:.2} {} |", if ratio >= 0.8 { "met" } else { "missed" });
    row("deferred length: the PATCH streaming the parts", &stream);
    row("deferred length: the PATCH declaring the length (compose)", &compose);
    println!("| ratio without the compose (streaming PATCH / direct) | {:.2} |", mbps(stream.wall) / mbps(direct.wall));
    println!(
        "| server peak RSS | {:.1} MiB (idle {:.1} MiB) |",
        peak_rss as f64 / MIB as f64,
        idle_rss as f64 / MIB as f64
    );
    Ok(())
}

/// Uploads `total` bytes of the pattern as object `name` with tus-gcs's own upload request.
async fn upload_directly(emulator: &FakeGcs, name: &str, pattern: &Pattern, total: u64) -> Result<(), Error> {
    let chunk = PATTERN_LEN as u64;
    let chunks = (0..total.div_ceil(chunk)).map({
        let pattern = pattern.clone();
        move |i| pattern.slice(chunk.min(total - i * chunk) as usize)
    });
    let size = emulator.upload_object(BUCKET, name, chunks).await?;
    if size != total {
        return Err(format!("{name}: {size} bytes stored, not {total}").into());
    }
    Ok(())
}

/// Deletes an upload (frees the emulator's memory for the next run).
async fn terminate(server: &ServerProcess, connection: &mut Connection, path: &str) -> Result<(), Error> {
    let request = connection.request(Method::DELETE, path).header("tus-resumable", "1.0.0");
    let answer = connection.send(request.body(Pattern::new().empty())?).await?;
    if answer.status != http::StatusCode::NO_CONTENT {
        return Err(format!("DELETE {path} on {} answered {}", server.addr(), answer.status).into());
    }
    Ok(())
}

/// Checks that object `name` has `total` bytes and holds the pattern (first and last MiB).
async fn check_object(emulator: &FakeGcs, name: &str, pattern: &Pattern, total: u64) -> Result<(), Error> {
    let size = emulator.objects(BUCKET, name).await.into_iter().find(|(n, _)| n == name).map(|(_, size)| size);
    if size != Some(total) {
        return Err(format!("{name}: {size:?} bytes, not {total}").into());
    }
    for start in [0, total.saturating_sub(MIB)] {
        let bytes = emulator.read(BUCKET, name, start..(start + MIB).min(total)).await?;
        if !pattern.matches(start, &bytes) {
            return Err(format!("{name}: wrong bytes at {start}").into());
        }
    }
    Ok(())
}
