//! The three scenarios, each against either server. Requests to the ceiling carry the
//! same headers and bodies as the tus requests; only the method (always POST for bodies)
//! and the path differ, and the ceiling's answers are not checked beyond their status.
//!
//! Every tus answer is checked (status, `Upload-Offset`), and every big upload is read
//! back (final HEAD, then sampled byte ranges by GET), so that no figure comes from a
//! broken upload: a check that fails is an error of the scenario.

use crate::Error;
use crate::client::{Answer, Connection};
use crate::pattern::{Pattern, PatternBody};
use crate::process::ServerProcess;
use crate::procfs::{Sampler, Usage};
use crate::roles::Role;
use http::{Method, Request, StatusCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TUS_VERSION: &str = "1.0.0";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// How many bytes each verification GET reads back.
const SAMPLE_LEN: u64 = 64 << 10;

/// A measured span: wall time, and the server's CPU time and peak memory over it.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Wall-clock time of the span.
    pub elapsed: Duration,
    /// The server's CPU time and peak RSS during the span.
    pub usage: Usage,
}

/// Scenario (a): one big upload.
#[derive(Debug, Clone, Copy)]
pub struct BigUpload {
    /// Bytes uploaded.
    pub bytes: u64,
    /// Time and server usage from the first request to the last answer.
    pub measured: Measured,
}

impl BigUpload {
    /// Throughput in MB/s (10^6 bytes per second).
    pub fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.measured.elapsed.as_secs_f64()
    }

    /// Server CPU seconds per GiB uploaded.
    pub fn cpu_seconds_per_gib(&self) -> f64 {
        self.measured.usage.cpu_seconds / (self.bytes as f64 / f64::from(1u32 << 30))
    }
}

/// Scenario (b): many small uploads at once.
#[derive(Debug, Clone)]
pub struct SmallUploads {
    /// How many uploads completed.
    pub count: usize,
    /// Time and server usage from the first request to the last answer.
    pub measured: Measured,
    /// The latency of every upload, sorted.
    pub latencies: Vec<Duration>,
}

impl SmallUploads {
    /// Completed uploads per second.
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.measured.elapsed.as_secs_f64()
    }

    /// Server CPU milliseconds per completed upload.
    pub fn cpu_millis_per_upload(&self) -> f64 {
        self.measured.usage.cpu_seconds * 1e3 / self.count.max(1) as f64
    }

    /// The latency below which a fraction `p` (0..=1) of the uploads completed (nearest rank).
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }
}

/// The nearest-rank percentile of sorted durations (zero when there are none).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Scenario (c): HEAD requests on one upload.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    /// How many HEAD requests were answered.
    pub requests: u64,
    /// Time and server usage over the span.
    pub measured: Measured,
}

impl Heads {
    /// Answered requests per second.
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.measured.elapsed.as_secs_f64()
    }

    /// Server CPU microseconds per answered request.
    pub fn cpu_micros_per_request(&self) -> f64 {
        self.measured.usage.cpu_seconds * 1e6 / self.requests.max(1) as f64
    }
}

fn fail(message: String) -> Error {
    message.into()
}

/// Fails unless the answer has `status`.
fn expect_status(answer: &Answer, status: StatusCode, what: &str) -> Result<(), Error> {
    if answer.status == status {
        Ok(())
    } else {
        let body = String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)]).into_owned();
        Err(fail(format!("{what}: expected {status}, got {} {body:?}", answer.status)))
    }
}

/// Fails unless the answer's `Upload-Offset` is `offset`.
fn expect_offset(answer: &Answer, offset: u64, what: &str) -> Result<(), Error> {
    match answer.number("upload-offset") {
        Some(got) if got == offset => Ok(()),
        got => Err(fail(format!("{what}: expected Upload-Offset {offset}, got {got:?}"))),
    }
}

