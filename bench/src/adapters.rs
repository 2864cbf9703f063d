//! `cargo bench -p tus-bench --bench adapters`: tus-core through each framework adapter
//! (axum, actix-web, warp: see [`crate::apps`]) beside the bare tower service, in one run,
//! with the same load generator and scenarios as the throughput benchmark:
//!
//! - (a) one big upload (1 GiB), as 8 MiB PATCHes and as one streaming PATCH: MB/s, server
//!   CPU-seconds per GiB, server peak RSS;
//! - (b) many small uploads (2000 × 16 KiB, creation-with-upload) at concurrency 64:
//!   uploads/s, p99 latency, server CPU per upload.
//!
//! Each figure is printed with its ratio to the bare service's; the target is a
//! ratio of at least 0.9 on the throughput rows. Knobs, beside those of [`Config`] (sizes,
//! `TUS_BENCH_RUNS`, `TUS_BENCH_MODES`, `TUS_BENCH_SCENARIOS` among `a` and `b`):
//! `TUS_BENCH_ADAPTERS`, the adapters to run (default `axum,actix,warp`; the bare service
//! always runs).

use crate::apps::App;
use crate::config::Config;
use crate::pattern::Pattern;
use crate::process::ServerProcess;
use crate::report::Unit;
use crate::roles::Role;
use crate::scenarios::{self, BigUpload, SmallUploads};
use crate::{Durability, Error, machine, settle, size_text};
use std::fmt::Write as _;
use std::process::ExitCode;

/// The target: each adapter within 10% of the bare service.
pub const MIN_RATIO: f64 = 0.9;

const MIB: f64 = (1u64 << 20) as f64;

/// The adapters named by `TUS_BENCH_ADAPTERS` (comma-separated; default all three).
pub fn adapters_from_env() -> Result<Vec<App>, String> {
    let Ok(list) = std::env::var("TUS_BENCH_ADAPTERS") else {
        return Ok(vec![App::Axum, App::Actix, App::Warp]);
    };
    let mut apps = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match App::from_name(name) {
            Some(App::Bare) => {}
            Some(app) if !apps.contains(&app) => apps.push(app),
            Some(_) => {}
            None => return Err(format!("unknown adapter {name:?} in TUS_BENCH_ADAPTERS (use axum, actix, warp)")),
        }
    }
    Ok(apps)
}

/// One line of the table: a server's figure and its ratio to the bare service's.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub scenario: String,
    /// The durability mode.
    pub mode: Durability,
    /// The server.
    pub app: App,
    /// Its figure (`None` when it failed).
    pub value: Option<f64>,
    /// The bare service's figure (`None` when it failed).
    pub bare: Option<f64>,
    /// How the figures are printed.
    pub unit: Unit,
    /// The least ratio to the bare service, for the rows with a target.
    pub min_ratio: Option<f64>,
}

impl Row {
    /// The figure divided by the bare service's.
    pub fn ratio(&self) -> Option<f64> {
        match (self.value, self.bare) {
            (Some(value), Some(bare)) if bare > 0.0 => Some(value / bare),
            _ => None,
        }
    }

    /// Whether the target is met (`None` without a target or a ratio; the bare row has none).
    pub fn verdict(&self) -> Option<bool> {
        if self.app == App::Bare {
            return None;
        }
        Some(self.ratio()? >= self.min_ratio?)
    }
}

/// Renders the rows as a markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out =
        String::from("| scenario | mode | server | figure | ratio to bare | target |\n|---|---|---|---:|---:|---|\n");
    for row in rows {
        let value = row.value.map_or_else(|| "error".to_owned(), |v| row.unit.format(v));
        let ratio = row.ratio().map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"));
        let target = match (row.min_ratio, row.verdict()) {
            (Some(min), Some(met)) => format!("≥ {min:.2}: **{}**", if met { "PASS" } else { "MISS" }),
            (Some(min), None) if row.app != App::Bare => format!("≥ {min:.2}: n/a"),
            _ => String::new(),
        };
        let _ =
            writeln!(out, "| {} | {} | {} | {value} | {ratio} | {target} |", row.scenario, row.mode, row.app.as_str());
    }
    out
}

