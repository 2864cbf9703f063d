//! The server side of the benchmark: the bench executable runs itself again with
//! [`ROLE_VAR`] set, and the child becomes one server (so that its CPU time and memory
//! are its own). The child announces its URL as the first `http://` line on stdout and
//! exits when its stdin closes, so it never outlives the benchmark.

use crate::apps::App;
use crate::{Durability, ceiling};
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::oneshot;

/// The environment variable that makes the bench executable a server: `tus`, `ceiling`, or
/// one of the adapters benchmark's apps (`bare`, `axum`, `actix`, `warp`).
pub const ROLE_VAR: &str = "TUS_BENCH_ROLE";

/// Which server a child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The real tus server: `tus serve` through the tus-cli library.
    Tus,
    /// The bare hyper ceiling ([`crate::ceiling`]).
    Ceiling,
    /// tus-core served by the bare tower service or through a framework adapter
    /// ([`crate::apps`]).
    App(App),
}

impl Role {
    /// The value of [`ROLE_VAR`] for this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tus => "tus",
            Self::Ceiling => "ceiling",
            Self::App(app) => app.as_str(),
        }
    }

    /// Whether the server speaks tus (every role but the ceiling).
    pub fn speaks_tus(self) -> bool {
        self != Self::Ceiling
    }
}

/// When [`ROLE_VAR`] is set, runs that server with the process arguments
/// (`--dir DIR --durability sync|buffered`, plus `tus serve` flags for `tus`) until stdin
/// closes, and returns its exit code; otherwise returns `None`.
pub fn run_from_env() -> Option<ExitCode> {
    let role = std::env::var(ROLE_VAR).ok()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match role.as_str() {
        "tus" => run_tus(&args),
        "ceiling" => run_ceiling(&args),
        other => match App::from_name(other) {
            Some(app) => crate::apps::serve(app, &args),
            None => Err(format!("unknown {ROLE_VAR} {other:?} (use tus, ceiling, bare, axum, actix or warp)")),
        },
    };
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tus-bench {role} server: {e}");
            ExitCode::FAILURE
        }
    })
}

/// A multi-threaded runtime with one worker per CPU, as `tus serve` uses.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("no runtime: {e}"))
}

/// Completes when stdin reaches its end (the benchmark closed it or died).
fn stdin_closed() -> oneshot::Receiver<()> {
    let (closed, receiver) = oneshot::channel();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    receiver
}

fn announce(url: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{url}");
    let _ = stdout.flush();
}

fn run_tus(args: &[String]) -> Result<(), String> {
    let command_line = ["tus", "serve"].into_iter().map(str::to_owned).chain(args.iter().cloned());
    let cli = <tus_cli::Cli as clap::Parser>::try_parse_from(command_line).map_err(|e| e.to_string())?;
    let tus_cli::Command::Serve(serve) = cli.command else {
        return Err("the tus role only serves".to_owned());
    };
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let server = tus_cli::Server::bind(serve).await.map_err(|e| e.to_string())?;
        announce(&server.url());
        let closed = stdin_closed();
        server
            .run(async {
                let _ = closed.await;
            })
            .await
            .map_err(|e| e.to_string())
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

fn run_ceiling(args: &[String]) -> Result<(), String> {
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
    let dir = dir.ok_or("--dir is required")?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        announce(&format!("http://{addr}{}", ceiling::PATH));
        let closed = stdin_closed();
        tokio::select! {
            served = ceiling::serve(listener, dir, durability == Durability::Sync) => {
                served.map_err(|e| e.to_string())
            }
            _ = closed => Ok(()),
        }
    })?;
    // The writer threads of unfinished requests, if any, are not waited for.
    runtime.shutdown_background();
    Ok(())
}
