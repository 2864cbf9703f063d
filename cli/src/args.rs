//! The command line: subcommands, flags and the parsers of their values.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// A tus 1.0.0 resumable upload server and client, ready to run.
#[derive(Debug, Parser)]
#[command(name = "tus", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Serve tus uploads over HTTP/1.1 and h2c, stored in SQLite and plain files.
    Serve(ServeArgs),
    /// Remove unfinished uploads whose expiry time has passed.
    Cleanup(CleanupArgs),
    /// Upload a file to a tus server; running it again after an interruption resumes.
    Upload(UploadArgs),
    /// Show an upload's state: offset, length, metadata.
    Info(InfoArgs),
    /// Delete an upload (the termination extension).
    Delete(DeleteArgs),
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

/// Where uploads are stored (`--storage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum StorageArg {
    /// SQLite records and plain files in --dir.
    #[default]
    Sqlite,
    /// An S3 (or S3-compatible) bucket, --bucket; endpoint and credentials come from
    /// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
    S3,
    /// A Google Cloud Storage bucket, --bucket; STORAGE_EMULATOR_HOST selects an emulator,
    /// else GOOGLE_OAUTH_ACCESS_TOKEN or the metadata server's service account is used.
    Gcs,
    /// An Azure Blob container, --container; the account, its key and the endpoint come
    /// from AZURE_STORAGE_CONNECTION_STRING.
    Azure,
}

/// Where uploads are stored: the flags `tus serve` and `tus cleanup` share.
#[derive(Debug, Clone, Default, Args)]
pub struct StorageLocation {
    /// Where uploads are stored: SQLite and files in --dir, an S3 or GCS bucket (--bucket),
    /// or an Azure Blob container (--container).
    #[arg(long, value_enum, default_value_t)]
    pub storage: StorageArg,

    /// With `--storage s3` or `gcs`: the bucket (it must exist).
    #[arg(long, value_name = "BUCKET", required_if_eq_any([("storage", "s3"), ("storage", "gcs")]))]
    pub bucket: Option<String>,

    /// With `--storage azure`: the container (it must exist).
    #[arg(long, value_name = "CONTAINER", required_if_eq("storage", "azure"))]
    pub container: Option<String>,

    /// With `--storage s3`, `gcs` or `azure`: a prefix for every object name, e.g. `uploads/`.
    #[arg(long, default_value = "", value_name = "PREFIX")]
    pub prefix: String,
}

impl StorageLocation {
    /// Where the uploads are, for messages: `dir` (with SQLite), `s3://BUCKET/PREFIX`,
    /// `gs://BUCKET/PREFIX` or `azure://CONTAINER/PREFIX`.
    pub fn place(&self, dir: &std::path::Path) -> String {
        let bucket = self.bucket.as_deref().unwrap_or_default();
        match self.storage {
            StorageArg::Sqlite => dir.display().to_string(),
            StorageArg::S3 => format!("s3://{bucket}/{}", self.prefix),
            StorageArg::Gcs => format!("gs://{bucket}/{}", self.prefix),
            StorageArg::Azure => format!("azure://{}/{}", self.container.as_deref().unwrap_or_default(), self.prefix),
        }
    }
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

/// Where upload locks live (`--lock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LockArg {
    /// In this process: one server instance per --dir.
    #[default]
    Memory,
    /// In Redis (--redis-url): several instances may serve the same --dir.
    Redis,
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

    /// Where uploads are stored: --storage, --bucket, --prefix.
    #[command(flatten)]
    pub location: StorageLocation,

    /// With `--storage s3` (or `azure`: the block size): the preferred part size; uploads
    /// needing more than 10,000 parts (Azure: 50,000 blocks) get larger ones. Each upload
    /// buffers at most part size × (part concurrency + 1).
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    pub part_size: u64,

    /// With `--storage s3` (or `azure`: blocks): how many parts of one upload are sent at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub part_concurrency: usize,

    /// With `--storage s3`: make every part exactly --part-size (for stores that need equal
    /// parts); uploads are then limited to 10,000 parts.
    #[arg(long)]
    pub fixed_part_size: bool,

    /// With `--storage s3`: the store's smallest part (S3: 5MiB). Lower it only for an
    /// emulator started with a smaller minimum.
    #[arg(long, value_parser = parse_size, default_value = "5MiB", value_name = "SIZE", hide = true)]
    pub min_part_size: u64,

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

