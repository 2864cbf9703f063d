//! The benchmark's knobs, read from environment variables so that quick runs during
//! development can shrink every size.

use crate::Durability;
use std::path::PathBuf;
use std::time::Duration;

const MIB: u64 = 1 << 20;

/// What to run, and how big.
#[derive(Debug, Clone)]
pub struct Config {
    /// A smoke run (the executable was not started by `cargo bench`): tiny default sizes,
    /// only to check that everything works.
    pub smoke: bool,
    /// Scenario (a): size of the big upload (`TUS_BENCH_BIG_MIB`, default 1024).
    pub big_size: u64,
    /// Scenario (a): size of each PATCH of the chunked variant (`TUS_BENCH_CHUNK_MIB`, default 8).
    pub chunk_size: u64,
    /// Scenario (a): how many times each variant runs; the fastest run counts
    /// (`TUS_BENCH_RUNS`, default 3).
    pub runs: usize,
    /// Scenario (b): how many small uploads (`TUS_BENCH_SMALL_COUNT`, default 2000).
    pub small_count: usize,
    /// Scenario (b): size of each small upload (`TUS_BENCH_SMALL_KIB`, default 16).
    pub small_size: u64,
    /// Scenarios (b) and (c): concurrent connections (`TUS_BENCH_CONCURRENCY`, default 64).
    pub concurrency: usize,
    /// Scenario (c): how long HEAD requests are sent (`TUS_BENCH_HEAD_SECS`, default 3; may
    /// be fractional).
    pub head_duration: Duration,
    /// The durability modes to run (`TUS_BENCH_MODES`, default `sync,buffered`).
    pub modes: Vec<Durability>,
    /// The scenarios to run, among `a`, `b`, `c` and `d` (`TUS_BENCH_SCENARIOS`, default `abcd`).
    pub scenarios: String,
    /// Where the servers' scratch directories go (`TUS_BENCH_DIR`, default the temp dir).
    pub scratch: PathBuf,
    /// How long to wait after starting the servers, with their PIDs printed on stderr, so
    /// that a profiler (`perf record -p`, `strace -c -p`) can attach (`TUS_BENCH_ATTACH_SECS`,
    /// default 0).
    pub attach_wait: Duration,
    /// Worker threads of the load generator (`TUS_BENCH_CLIENT_THREADS`, default 2).
    pub client_threads: usize,
}

impl Config {
    /// Reads the configuration from the environment. The defaults are the full benchmark's,
    /// or with `smoke` tiny ones (16 MiB, 100 uploads at concurrency 8, 0.2 s of HEADs).
    pub fn from_env(smoke: bool) -> Result<Self, String> {
        let pick = |full: u64, tiny: u64| if smoke { tiny } else { full };
        let modes = match std::env::var("TUS_BENCH_MODES") {
            Ok(list) => list.split(',').map(|m| m.trim().parse()).collect::<Result<Vec<_>, _>>()?,
            Err(_) => vec![Durability::Sync, Durability::Buffered],
        };
        let config = Self {
            smoke,
            big_size: number("TUS_BENCH_BIG_MIB", pick(1024, 16))? * MIB,
            chunk_size: number("TUS_BENCH_CHUNK_MIB", pick(8, 4))? * MIB,
            runs: usize_number("TUS_BENCH_RUNS", pick(3, 1))?,
            small_count: usize_number("TUS_BENCH_SMALL_COUNT", pick(2000, 100))?,
            small_size: number("TUS_BENCH_SMALL_KIB", 16)? * 1024,
            concurrency: usize_number("TUS_BENCH_CONCURRENCY", pick(64, 8))?,
            head_duration: seconds("TUS_BENCH_HEAD_SECS", if smoke { 0.2 } else { 3.0 })?,
            modes,
            scenarios: std::env::var("TUS_BENCH_SCENARIOS").unwrap_or_else(|_| "abcd".to_owned()),
            scratch: std::env::var_os("TUS_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
            attach_wait: match std::env::var_os("TUS_BENCH_ATTACH_SECS") {
                Some(_) => seconds("TUS_BENCH_ATTACH_SECS", 0.0)?,
                None => Duration::ZERO,
            },
            client_threads: usize_number("TUS_BENCH_CLIENT_THREADS", 2)?,
        };
        if config.big_size == 0 || config.chunk_size == 0 || config.runs == 0 || config.concurrency == 0 {
            return Err("sizes, runs and concurrency must be at least 1".to_owned());
        }
        if config.client_threads == 0 || config.small_count == 0 || config.small_size == 0 {
            return Err("TUS_BENCH_SMALL_* and TUS_BENCH_CLIENT_THREADS must be at least 1".to_owned());
        }
        Ok(config)
    }

    /// Whether scenario `letter` (`a`, `b` or `c`) is selected.
    pub fn runs_scenario(&self, letter: char) -> bool {
        self.scenarios.contains(letter)
    }
}

fn number(var: &str, default: u64) -> Result<u64, String> {
    match std::env::var(var) {
        Ok(value) => value.trim().parse().map_err(|_| format!("{var}={value:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

fn seconds(var: &str, default: f64) -> Result<Duration, String> {
    match std::env::var(var) {
        Ok(value) => value
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("{var}={value:?} is not a positive number of seconds")),
        Err(_) => Ok(Duration::from_secs_f64(default)),
    }
}

fn usize_number(var: &str, default: u64) -> Result<usize, String> {
    let n = number(var, default)?;
    usize::try_from(n).map_err(|_| format!("{var} is too large"))
}