/// Runs the adapters benchmark and prints the table; the process's exit code.
///
/// Started by `cargo bench` (with `--bench`), it runs at full size; started otherwise (e.g.
/// by `cargo test --benches`), it makes a quick smoke run with tiny sizes.
pub fn run() -> ExitCode {
    let smoke = !std::env::args().skip(1).any(|arg| arg == "--bench");
    let setup = Config::from_env(smoke).and_then(|config| Ok((config, adapters_from_env()?)));
    let (config, adapters) = match setup {
        Ok(setup) => setup,
        Err(e) => {
            eprintln!("tus-bench adapters: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(config.client_threads).enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("tus-bench adapters: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    let apps: Vec<App> = std::iter::once(App::Bare).chain(adapters).collect();
    let mut bench = Bench { config, runtime, pattern: Pattern::new(), apps, rows: Vec::new(), failures: 0 };
    let mut finished = Vec::new();
    for mode in bench.config.modes.clone() {
        finished.extend(bench.mode(mode));
    }
    // Stop every server (and remove their directories) before reporting.
    drop(finished);

    let config = &bench.config;
    let title = if config.smoke {
        "smoke run (tiny sizes: use cargo bench for figures)"
    } else {
        "framework adapters vs the bare tower service"
    };
    println!("## tus-bench adapters: {title}");
    println!();
    println!("{}", machine(config));
    println!(
        "sizes: (a) {} in {} PATCHes and in one PATCH; (b) {} × {} at concurrency {}; {} run(s) per server",
        size_text(config.big_size),
        size_text(config.chunk_size),
        config.small_count,
        size_text(config.small_size),
        config.concurrency,
        config.runs,
    );
    println!();
    print!("{}", table(&bench.rows));
    println!();
    println!(
        "ratio = server / bare: higher is better for throughput, lower for CPU, RSS and latency. Every server \
         serves the same TusLayer (SQLite storage, tus at /files, no hooks, no auth) in a process of its own: \
         bare = hyper 1 + TusLayer::standalone(); axum = Router + .layer(TusLayer); actix = \
         tus_actix::scope(\"/files\", …); warp = tus_warp::filter(…). Each figure is the best of {} run(s), \
         rotating which server goes first; for (a), CPU is averaged over the runs and RSS is the highest. \
         Before each run: `sync`, then a page-cache warm-up (see `settle` in bench/src/lib.rs).",
        config.runs
    );
    if bench.failures > 0 {
        println!();
        println!("**{} scenario(s) failed or produced incorrect uploads: see stderr.**", bench.failures);
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The state of one adapters benchmark run.
struct Bench {
    config: Config,
    runtime: tokio::runtime::Runtime,
    pattern: Pattern,
    /// The servers, the bare service first.
    apps: Vec<App>,
    rows: Vec<Row>,
    failures: usize,
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
    fn of(runs: &[BigUpload]) -> Option<Self> {
        let mut figures = Self::default();
        for run in runs {
            figures.best_mb_per_second = figures.best_mb_per_second.max(run.mb_per_second());
            figures.cpu_seconds += run.measured.usage.cpu_seconds;
            figures.bytes += run.bytes as f64;
            figures.peak_rss = figures.peak_rss.max(run.measured.usage.peak_rss);
        }
        (!runs.is_empty()).then_some(figures)
    }

    fn cpu_seconds_per_gib(&self) -> f64 {
        self.cpu_seconds / (self.bytes / f64::from(1u32 << 30))
    }
}

impl Bench {
    /// Every selected scenario in one durability mode, on every server; returns the servers
    /// (stopped when the benchmark ends, so that deleting their files slows no later run).
    fn mode(&mut self, mode: Durability) -> Vec<ServerProcess> {
        eprintln!("== durability {mode}: starting the servers");
        let mut servers = Vec::new();
        for &app in &self.apps {
            match ServerProcess::start(Role::App(app), mode, &self.config.scratch) {
                Ok(server) => servers.push(server),
                Err(e) => {
                    eprintln!("   cannot start the {} server: {e}", app.as_str());
                    self.failures += 1;
                    return servers;
                }
            }
        }
        if self.config.runs_scenario('a') {
            let (size, chunk) = (self.config.big_size, self.config.chunk_size);
            self.big(mode, &format!("(a) {} as {} PATCHes", size_text(size), size_text(chunk)), &servers, chunk);
            self.big(mode, &format!("(a) {} single PATCH", size_text(size)), &servers, size);
        }
        if self.config.runs_scenario('b') {
            self.small(mode, &servers);
        }
        for (server, app) in servers.iter_mut().zip(&self.apps) {
            if !server.is_running() {
                eprintln!("   the {} server died during the benchmark", app.as_str());
                self.failures += 1;
            }
        }
        servers
    }

    /// Runs `scenario` `runs` times on each server, rotating which goes first, each run
    /// prepared by [`settle`] for `writes` bytes; returns each server's successful results.
    /// A server whose run fails is counted as a failure and not run again.
    fn rotate<T>(
        &mut self,
        label: &str,
        servers: &[ServerProcess],
        writes: u64,
        scenario: impl Fn(&Self, Role, &ServerProcess) -> Result<T, Error>,
        describe: impl Fn(&T) -> String,
    ) -> Vec<Vec<T>> {
        let count = servers.len();
        let mut results: Vec<Vec<T>> = (0..count).map(|_| Vec::new()).collect();
        let mut failed = vec![false; count];
        for run in 0..self.config.runs {
            for index in (0..count).map(|i| (i + run) % count) {
                if failed[index] {
                    continue;
                }
                let (app, server) = (self.apps[index], &servers[index]);
                settle(server.dir(), writes, &self.pattern);
                match scenario(self, Role::App(app), server) {
                    Ok(result) => {
                        eprintln!("   {label} {}: {}", app.as_str(), describe(&result));
                        results[index].push(result);
                    }
                    Err(e) => {
                        eprintln!("   {label} {}: FAILED: {e}", app.as_str());
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
    fn big(&mut self, mode: Durability, name: &str, servers: &[ServerProcess], chunk: u64) {
        let size = self.config.big_size;
        let results = self.rotate(
            &format!("{name} [{mode}]"),
            servers,
            size,
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
        let figures: Vec<Option<BigFigures>> = results.iter().map(|runs| BigFigures::of(runs)).collect();
        self.rows_of(name, mode, &figures, |f| f.best_mb_per_second, Unit::MegabytesPerSecond, Some(MIN_RATIO));
        let cpu = format!("{name}: server CPU");
        self.rows_of(&cpu, mode, &figures, BigFigures::cpu_seconds_per_gib, Unit::CpuSecondsPerGib, None);
        let rss = format!("{name}: server peak RSS");
        self.rows_of(&rss, mode, &figures, |f| f.peak_rss as f64 / MIB, Unit::Mebibytes, None);
    }

    /// Scenario (b); the run with the most uploads/s counts, with its own latency and CPU.
    fn small(&mut self, mode: Durability, servers: &[ServerProcess]) {
        let (count, size, concurrency) = (self.config.small_count, self.config.small_size, self.config.concurrency);
        let name = format!("(b) {count} × {} uploads, {concurrency} conns", size_text(size));
        let results = self.rotate(
            &format!("{name} [{mode}]"),
            servers,
            count as u64 * size,
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
        let best: Vec<Option<SmallUploads>> = results
            .into_iter()
            .map(|runs| runs.into_iter().max_by(|a, b| a.per_second().total_cmp(&b.per_second())))
            .collect();
        self.rows_of(&name, mode, &best, SmallUploads::per_second, Unit::UploadsPerSecond, Some(MIN_RATIO));
        let p99 = |r: &SmallUploads| r.percentile(0.99).as_secs_f64() * 1e3;
        self.rows_of("(b) p99 latency", mode, &best, p99, Unit::Milliseconds, None);
        let cpu = SmallUploads::cpu_millis_per_upload;
        self.rows_of("(b) server CPU", mode, &best, cpu, Unit::CpuMillisPerUpload, None);
    }

    /// One row per server of `figure` of each server's results (the bare service's first).
    fn rows_of<T>(
        &mut self,
        scenario: &str,
        mode: Durability,
        results: &[Option<T>],
        figure: impl Fn(&T) -> f64,
        unit: Unit,
        min_ratio: Option<f64>,
    ) {
        let values: Vec<Option<f64>> = results.iter().map(|r| r.as_ref().map(&figure)).collect();
        let bare = values.first().copied().flatten();
        for (&app, &value) in self.apps.iter().zip(&values) {
            self.rows.push(Row { scenario: scenario.to_owned(), mode, app, value, bare, unit, min_ratio });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(app: App, value: Option<f64>, bare: Option<f64>) -> Row {
        Row {
            scenario: "x".into(),
            mode: Durability::Sync,
            app,
            value,
            bare,
            unit: Unit::MegabytesPerSecond,
            min_ratio: Some(MIN_RATIO),
        }
    }

    #[test]
    fn verdicts_compare_with_the_bare_service() {
        assert_eq!(row(App::Axum, Some(95.0), Some(100.0)).verdict(), Some(true));
        assert_eq!(row(App::Warp, Some(85.0), Some(100.0)).verdict(), Some(false));
        assert_eq!(row(App::Actix, None, Some(100.0)).verdict(), None);
        assert_eq!(row(App::Bare, Some(100.0), Some(100.0)).verdict(), None);
    }

    #[test]
    fn renders_markdown() {
        let text = table(&[row(App::Bare, Some(1000.0), Some(1000.0)), row(App::Axum, Some(950.0), Some(1000.0))]);
        assert!(text.contains("| x | sync | bare | 1000 MB/s | 1.00 |  |"), "{text}");
        assert!(text.contains("| x | sync | axum | 950 MB/s | 0.95 | ≥ 0.90: **PASS** |"), "{text}");
    }
}