    /// Hold --dir alone: the cache of committed records that answers HEAD needs no check
    /// for other processes' commits, and any other process opening the directory (a second
    /// `tus serve`, `tus cleanup`) fails while this one runs; use --janitor-interval for expiry.
    #[arg(long, conflicts_with = "lock")]
    pub exclusive: bool,

    /// With the SQLite storage: uploads of at most this size that arrive whole with their
    /// creation are kept in the database, not in a file of their own (one commit stores
    /// them, many at a time). At most 64KiB; 0 gives every upload a file. Default: 64KiB
    /// with --durability sync, 0 with buffered.
    #[arg(long, value_parser = parse_inline_limit, value_name = "SIZE", env = "TUS_INLINE_LIMIT")]
    pub inline_limit: Option<u64>,

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

    /// Where upload locks live: in this process, or in Redis so that several instances can
    /// serve the same --dir.
    #[arg(long, value_enum, default_value_t)]
    pub lock: LockArg,

    /// The Redis of `--lock redis`, e.g. `redis://127.0.0.1:6379` or `redis://:PASSWORD@HOST:6379/0`.
    #[arg(long, value_name = "URL", env = "TUS_REDIS_URL", required_if_eq("lock", "redis"))]
    pub redis_url: Option<String>,

    /// With `--lock redis`: how long the locks of an instance that died stay taken.
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
    pub redis_lease_ttl: Duration,

    /// How long a request body may stay silent before it is cut off (what arrived is kept).
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub body_idle_timeout: Duration,

    /// On SIGINT/SIGTERM, how long to keep serving while /readyz already answers 503, so
    /// load balancers stop sending new requests before the server stops taking them.
    #[arg(long, value_parser = parse_duration, default_value = "0s", value_name = "DURATION")]
    pub shutdown_delay: Duration,

    /// Serve Prometheus metrics at GET /metrics on the same listener.
    #[arg(long)]
    pub metrics: bool,

    /// Serve /metrics (and /healthz, /readyz) on this separate address instead, e.g.
    /// 127.0.0.1:9090 (implies --metrics).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// With --expiration: how often the janitor removes expired uploads.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub janitor_interval: Duration,

    /// On SIGINT/SIGTERM, how long to wait for open connections before exiting.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DURATION")]
    pub shutdown_timeout: Duration,

    /// Webhooks and command hooks.
    #[command(flatten)]
    pub hooks: crate::hooks::HookArgs,
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
    /// The directory the server stores uploads in (`--storage sqlite`).
    #[arg(long, default_value = "./uploads")]
    pub dir: PathBuf,

    /// Where the uploads are stored, as given to `tus serve` (the same flags and
    /// environment variables).
    #[command(flatten)]
    pub location: StorageLocation,

    /// With `--storage s3`: also abort multipart uploads (and delete incomplete-part
    /// objects) under the prefix that no live upload refers to and that are older than this,
    /// as the servers' janitor does. Skipped with --dry-run.
    #[arg(long, value_parser = parse_duration, default_value = "24h", value_name = "DURATION")]
    pub stale_after: Duration,

    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,

    /// Where the servers using the storage keep their upload locks: with `redis`, uploads
    /// that a server is writing right now are left alone. With `memory`, run it only while
    /// no server uses the storage.
    #[arg(long, value_enum, default_value_t)]
    pub lock: LockArg,

    /// The Redis of `--lock redis`.
    #[arg(long, value_name = "URL", env = "TUS_REDIS_URL", required_if_eq("lock", "redis"))]
    pub redis_url: Option<String>,
}

/// The flags every client command takes.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// A header sent with every request, as `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    /// How many times a failed request is retried (network errors, 5xx, 423, 409).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,

    /// The wait before the first retry; it doubles for each next one (up to 60s).
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DURATION")]
    pub retry_delay: Duration,

    /// The time limit of one request.
    #[arg(long, value_parser = parse_duration, default_value = "120s", value_name = "DURATION")]
    pub timeout: Duration,

    /// Accept any TLS certificate (self-signed, expired). Dangerous.
    #[arg(long)]
    pub insecure: bool,
}

