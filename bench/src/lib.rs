//! # tus-bench
//!
//! The throughput benchmark of the tus server (`cargo bench -p tus-bench`, or
//! `scripts/bench.sh`). It measures the real `tus serve` (through the tus-cli library)
//! against a *ceiling*: the least a hyper 1 server can do with the same bytes (see
//! [`ceiling`]). Each server runs in its own child process, so the CPU time and peak
//! memory read from `/proc/<pid>` are the server's alone; the load generator is a hyper
//! client in the benchmark process.
//!
//! Scenarios, each in `sync` (fdatasync before answering) and `buffered` durability:
//! - (a) one big upload (1 GiB), as 8 MiB PATCHes and as one streaming PATCH: MB/s,
//!   server CPU-seconds per GiB, server peak RSS;
//! - (b) many small uploads (2000 × 16 KiB, creation-with-upload) at concurrency 64:
//!   uploads/s, p50 and p99 latency;
//! - (c) HEAD requests on one upload at concurrency 64: requests/s;
//! - (d) several instances: 2000 × 16 KiB uploads (creation POST, then one PATCH) at
//!   concurrency 64 through two `tus serve --lock redis` instances sharing one directory and
//!   one Redis, each upload created on one instance and written through the other, against
//!   one instance with in-memory locks (in this row, the "tus" column is the pair and the
//!   "ceiling" column the single instance): uploads/s, and the mean lock acquisition time
//!   from the servers' `tus_lock_wait_seconds` metric. Redis is started by
//!   `scripts/redis.sh` (installed when missing).
//!
//! A second target, `cargo bench -p tus-bench --bench client`, measures the tus client
//! against `curl` (see [`client_bench`]).
//!
//! Every size is an environment variable (see [`config::Config`]). The result is a markdown
//! table on stdout; progress goes to stderr. A missed target is reported, not failed; an
//! incorrect upload or a failed scenario makes the process exit non-zero.
//!
//! A second bench target, `cargo bench -p tus-bench --bench adapters` ([`adapters`]), runs
//! scenarios (a) and (b) through each framework adapter (axum, actix-web, warp) beside the
//! bare tower service, and reports each adapter's ratio to it.

pub mod adapters;
pub mod apps;
pub mod ceiling;
pub mod client;
pub mod client_bench;
pub mod cloud;
pub mod config;
pub mod pattern;
pub mod process;
pub mod procfs;
pub mod redis;
pub mod report;
pub mod roles;
pub mod scenarios;

use config::Config;
use pattern::Pattern;
use process::ServerProcess;
use report::{Row, Target, Unit};
use roles::Role;
use scenarios::{BigUpload, Heads, SmallUploads};
use std::fmt;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::str::FromStr;

/// Any error of the benchmark.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How the servers make uploads durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// tus `--durability sync`; the ceiling `fdatasync`s each file before answering.
    Sync,
    /// tus `--durability buffered`; the ceiling leaves flushing to the OS.
    Buffered,
}

impl Durability {
    /// The name used on command lines and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Buffered => "buffered",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sync" => Ok(Self::Sync),
            "buffered" => Ok(Self::Buffered),
            _ => Err(format!("unknown durability {s:?} (use sync or buffered)")),
        }
    }
}

/// The targets.
const BIG_RATIO: f64 = 0.9;
const SMALL_RATIO: f64 = 0.8;
const HEAD_RATIO: f64 = 0.8;
const SINGLE_PATCH_MAX_RSS_MIB: f64 = 32.0;
const MULTI_INSTANCE_RATIO: f64 = 0.7;

const MIB: f64 = (1u64 << 20) as f64;

