//! The servers of the adapters benchmark: one tus configuration served four ways, each in
//! its own child process (see [`crate::roles`]).
//!
//! - [`App::Bare`]: the tower service alone, `TusLayer::standalone()` under hyper 1
//!   (hyper-util's auto connection builder, as `tus serve` does);
//! - [`App::Axum`]: an axum 0.8 `Router` with a JSON-free route and `.layer(TusLayer)`;
//! - [`App::Actix`]: an actix-web 4 `App` with a route and `tus_actix::scope("/files", …)`;
//! - [`App::Warp`]: a warp 0.4 route `.or(tus_warp::filter(…))`.
//!
//! All four use the same SQLite storage in `--dir` with the same durability, tus at
//! `/files`, no hooks and no authentication (the example apps' bearer check is the app's
//! cost, not the adapter's), and the checksum-trailer extension off (actix and warp drop
//! trailers, so their adapters switch it off; the bare service does too, to match).

use crate::Durability;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tus_core::{Extension, TusLayer};

/// Where tus is mounted in every app.
pub const BASE_PATH: &str = "/files";

/// How an app serves the tus layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum App {
    /// The bare tower service under hyper: the reference.
    Bare,
    /// `tus-axum`.
    Axum,
    /// `tus-actix`.
    Actix,
    /// `tus-warp`.
    Warp,
}

impl App {
    /// Every app, the reference first.
    pub const ALL: [Self; 4] = [Self::Bare, Self::Axum, Self::Actix, Self::Warp];

    /// Its name on command lines, in `TUS_BENCH_ADAPTERS` and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::Axum => "axum",
            Self::Actix => "actix",
            Self::Warp => "warp",
        }
    }

    /// The app named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|app| app.as_str() == name)
    }
}

/// Serves `app` on `127.0.0.1:0` with its storage in `dir` until stdin closes; announces
/// `http://ADDR/files` on stdout first.
pub fn serve(app: App, args: &[String]) -> Result<(), String> {
    let (dir, durability) = parse_args(args)?;
    let layer = layer(&dir, durability)?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    exit_when_stdin_closes();
    match app {
        App::Bare => tokio_runtime()?.block_on(bare(listener, addr, layer)),
        App::Axum => tokio_runtime()?.block_on(axum(listener, addr, layer)),
        App::Warp => tokio_runtime()?.block_on(warp(listener, addr, layer)),
        App::Actix => actix(listener, addr, layer),
    }
}

/// `--dir DIR --durability sync|buffered`.
fn parse_args(args: &[String]) -> Result<(PathBuf, Durability), String> {
    let mut dir = None;
    let mut durability = Durability::Sync;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--durability" => durability = value.parse()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok((dir.ok_or("--dir is required")?, durability))
}

/// The one tus configuration every app serves.
fn layer(dir: &Path, durability: Durability) -> Result<TusLayer, String> {
    let durability = match durability {
        Durability::Sync => tus_sqlite::Durability::Sync,
        Durability::Buffered => tus_sqlite::Durability::Buffered,
    };
    let storage = tus_sqlite::SqliteStorage::builder(dir).durability(durability).open().map_err(|e| e.to_string())?;
    Ok(TusLayer::new(storage).base_path(BASE_PATH).extension(Extension::ChecksumTrailer, false))
}

/// A multi-threaded runtime with one worker per CPU (tokio's default, as `tus serve` and
/// `#[tokio::main]` use).
fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("no runtime: {e}"))
}

/// Ends the process once stdin reaches its end (the benchmark closed it or died): the
/// servers hold nothing that needs a graceful exit, and each framework stops differently.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "http://{addr}{BASE_PATH}");
    let _ = stdout.flush();
}

async fn bare(listener: std::net::TcpListener, addr: SocketAddr, layer: TusLayer) -> Result<(), String> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let service = TowerToHyperService::new(layer.standalone());
    let builder = auto::Builder::new(TokioExecutor::new());
    announce(addr);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service.clone()).into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

async fn axum(listener: std::net::TcpListener, addr: SocketAddr, layer: TusLayer) -> Result<(), String> {
    use axum::serve::ListenerExt as _;

    let router = axum::Router::new().route("/api/health", axum::routing::get(|| async { "ok" })).layer(layer);
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    // TCP_NODELAY as the other servers set it (actix and warp do by default).
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    announce(addr);
    axum::serve(listener, router).await.map_err(|e| e.to_string())
}

async fn warp(listener: std::net::TcpListener, addr: SocketAddr, layer: TusLayer) -> Result<(), String> {
    use warp::Filter as _;

    let health = warp::path!("api" / "health").map(|| "ok");
    let routes = health.or(tus_warp::filter(layer));
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    announce(addr);
    warp::serve(routes).incoming(listener).run().await;
    Ok(())
}

fn actix(listener: std::net::TcpListener, addr: SocketAddr, layer: TusLayer) -> Result<(), String> {
    use actix_web::{HttpResponse, web};

    actix_web::rt::System::new().block_on(async move {
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .route("/api/health", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
                .service(tus_actix::scope(BASE_PATH, layer.clone()))
        })
        .listen(listener)
        .map_err(|e| e.to_string())?
        .run();
        announce(addr);
        server.await.map_err(|e| e.to_string())
    })
}