/// The path of a `Location` (absolute or relative).
pub(crate) fn location_path(answer: &Answer) -> Result<String, Error> {
    let location = answer.header("location").ok_or_else(|| fail("creation answered without Location".into()))?;
    let path = match location.strip_prefix("http://").or_else(|| location.strip_prefix("https://")) {
        Some(rest) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => location,
    };
    Ok(path.to_owned())
}

/// A request with a pattern body of `len` bytes at upload offset `offset`, with the
/// headers of a tus PATCH (`Upload-Offset`, offset content type).
fn body_request(
    conn: &Connection,
    method: Method,
    path: &str,
    pattern: &Pattern,
    offset: u64,
    len: u64,
) -> Result<Request<PatternBody>, Error> {
    Ok(conn
        .request(method, path)
        .header("Tus-Resumable", TUS_VERSION)
        .header("Upload-Offset", offset)
        .header(http::header::CONTENT_TYPE, OFFSET_OCTET_STREAM)
        .header(http::header::CONTENT_LENGTH, len)
        .body(pattern.body(offset, len))?)
}

/// A tus creation POST declaring `length`, carrying the first `body_len` bytes
/// (creation-with-upload) when that is not zero.
fn creation_request(
    conn: &Connection,
    path: &str,
    pattern: &Pattern,
    length: u64,
    body_len: u64,
) -> Result<Request<PatternBody>, Error> {
    let mut builder = conn
        .request(Method::POST, path)
        .header("Tus-Resumable", TUS_VERSION)
        .header("Upload-Length", length)
        .header(http::header::CONTENT_LENGTH, body_len);
    if body_len > 0 {
        builder = builder.header(http::header::CONTENT_TYPE, OFFSET_OCTET_STREAM);
    }
    Ok(builder.body(pattern.body(0, body_len))?)
}

/// Scenario (a): uploads `size` bytes on one connection, as PATCHes of `chunk` bytes after
/// a creation POST (tus) or as POSTs of `chunk` bytes (ceiling); `chunk >= size` makes it
/// one streaming request. The tus upload is read back afterwards, then deleted.
pub async fn big_upload(
    server: &ServerProcess,
    role: Role,
    pattern: &Pattern,
    size: u64,
    chunk: u64,
) -> Result<BigUpload, Error> {
    let mut conn = Connection::open(server.addr()).await?;
    let sampler = Sampler::start(server.pid())?;
    let start = Instant::now();
    let mut location = None;
    if role.speaks_tus() {
        let answer = conn.send(creation_request(&conn, server.path(), pattern, size, 0)?).await?;
        expect_status(&answer, StatusCode::CREATED, "creation POST")?;
        location = Some(location_path(&answer)?);
    }
    let mut offset = 0;
    while offset < size {
        let len = chunk.min(size - offset);
        match &location {
            Some(upload) => {
                let answer = conn.send(body_request(&conn, Method::PATCH, upload, pattern, offset, len)?).await?;
                expect_status(&answer, StatusCode::NO_CONTENT, "PATCH")?;
                expect_offset(&answer, offset + len, "PATCH")?;
            }
            None => {
                let answer = conn.send(body_request(&conn, Method::POST, server.path(), pattern, offset, len)?).await?;
                expect_status(&answer, StatusCode::CREATED, "ceiling POST")?;
            }
        }
        offset += len;
    }
    let elapsed = start.elapsed();
    let usage = sampler.finish()?;
    if let Some(upload) = &location {
        verify_upload(&mut conn, upload, pattern, size).await?;
        // Free the disk space; a failure here does not make the figures wrong.
        let delete = conn.request(Method::DELETE, upload).header("Tus-Resumable", TUS_VERSION).body(pattern.empty())?;
        if let Ok(answer) = conn.send(delete).await
            && answer.status != StatusCode::NO_CONTENT
        {
            eprintln!("  note: DELETE of the big upload answered {}", answer.status);
        }
    }
    Ok(BigUpload { bytes: size, measured: Measured { elapsed, usage } })
}