/// Runs the whole benchmark and prints the table; the process's exit code.
///
/// Started by `cargo bench` (with `--bench`), it runs at full size; started otherwise (e.g.
/// by `cargo test --benches`), it makes a quick smoke run with tiny sizes.
pub fn run() -> ExitCode {
    let smoke = !std::env::args().skip(1).any(|arg| arg == "--bench");
    let config = match Config::from_env(smoke) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tus-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(config.client_threads).enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("tus-bench: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    let mut bench = Bench {
        config,
        runtime,
        pattern: Pattern::new(),
        rows: Vec::new(),
        failures: 0,
        finished: Vec::new(),
        dirs: Vec::new(),
        redis: None,
        notes: Vec::new(),
    };
    let modes = bench.config.modes.clone();
    for mode in modes {
        bench.mode(mode);
    }
    // Stop every server (and remove their directories) before reporting.
    bench.finished.clear();
    bench.dirs.clear();
    bench.redis = None;
    println!("{}", header(&bench.config));
    println!();
    print!("{}", report::table(&bench.rows));
    println!();
    println!(
        "ratio = tus / ceiling: higher is better for throughput, lower for CPU, RSS and latency. \
         Each figure is the best of {} run(s) per server, alternating which server goes first; \
         for (a), CPU is averaged over the runs and RSS is the highest of them. Server CPU and RSS \
         come from /proc/<pid> of the server process alone. The ceiling stores each request body \
         in a file of its own: (a) one POST per chunk and one big POST, (b) one POST per upload; \
         (c) answers HEAD with a fixed 200. Before each (a) and (b) run: `sync`, then a page-cache \
         warm-up (see `settle` in bench/src/lib.rs). Each run's line on stderr ends with the \
         machine's steal time during it: CPU the hypervisor gave elsewhere, on a virtual machine \
         often the host doing this machine's disk I/O; runs with different steal do not compare.",
        bench.config.runs
    );
    for note in &bench.notes {
        println!();
        println!("{note}");
    }
    if filesystem_of(&bench.config.scratch).is_some_and(|fs| fs.contains("no journal")) {
        println!();
        println!(
            "Note: the scratch filesystem is ext4 without a journal. For 60-300 s after many files \
             are deleted (such as when a previous run of this benchmark ended), creating files \
             costs far more kernel CPU: (b) figures of a run started within 5 minutes of another \
             may be low. Set TUS_BENCH_DIR to put the servers' files elsewhere."
        );
    }
    if bench.failures > 0 {
        println!();
        println!("**{} scenario(s) failed or produced incorrect uploads: see stderr.**", bench.failures);
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The state of one benchmark run.
struct Bench {
    config: Config,
    runtime: tokio::runtime::Runtime,
    pattern: Pattern,
    rows: Vec<Row>,
    failures: usize,
    /// The servers of the modes already measured, stopped when the benchmark ends.
    finished: Vec<ServerProcess>,
    /// Scratch directories shared by servers of `finished`, removed after them.
    dirs: Vec<tempfile::TempDir>,
    /// The Redis of scenario (d), started when first needed.
    redis: Option<redis::Redis>,
    /// Lines printed after the table.
    notes: Vec<String>,
}

/// Figures of scenario (a) over several runs.
#[derive(Debug, Default, Clone, Copy)]
struct BigFigures {
    best_mb_per_second: f64,
    cpu_seconds: f64,
    bytes: f64,
    peak_rss: u64,
}

impl BigFigures {
    fn add(&mut self, run: &BigUpload) {
        self.best_mb_per_second = self.best_mb_per_second.max(run.mb_per_second());
        self.cpu_seconds += run.measured.usage.cpu_seconds;
        self.bytes += run.bytes as f64;
        self.peak_rss = self.peak_rss.max(run.measured.usage.peak_rss);
    }

    fn cpu_seconds_per_gib(&self) -> f64 {
        self.cpu_seconds / (self.bytes / f64::from(1u32 << 30))
    }
}

impl Bench {
    /// Everything in one durability mode: both servers, every selected scenario.
    fn mode(&mut self, mode: Durability) {
        eprintln!("== durability {mode}: starting the servers");
        let servers = ServerProcess::start(Role::Tus, mode, &self.config.scratch)
            .and_then(|tus| Ok((tus, ServerProcess::start(Role::Ceiling, mode, &self.config.scratch)?)));
        let (mut tus, mut ceiling) = match servers {
            Ok(servers) => servers,
            Err(e) => {
                eprintln!("   cannot start the servers: {e}");
                self.failures += 1;
                return;
            }
        };
        if !self.config.attach_wait.is_zero() {
            eprintln!(
                "   tus pid {}, ceiling pid {}: waiting {:?} for profilers to attach",
                tus.pid(),
                ceiling.pid(),
                self.config.attach_wait
            );
            std::thread::sleep(self.config.attach_wait);
        }
        if self.config.runs_scenario('a') {
            let (size, chunk) = (self.config.big_size, self.config.chunk_size);
            let name = format!("(a) {} as {} PATCHes", size_text(size), size_text(chunk));
            self.big(mode, &name, [&tus, &ceiling], chunk, Target::None);
            let name = format!("(a) {} single PATCH", size_text(size));
            self.big(mode, &name, [&tus, &ceiling], size, Target::AtMost(SINGLE_PATCH_MAX_RSS_MIB));
        }
        if self.config.runs_scenario('b') {
            self.small(mode, [&tus, &ceiling]);
        }
        if self.config.runs_scenario('c') {
            self.heads(mode, [&tus, &ceiling]);
        }
        if self.config.runs_scenario('d') {
            self.multi_instance(mode);
        }
        for (server, name) in [(&mut tus, "tus"), (&mut ceiling, "ceiling")] {
            if !server.is_running() {
                eprintln!("   the {name} server died during the benchmark");
                self.failures += 1;
            }
        }
        // Stopped only at the very end: removing their directories deletes thousands of
        // files, which would slow down the file creations of the next mode (see `truncate_files`).
        self.finished.extend([tus, ceiling]);
    }

    /// Runs `scenario` `runs` times on each server, alternating which goes first, and
    /// returns the successful results of tus and of the ceiling. A server whose run fails
    /// (an error or an incorrect upload) is counted as a failure and not run again.
    /// With `writes`, each run is prepared by [`settle`] for that many bytes, and the
    /// ceiling's files are emptied after it.
    fn alternate<T>(
        &mut self,
        label: &str,
        servers: [&ServerProcess; 2],
        writes: Option<u64>,
        scenario: impl Fn(&Self, Role, &ServerProcess) -> Result<T, Error>,
        describe: impl Fn(&T) -> String,
    ) -> [Vec<T>; 2] {
        let mut results = [Vec::new(), Vec::new()];
        let mut failed = [false, false];
        for run in 0..self.config.runs {
            let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
            for index in order {
                if failed[index] {
                    continue;
                }
                let (role, server) = ([Role::Tus, Role::Ceiling][index], servers[index]);
                if let Some(bytes) = writes {
                    settle(server.dir(), bytes, &self.pattern);
                }
                let steal = procfs::StealMeter::start();
                let result = scenario(self, role, server);
                let steal = steal.finish().map_or_else(String::new, |s| format!(" (steal {:.0}%)", s * 100.0));
                if writes.is_some_and(|bytes| bytes >= TRUNCATE_FROM) && role == Role::Ceiling {
                    truncate_files(server.dir());
                }
                match result {
                    Ok(result) => {
                        eprintln!("   {label} {}: {}{steal}", role.as_str(), describe(&result));
                        results[index].push(result);
                    }
                    Err(e) => {
                        eprintln!("   {label} {}: FAILED: {e}", role.as_str());
                        self.failures += 1;
                        failed[index] = true;
                        results[index].clear();
                    }
                }
            }
        }
        results
    }

    /// Scenario (a) with `chunk`-byte requests.
    fn big(&mut self, mode: Durability, name: &str, servers: [&ServerProcess; 2], chunk: u64, rss_target: Target) {
        let size = self.config.big_size;
        let results = self.alternate(
            &format!("{name} [{mode}]"),
            servers,
            Some(size),
            |bench, role, server| {
                bench.runtime.block_on(scenarios::big_upload(server, role, &bench.pattern, size, chunk))
            },
            |upload| {
                format!(
                    "{:.0} MB/s, {:.2} CPU-s/GiB, peak RSS {:.1} MiB",
                    upload.mb_per_second(),
                    upload.cpu_seconds_per_gib(),
                    upload.measured.usage.peak_rss as f64 / MIB
                )
            },
        );
        let [tus, ceiling] = results.map(|runs| {
            (!runs.is_empty()).then(|| {
                let mut figures = BigFigures::default();
                runs.iter().for_each(|run| figures.add(run));
                figures
            })
        });
        let pick = |f: fn(&BigFigures) -> f64| (tus.as_ref().map(f), ceiling.as_ref().map(f));
        let (t, c) = pick(|f| f.best_mb_per_second);
        self.row(name, mode, t, c, Unit::MegabytesPerSecond, Target::RatioAtLeast(BIG_RATIO));
        let (t, c) = pick(BigFigures::cpu_seconds_per_gib);
        self.row(&format!("{name}: server CPU"), mode, t, c, Unit::CpuSecondsPerGib, Target::None);
        let (t, c) = pick(|f| f.peak_rss as f64 / MIB);
        self.row(&format!("{name}: server peak RSS"), mode, t, c, Unit::Mebibytes, rss_target);
    }

    /// Scenario (b); the run with the most uploads/s counts, with its own latencies and CPU.
    fn small(&mut self, mode: Durability, servers: [&ServerProcess; 2]) {
        let (count, size, concurrency) = (self.config.small_count, self.config.small_size, self.config.concurrency);
        let name = format!("(b) {count} × {} uploads, {concurrency} conns", size_text(size));
        let results = self.alternate(
            &format!("{name} [{mode}]"),
            servers,
            Some(count as u64 * size),
            |bench, role, server| {
                let run = scenarios::small_uploads(server, role, &bench.pattern, count, size, concurrency);
                bench.runtime.block_on(run)
            },
            |r| {
                format!(
                    "{:.0} uploads/s, p50 {:.2} ms, p99 {:.2} ms, {:.3} CPU-ms/upload",
                    r.per_second(),
                    r.percentile(0.5).as_secs_f64() * 1e3,
                    r.percentile(0.99).as_secs_f64() * 1e3,
                    r.cpu_millis_per_upload()
                )
            },
        );
        let [t, c] = results.map(|runs| runs.into_iter().max_by(|a, b| a.per_second().total_cmp(&b.per_second())));
        let pick = |f: &dyn Fn(&SmallUploads) -> f64| (t.as_ref().map(f), c.as_ref().map(f));
        let (a, b) = pick(&SmallUploads::per_second);
        self.row(&name, mode, a, b, Unit::UploadsPerSecond, Target::RatioAtLeast(SMALL_RATIO));
        let (a, b) = pick(&|r| r.percentile(0.5).as_secs_f64() * 1e3);
        self.row("(b) p50 latency", mode, a, b, Unit::Milliseconds, Target::None);
        let (a, b) = pick(&|r| r.percentile(0.99).as_secs_f64() * 1e3);
        self.row("(b) p99 latency", mode, a, b, Unit::Milliseconds, Target::None);
        let (a, b) = pick(&SmallUploads::cpu_millis_per_upload);
        self.row("(b) server CPU", mode, a, b, Unit::CpuMillisPerUpload, Target::None);
    }

    /// Scenario (c); the run with the most requests/s counts.
    fn heads(&mut self, mode: Durability, servers: [&ServerProcess; 2]) {
        let (concurrency, duration, size) =
            (self.config.concurrency, self.config.head_duration, self.config.small_size);
        let name = format!("(c) HEAD, {concurrency} conns");
        let results = self.alternate(
            &format!("{name} [{mode}]"),
            servers,
            None,
            |bench, role, server| {
                let run = scenarios::heads(server, role, &bench.pattern, size, concurrency, duration);
                bench.runtime.block_on(run)
            },
            |r| format!("{:.0} req/s, {:.1} CPU-µs/req", r.per_second(), r.cpu_micros_per_request()),
        );
        let [t, c] = results.map(|runs| runs.into_iter().max_by(|a, b| a.per_second().total_cmp(&b.per_second())));
        let pick = |f: &dyn Fn(&Heads) -> f64| (t.as_ref().map(f), c.as_ref().map(f));
        let (a, b) = pick(&Heads::per_second);
        self.row(&name, mode, a, b, Unit::RequestsPerSecond, Target::RatioAtLeast(HEAD_RATIO));
        let (a, b) = pick(&Heads::cpu_micros_per_request);
        self.row("(c) server CPU", mode, a, b, Unit::CpuMicrosPerRequest, Target::None);
    }

    /// Scenario (d): two instances sharing a directory and a Redis locker against one
    /// instance with in-memory locks, alternating which goes first; the run with the most
    /// uploads/s counts.
    fn multi_instance(&mut self, mode: Durability) {
        let (count, size, concurrency) = (self.config.small_count, self.config.small_size, self.config.concurrency);
        let name =
            format!("(d) {count} × {} POST+PATCH, {concurrency} workers: 2 × Redis lock / 1 × memory", size_text(size));
        let started = self.start_multi_instance(mode);
        let (single, single_redis, pair, dirs) = match started {
            Ok(started) => started,
            Err(e) => {
                eprintln!("   (d) [{mode}]: cannot start the servers: {e}");
                self.failures += 1;
                return;
            }
        };
        let setups: [(&str, Vec<&ServerProcess>); 3] =
            [("1 × memory", vec![&single]), ("2 × redis", pair.iter().collect()), ("1 × redis", vec![&single_redis])];
        let mut best: [Option<SmallUploads>; 3] = [None, None, None];
        for run in 0..self.config.runs {
            let order = if run % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
            for index in order {
                let (label, servers) = &setups[index];
                settle(servers[0].dir(), count as u64 * size, &self.pattern);
                let result = self.runtime.block_on(scenarios::alternating_uploads(
                    servers,
                    &self.pattern,
                    count,
                    size,
                    concurrency,
                ));
                match result {
                    Ok(r) => {
                        eprintln!(
                            "   {name} [{mode}] {label}: {:.0} uploads/s, p50 {:.2} ms, p99 {:.2} ms",
                            r.per_second(),
                            r.percentile(0.5).as_secs_f64() * 1e3,
                            r.percentile(0.99).as_secs_f64() * 1e3
                        );
                        if best[index].as_ref().is_none_or(|b| r.per_second() > b.per_second()) {
                            best[index] = Some(r);
                        }
                    }
                    Err(e) => {
                        eprintln!("   {name} [{mode}] {label}: FAILED: {e}");
                        self.failures += 1;
                    }
                }
            }
        }
        let one_redis = best[2].as_ref().map(SmallUploads::per_second);
        let one_memory = best[0].as_ref().map(SmallUploads::per_second);
        self.row(
            "(d) 1 instance, Redis lock / memory",
            mode,
            one_redis,
            one_memory,
            Unit::UploadsPerSecond,
            Target::None,
        );
        let [single_best, pair_best, _] = best;
        let pick = |f: &dyn Fn(&SmallUploads) -> f64| (pair_best.as_ref().map(f), single_best.as_ref().map(f));
        let (p, s) = pick(&SmallUploads::per_second);
        self.row(&name, mode, p, s, Unit::UploadsPerSecond, Target::RatioAtLeast(MULTI_INSTANCE_RATIO));
        let (p, s) = pick(&|r| r.percentile(0.5).as_secs_f64() * 1e3);
        self.row("(d) p50 latency", mode, p, s, Unit::Milliseconds, Target::None);
        let (p, s) = pick(&|r| r.percentile(0.99).as_secs_f64() * 1e3);
        self.row("(d) p99 latency", mode, p, s, Unit::Milliseconds, Target::None);
        let (p, s) = pick(&SmallUploads::cpu_millis_per_upload);
        self.row("(d) server CPU (all instances)", mode, p, s, Unit::CpuMillisPerUpload, Target::None);

        let waits = self.runtime.block_on(async {
            let mut pair_waits = Vec::new();
            for server in &pair {
                pair_waits.push(scenarios::mean_lock_wait_micros(server, &self.pattern).await?);
            }
            let single_wait = scenarios::mean_lock_wait_micros(&single, &self.pattern).await?;
            Ok::<_, Error>((pair_waits, single_wait))
        });
        match waits {
            Ok((pair_waits, single_wait)) => {
                let known: Vec<f64> = pair_waits.into_iter().flatten().collect();
                let pair_wait = (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64);
                self.row(
                    "(d) lock acquisition per PATCH",
                    mode,
                    pair_wait,
                    single_wait,
                    Unit::Microseconds,
                    Target::None,
                );
                if let (Some(redis), Some(memory)) = (pair_wait, single_wait) {
                    self.notes.push(format!(
                        "(d) [{mode}] Redis lock overhead per PATCH: {:.0} µs to acquire ({redis:.0} µs with Redis, \
                         {memory:.0} µs in memory, means of tus_lock_wait_seconds), plus one more Redis round trip \
                         to release before the answer.",
                        redis - memory
                    ));
                }
            }
            Err(e) => eprintln!("   (d) [{mode}]: cannot read the lock metrics: {e}"),
        }
        drop(setups);
        self.finished.extend([single, single_redis]);
        self.finished.extend(pair);
        self.dirs.extend(dirs);
    }

    /// The servers of scenario (d): one with in-memory locks and one with the Redis locker,
    /// each on its own directory, and two with the Redis locker sharing a third.
    fn start_multi_instance(
        &mut self,
        mode: Durability,
    ) -> Result<(ServerProcess, ServerProcess, [ServerProcess; 2], [tempfile::TempDir; 3]), Error> {
        if self.redis.is_none() {
            eprintln!("   (d): starting Redis (scripts/redis.sh)");
            self.redis = Some(redis::Redis::start()?);
        }
        let url = self.redis.as_ref().map(redis::Redis::url).unwrap_or_default();
        let scratch = &self.config.scratch;
        let single_dir = tempfile::Builder::new().prefix("tus-bench-single-").tempdir_in(scratch)?;
        let shared_dir = tempfile::Builder::new().prefix("tus-bench-pair-").tempdir_in(scratch)?;
        let single_redis_dir = tempfile::Builder::new().prefix("tus-bench-single-redis-").tempdir_in(scratch)?;
        let single = ServerProcess::start_tus_in(mode, single_dir.path(), &["--metrics"])?;
        let flags = ["--metrics", "--lock", "redis", "--redis-url", url.as_str()];
        let single_redis = ServerProcess::start_tus_in(mode, single_redis_dir.path(), &flags)?;
        let first = ServerProcess::start_tus_in(mode, shared_dir.path(), &flags)?;
        let second = ServerProcess::start_tus_in(mode, shared_dir.path(), &flags)?;
        Ok((single, single_redis, [first, second], [single_dir, shared_dir, single_redis_dir]))
    }

    fn row(
        &mut self,
        scenario: &str,
        mode: Durability,
        tus: Option<f64>,
        ceiling: Option<f64>,
        unit: Unit,
        target: Target,
    ) {
        self.rows.push(Row { scenario: scenario.to_owned(), mode, tus, ceiling, unit, target });
    }
}

/// Prepares the machine for a run that writes about `bytes` into `dir`: every run starts
/// from the same state, so that runs compare servers rather than what came before.
///
/// - `sync` first, so that no run pays for the writeback of the one before.
/// - Then warm the page cache: write a scratch file of `bytes` plus 64 MiB into `dir` and
///   delete it (its dirty pages are dropped, never written). On virtual machines that hand
///   idle guest memory back to the host (virtio-balloon free page reporting, as on this
///   benchmark's usual machine), the first write into memory that sat free for a couple of
///   seconds costs a host fault per page: page-cache-bound runs were up to 3× slower at
///   random, depending on what ran just before. Page cache freed just now is reused at once
///   (anonymous memory freed by a process does not have this effect).
pub(crate) fn settle(dir: &Path, bytes: u64, pattern: &Pattern) {
    if let Err(e) = Command::new("sync").status() {
        eprintln!("   note: cannot run sync: {e}");
    }
    // Kept, emptied, between runs rather than deleted: see `truncate_files`.
    let path = dir.join("tus-bench-page-cache-warm-up");
    if let Err(e) = warm_page_cache(&path, bytes + (64 << 20), pattern) {
        eprintln!("   note: cannot warm the page cache: {e}");
    }
}

fn warm_page_cache(path: &Path, bytes: u64, pattern: &Pattern) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path)?;
    let block = pattern.slice(pattern::PATTERN_LEN);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    // Emptying the file drops its dirty pages unwritten and frees them for the run.
    file.set_len(0)
}

