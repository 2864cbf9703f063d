//! The command line: subcommands, flags and the parsers of their values.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// A tus 1.0.0 resumable upload server, ready to run.
#[derive(Debug, Parser)]
#[command(name = "tus", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve tus uploads over HTTP/1.1 and h2c, stored in SQLite and plain files.
    Serve(ServeArgs),
    /// Remove unfinished uploads whose expiry time has passed.
    Cleanup(CleanupArgs),
}

/// How uploads are made durable (`--durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum DurabilityArg {
    /// Flush data and records to disk before acknowledging: nothing acknowledged is lost on power failure.
    #[default]
    Sync,
    /// Leave flushing to the OS: faster, safe across process crashes but not power loss.
    Buffered,
}

/// When unfinished uploads expire (`--expiration-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ExpirationMode {
    /// Expire a fixed time after creation.
    #[default]
    Absolute,
    /// Expire a fixed time after the last PATCH.
    Sliding,
}

/// The flags of `tus serve`: everything the server needs to start.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// The TCP port to listen on (0 picks a free one; the one chosen is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// The URL path uploads live under.
    #[arg(long, default_value = "/files")]
    pub base_path: String,

    /// The directory holding the database and the uploaded bytes (created when missing).
    #[arg(long, default_value = "./uploads")]
    pub dir: PathBuf,

    /// The largest upload accepted, in bytes or with a unit: 5GiB, 100MB, 10KiB.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub max_size: Option<u64>,

    /// Let unfinished uploads expire after this long (e.g. 24h, 30m); off by default.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub expiration: Option<Duration>,

    /// Whether the expiry counts from creation (absolute) or from the last PATCH (sliding).
    #[arg(long, value_enum, default_value_t, requires = "expiration")]
    pub expiration_mode: ExpirationMode,

    /// An origin allowed to make cross-origin requests (repeatable; default: any origin).
    #[arg(long = "cors-origin", value_name = "ORIGIN", conflicts_with = "no_cors")]
    pub cors_origins: Vec<String>,

    /// Send no CORS headers at all.
    #[arg(long)]
    pub no_cors: bool,

    /// How uploads are made durable.
    #[arg(long, value_enum, default_value_t)]
    pub durability: DurabilityArg,

    /// Do not let clients download complete uploads with GET.
    #[arg(long)]
    pub no_download: bool,

    /// Trust Forwarded / X-Forwarded-Host / X-Forwarded-Proto for upload URLs.
    /// Only behind a proxy that sets them.
    #[arg(long)]
    pub behind_proxy: bool,

    /// The public URL of this server, e.g. `https://uploads.example.com`, for absolute upload URLs.
    #[arg(long, value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// How long a request waits for an upload held by another request before answering 423.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DURATION")]
    pub lock_timeout: Duration,

    /// How long a request body may stay silent before it is cut off (what arrived is kept).
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub body_idle_timeout: Duration,

    /// On SIGINT/SIGTERM, how long to wait for open connections before exiting.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DURATION")]
    pub shutdown_timeout: Duration,
}

impl ServeArgs {
    /// The defaults of `tus serve`, with uploads stored in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let mut args = match Cli::try_parse_from(["tus", "serve"]) {
            Ok(Cli { command: Command::Serve(args) }) => args,
            _ => unreachable!("`tus serve` alone always parses"),
        };
        args.dir = dir.into();
        args
    }
}

/// The flags of `tus cleanup`.
#[derive(Debug, Clone, Args)]
pub struct CleanupArgs {
    /// The directory the server stores uploads in.
    #[arg(long, default_value = "./uploads")]
    pub dir: PathBuf,

    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// Parses a size in bytes: a plain number, or a number with a decimal (`kB`, `MB`, `GB`,
/// `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`) unit. Units ignore case; `B` is optional.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => return Err(format!("unknown size unit {unit:?} (use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)")),
    };
    if number.is_empty() {
        return Err(format!("{input:?} is not a size: it needs a number, e.g. 5GiB or 1048576"));
    }
    let too_large = || format!("{input:?} is too large");
    match number.split_once('.') {
        None => {
            let n: u64 = number.parse().map_err(|_| format!("{input:?} is not a size"))?;
            n.checked_mul(multiplier).ok_or_else(too_large)
        }
        Some((whole, fraction)) => {
            if fraction.is_empty() || fraction.contains('.') || fraction.len() > 9 {
                return Err(format!("{input:?} is not a size"));
            }
            let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
            let digits: u64 = fraction.parse().map_err(|_| format!("{input:?} is not a size"))?;
            let scale = 10u64.pow(u32::try_from(fraction.len()).unwrap_or(9));
            let whole_bytes = whole.checked_mul(multiplier).ok_or_else(too_large)?;
            let fraction_bytes = u128::from(digits) * u128::from(multiplier) / u128::from(scale);
            let fraction_bytes = u64::try_from(fraction_bytes).map_err(|_| too_large())?;
            whole_bytes.checked_add(fraction_bytes).ok_or_else(too_large)
        }
    }
}

/// Parses a duration such as `10s`, `30m`, `24h`, `1h 30m` or `500ms`.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    humantime::parse_duration(input.trim())
        .map_err(|e| format!("{input:?} is not a duration ({e}); try e.g. 30s, 10m or 24h"))
}

/// Accepts an `http://` or `https://` URL with a host, and drops its trailing `/`.
pub fn parse_public_url(input: &str) -> Result<String, String> {
    let url = input.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{input:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{input:?} is not a URL with a host"));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("5GiB"), Ok(5_368_709_120));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("10KiB"), Ok(10_240));
        assert_eq!(parse_size("10kib"), Ok(10_240));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("1234 B"), Ok(1234));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("5XB").is_err());
        assert!(parse_size("-5").is_err());
        assert!(parse_size("99999999999TiB").is_err());
        assert!(parse_size("1.2.3MB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("10").is_err());
    }

    #[test]
    fn public_urls() {
        assert_eq!(parse_public_url("https://up.example/"), Ok("https://up.example".to_owned()));
        assert_eq!(parse_public_url("http://h:8080/tus"), Ok("http://h:8080/tus".to_owned()));
        assert!(parse_public_url("up.example").is_err());
        assert!(parse_public_url("https://").is_err());
        assert!(parse_public_url("ftp://x").is_err());
    }

    #[test]
    fn serve_defaults() {
        let args = ServeArgs::new("/tmp/x");
        assert_eq!(args.host, "127.0.0.1");
        assert_eq!(args.port, 8080);
        assert_eq!(args.base_path, "/files");
        assert_eq!(args.lock_timeout, Duration::from_secs(10));
        assert_eq!(args.body_idle_timeout, Duration::from_secs(60));
        assert_eq!(args.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(args.durability, DurabilityArg::Sync);
        assert!(args.expiration.is_none());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