/// Checks a finished tus upload: HEAD reports it complete, and sampled ranges read back by
/// GET (start, middle, end) hold the bytes that were sent.
pub async fn verify_upload(conn: &mut Connection, upload: &str, pattern: &Pattern, size: u64) -> Result<(), Error> {
    let head = conn.request(Method::HEAD, upload).header("Tus-Resumable", TUS_VERSION).body(pattern.empty())?;
    let answer = conn.send(head).await?;
    expect_status(&answer, StatusCode::OK, "final HEAD")?;
    expect_offset(&answer, size, "final HEAD")?;
    if answer.number("upload-length") != Some(size) {
        return Err(fail(format!("final HEAD: Upload-Length {:?}, expected {size}", answer.header("upload-length"))));
    }
    let sample = SAMPLE_LEN.min(size);
    for start in [0, size / 2 - (size / 2).min(sample / 2), size - sample] {
        let end = start + sample - 1;
        let get = conn.request(Method::GET, upload).header(http::header::RANGE, format!("bytes={start}-{end}"));
        let answer = conn.send(get.body(pattern.empty())?).await?;
        let from = match answer.status {
            StatusCode::PARTIAL_CONTENT => {
                let range = answer.header("content-range").unwrap_or_default();
                if range != format!("bytes {start}-{end}/{size}") {
                    return Err(fail(format!("GET {start}-{end}: Content-Range {range:?}")));
                }
                start
            }
            StatusCode::OK if answer.body.len() as u64 == size => 0,
            status => return Err(fail(format!("GET {start}-{end}: answered {status}"))),
        };
        if !pattern.matches(from, &answer.body) {
            return Err(fail(format!("GET {start}-{end}: the stored bytes differ from the bytes sent")));
        }
    }
    Ok(())
}