/// The ceiling's files are emptied between runs that wrote at least this much (scenario
/// (a)); smaller ones are kept until the end. Emptying files frees their blocks, which on a
/// filesystem mounted with `discard` sends the device discards that a virtual machine's
/// host carries out while the next run measures: (b) runs right after a truncation lost
/// 15-50% of the machine's CPU to steal, against 0-6% without one.
const TRUNCATE_FROM: u64 = 256 << 20;

/// Empties the ceiling's files between runs, to bound the disk space used.
///
/// They are truncated rather than deleted: on ext4 without a journal (as on this benchmark's
/// usual machine), an inode freed less than 60 s ago (300 s while its inode table block is
/// dirty) is not reused, and every file creation scans past all of them in its block group.
/// Deleting thousands of files made the next few thousand creations, whichever server made
/// them, cost up to 1 ms of kernel CPU each.
fn truncate_files(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if let Ok(file) = std::fs::OpenOptions::new().write(true).open(entry.path()) {
                let _ = file.set_len(0);
            }
        }
    }
}

/// `1 GiB`, `8 MiB`, `16 KiB` or `N B`.
pub(crate) fn size_text(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(unit, _)| bytes >= *unit && bytes.is_multiple_of(*unit))
        .map_or_else(|| format!("{bytes} B"), |(unit, name)| format!("{} {name}", bytes / unit))
}