/// The flags of `tus upload`.
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// The file to upload.
    pub file: PathBuf,

    /// The URL uploads are created at, e.g. http://127.0.0.1:8080/files.
    #[arg(long, env = "TUS_ENDPOINT", value_name = "URL")]
    pub endpoint: String,

    /// The size of each PATCH request, in bytes or with a unit (e.g. 4MiB).
    #[arg(long, value_parser = parse_size, default_value = "4MiB", value_name = "SIZE")]
    pub chunk_size: u64,

    /// Upload N ranges of the file at once, concatenated by the server (needs its
    /// concatenation extension).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,

    /// Send a checksum with each chunk: sha1, sha256, sha512 or md5 (the server must offer it).
    #[arg(long, value_name = "ALGORITHM")]
    pub checksum: Option<tus_rs_client::ChecksumAlgorithm>,

    /// Upload metadata as key=value (repeatable; `filename` defaults to the file's name).
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_metadata)]
    pub metadata: Vec<(String, String)>,

    /// Always start a new upload instead of resuming an earlier one of the same file.
    #[arg(long)]
    pub no_resume: bool,

    /// Print only the upload URL.
    #[arg(long, short)]
    pub quiet: bool,

    /// The client flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The flags of `tus info`.
#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// The upload's URL.
    pub url: String,

    /// The client flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The flags of `tus delete`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The upload's URL.
    pub url: String,

    /// The client flags.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Parses `Name: value` (or `Name:value`).
pub fn parse_header(input: &str) -> Result<(String, String), String> {
    let (name, value) =
        input.split_once(':').ok_or_else(|| format!("{input:?} is not a header: write it as `Name: value`"))?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("{input:?} has no valid header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Parses `key=value` metadata.
pub fn parse_metadata(input: &str) -> Result<(String, String), String> {
    let (key, value) =
        input.split_once('=').ok_or_else(|| format!("{input:?} is not metadata: write it as `key=value`"))?;
    let key = key.trim();
    if key.is_empty() || key.chars().any(|c| !c.is_ascii_graphic() || c == ',') {
        return Err(format!("{key:?} is not a metadata key (ASCII, without spaces or commas)"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// `--inline-limit`: a size up to [`tus_sqlite::MAX_INLINE_LIMIT`].
fn parse_inline_limit(input: &str) -> Result<u64, String> {
    let size = parse_size(input)?;
    if size > tus_sqlite::MAX_INLINE_LIMIT {
        return Err(format!("at most {} bytes (64KiB) can be kept in the database", tus_sqlite::MAX_INLINE_LIMIT));
    }
    Ok(size)
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
        assert_eq!(args.inline_limit, None);
    }

    #[test]
    fn inline_limits_stay_within_what_is_read_ahead() {
        let serve = |limit: &str| match Cli::try_parse_from(["tus", "serve", "--inline-limit", limit]) {
            Ok(Cli { command: Command::Serve(args) }) => Ok(args.inline_limit),
            Ok(_) => unreachable!("a serve command"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(serve("0"), Ok(Some(0)));
        assert_eq!(serve("16KiB"), Ok(Some(16 * 1024)));
        assert_eq!(serve("64KiB"), Ok(Some(64 * 1024)));
        let refused = serve("65KiB").unwrap_err();
        assert!(refused.contains("at most 65536 bytes"), "{refused}");
    }

    #[test]
    fn client_flags() {
        assert_eq!(parse_header("Authorization: Bearer x"), Ok(("Authorization".into(), "Bearer x".into())));
        assert_eq!(parse_header("X-A:1"), Ok(("X-A".into(), "1".into())));
        assert!(parse_header("novalue").is_err());
        assert!(parse_header(": x").is_err());
        assert_eq!(parse_metadata("filename=a=b.txt"), Ok(("filename".into(), "a=b.txt".into())));
        assert_eq!(parse_metadata("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_metadata("bad key=v").is_err());
        assert!(parse_metadata("novalue").is_err());
        let cli = Cli::try_parse_from([
            "tus",
            "upload",
            "f.bin",
            "--endpoint",
            "http://h/files",
            "--chunk-size",
            "1MiB",
            "--parallel",
            "4",
            "--checksum",
            "sha256",
            "--metadata",
            "a=b",
            "--header",
            "X: y",
            "--no-resume",
            "--quiet",
        ])
        .unwrap();
        let Command::Upload(args) = cli.command else { panic!("not upload") };
        assert_eq!(args.chunk_size, 1 << 20);
        assert_eq!(args.parallel, 4);
        assert_eq!(args.checksum, Some(tus_rs_client::ChecksumAlgorithm::Sha256));
        assert_eq!(args.client.retries, 5);
        assert!(args.no_resume && args.quiet);
        assert!(Cli::try_parse_from(["tus", "upload", "f", "--endpoint", "e", "--checksum", "crc"]).is_err());
        assert!(Cli::try_parse_from(["tus", "upload", "f", "--endpoint", "e", "--parallel", "0"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