/// Scenario (b): `count` uploads of `size` bytes over `concurrency` connections; tus with
/// creation-with-upload (one POST each), the ceiling with one POST each.
pub async fn small_uploads(
    server: &ServerProcess,
    role: Role,
    pattern: &Pattern,
    count: usize,
    size: u64,
    concurrency: usize,
) -> Result<SmallUploads, Error> {
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        connections.push(Connection::open(server.addr()).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let sampler = Sampler::start(server.pid())?;
    let start = Instant::now();
    let workers: Vec<_> = connections
        .into_iter()
        .map(|mut conn| {
            let (next, pattern, path) = (next.clone(), pattern.clone(), server.path().to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let sent = Instant::now();
                    if role.speaks_tus() {
                        let answer = conn.send(creation_request(&conn, &path, &pattern, size, size)?).await?;
                        expect_status(&answer, StatusCode::CREATED, "creation-with-upload POST")?;
                        expect_offset(&answer, size, "creation-with-upload POST")?;
                        location_path(&answer)?;
                    } else {
                        let answer = conn.send(body_request(&conn, Method::POST, &path, &pattern, 0, size)?).await?;
                        expect_status(&answer, StatusCode::CREATED, "ceiling POST")?;
                    }
                    latencies.push(sent.elapsed());
                }
                Ok::<_, Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = start.elapsed();
    let usage = sampler.finish()?;
    latencies.sort_unstable();
    Ok(SmallUploads { count: latencies.len(), measured: Measured { elapsed, usage }, latencies })
}

/// Scenario (d): `count` uploads of `size` bytes over `concurrency` workers, each upload a
/// creation POST then one PATCH, the two sent to different servers of `servers` when there
/// are several (upload `k` is created on server `k % n` and written through the next one),
/// as a client behind a load balancer would. Each worker keeps one connection per server.
/// The figures are the servers' combined CPU time and highest peak RSS.
pub async fn alternating_uploads(
    servers: &[&ServerProcess],
    pattern: &Pattern,
    count: usize,
    size: u64,
    concurrency: usize,
) -> Result<SmallUploads, Error> {
    let n = servers.len();
    let mut workers_connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let mut connections = Vec::with_capacity(n);
        for server in servers {
            connections.push(Connection::open(server.addr()).await?);
        }
        workers_connections.push(connections);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let samplers = servers.iter().map(|s| Sampler::start(s.pid())).collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let base = servers[0].path().to_owned();
    let workers: Vec<_> = workers_connections
        .into_iter()
        .map(|mut connections| {
            let (next, pattern, base) = (next.clone(), pattern.clone(), base.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count {
                        break;
                    }
                    let sent = Instant::now();
                    let creator = &mut connections[k % n];
                    let answer = creator.send(creation_request(creator, &base, &pattern, size, 0)?).await?;
                    expect_status(&answer, StatusCode::CREATED, "creation POST")?;
                    let upload = location_path(&answer)?;
                    let writer = &mut connections[(k + 1) % n];
                    let answer = writer.send(body_request(writer, Method::PATCH, &upload, &pattern, 0, size)?).await?;
                    expect_status(&answer, StatusCode::NO_CONTENT, "PATCH")?;
                    expect_offset(&answer, size, "PATCH")?;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = start.elapsed();
    let mut usage = Usage { cpu_seconds: 0.0, peak_rss: 0 };
    for sampler in samplers {
        let one = sampler.finish()?;
        usage.cpu_seconds += one.cpu_seconds;
        usage.peak_rss = usage.peak_rss.max(one.peak_rss);
    }
    latencies.sort_unstable();
    Ok(SmallUploads { count: latencies.len(), measured: Measured { elapsed, usage }, latencies })
}

/// The mean time a server took to acquire upload locks, in microseconds, from its
/// `/metrics` (`tus_lock_wait_seconds` sum over count); `None` without lock waits.
pub async fn mean_lock_wait_micros(server: &ServerProcess, pattern: &Pattern) -> Result<Option<f64>, Error> {
    let mut conn = Connection::open(server.addr()).await?;
    let answer = conn.send(conn.request(Method::GET, "/metrics").body(pattern.empty())?).await?;
    expect_status(&answer, StatusCode::OK, "GET /metrics")?;
    let text = String::from_utf8_lossy(&answer.body);
    let sample = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
    };
    Ok(match (sample("tus_lock_wait_seconds_sum"), sample("tus_lock_wait_seconds_count")) {
        (Some(sum), Some(count)) if count > 0.0 => Some(sum / count * 1e6),
        _ => None,
    })
}

/// Scenario (c): HEAD requests for `duration` over `concurrency` connections, on one
/// existing upload of `size` bytes (tus) or on the ceiling's static answer.
pub async fn heads(
    server: &ServerProcess,
    role: Role,
    pattern: &Pattern,
    size: u64,
    concurrency: usize,
    duration: Duration,
) -> Result<Heads, Error> {
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        connections.push(Connection::open(server.addr()).await?);
    }
    let path = match role {
        Role::Tus | Role::App(_) => {
            let conn = &mut connections[0];
            let answer = conn.send(creation_request(conn, server.path(), pattern, size, size)?).await?;
            expect_status(&answer, StatusCode::CREATED, "creation-with-upload POST")?;
            location_path(&answer)?
        }
        Role::Ceiling => server.path().to_owned(),
    };
    let sampler = Sampler::start(server.pid())?;
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = connections
        .into_iter()
        .map(|mut conn| {
            let (pattern, path) = (pattern.clone(), path.clone());
            tokio::spawn(async move {
                let mut answered = 0u64;
                while Instant::now() < deadline {
                    let head = conn.request(Method::HEAD, &path).header("Tus-Resumable", TUS_VERSION);
                    let answer = conn.send(head.body(pattern.empty())?).await?;
                    expect_status(&answer, StatusCode::OK, "HEAD")?;
                    if role.speaks_tus() {
                        expect_offset(&answer, size, "HEAD")?;
                    }
                    answered += 1;
                }
                Ok::<_, Error>(answered)
            })
        })
        .collect();
    let mut requests = 0;
    for worker in workers {
        requests += worker.await??;
    }
    let elapsed = start.elapsed();
    let usage = sampler.finish()?;
    Ok(Heads { requests, measured: Measured { elapsed, usage } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&ms, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&ms, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&ms[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