/// The one-line description of the machine, and the sizes used.
fn header(config: &Config) -> String {
    let title = if config.smoke {
        "smoke run (tiny sizes: use cargo bench for figures)"
    } else {
        "tus server vs bare hyper ceiling"
    };
    format!(
        "## tus-bench: {title}\n\n{}\nsizes: (a) {} in {} PATCHes and in one PATCH, {} run(s); (b) {} × {} at \
         concurrency {}; (c) {:.1} s at concurrency {}",
        machine(config),
        size_text(config.big_size),
        size_text(config.chunk_size),
        config.runs,
        config.small_count,
        size_text(config.small_size),
        config.concurrency,
        config.head_duration.as_secs_f64(),
        config.concurrency,
    )
}

/// The machine the benchmark runs on: CPUs, kernel, scratch filesystem and the date.
pub(crate) fn machine(config: &Config) -> String {
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
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "?".to_owned(), |k| k.trim().to_owned());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown date".to_owned(), |d| d.trim().to_owned());
    let filesystem = filesystem_of(&config.scratch).unwrap_or_else(|| "?".to_owned());
    format!("machine: nproc {cpus} ({model}), Linux {kernel}, scratch on {filesystem}, {date}")
}

/// The filesystem type holding `path` (the longest matching mount point in `/proc/mounts`).
/// With ext4, says whether it has a journal (`ext4 (no journal)`), which changes both the
/// cost of `fsync` and how file creation behaves after many deletions (see `truncate_files`).
pub(crate) fn filesystem_of(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let (device, kind) = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (device, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point).then(|| (point.len(), device.to_owned(), kind.to_owned()))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, device, kind)| (device, kind))?;
    let device = device.rsplit('/').next().unwrap_or_default();
    let journal = std::fs::read_to_string(format!("/sys/fs/ext4/{device}/journal_task")).ok();
    Some(match journal {
        Some(task) if kind == "ext4" && task.trim() == "<none>" => format!("{kind} (no journal)"),
        _ => kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size_text(1 << 30), "1 GiB");
        assert_eq!(size_text(8 << 20), "8 MiB");
        assert_eq!(size_text(16 << 10), "16 KiB");
        assert_eq!(size_text(1000), "1000 B");
    }

    #[test]
    fn durability_names_round_trip() {
        for mode in [Durability::Sync, Durability::Buffered] {
            assert_eq!(mode.as_str().parse::<Durability>(), Ok(mode));
        }
        assert!("fast".parse::<Durability>().is_err());
    }
}
