//! The `tus` command: `tus serve` runs a tus upload server, `tus cleanup` removes expired uploads,
//! `tus upload` / `tus info` / `tus delete` are a tus client.

use clap::Parser as _;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use tus_cli::{Cli, CliError, Command, ServeArgs, Server, cleanup};

fn main() -> ExitCode {
    // Bad flags: clap prints the message and exits with code 2.
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tus: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Cleanup(args) => cleanup(&args, &mut std::io::stdout().lock()).await.map(drop),
            Command::Upload(args) => {
                // Ctrl-C (or SIGTERM) cancels the upload cleanly: it stays resumable.
                let cancel = CancellationToken::new();
                let mut signals = Signals::new();
                let on_signal = cancel.clone();
                tokio::spawn(async move {
                    signals.recv().await;
                    on_signal.cancel();
                    signals.recv().await;
                    eprintln!("tus: interrupted again: exiting at once");
                    std::process::exit(130);
                });
                tus_cli::upload(&args, cancel).await.map(drop)
            }
            Command::Info(args) => tus_cli::info(&args).await,
            Command::Delete(args) => tus_cli::delete(&args).await,
        }
    });
    // Tasks still running (connections past the shutdown timeout) are dropped, not awaited.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ CliError::Interrupted { .. }) => {
            eprintln!("tus: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("tus: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let storage = args.location.place(&args.dir);
    // Listen for signals before announcing the URL: a signal sent as soon as the line
    // is read must already mean "shut down gracefully".
    let mut signals = Signals::new();
    let server = Server::bind(args).await?;
    {
        let mut stdout = std::io::stdout().lock();
        // Scripts and tests read the port from this line, so it is flushed at once.
        let _ = writeln!(stdout, "tus: serving {} (storage: {storage})", server.url());
        let _ = stdout.flush();
    }
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let name = signals.recv().await;
        tracing::info!(signal = name, "shutting down gracefully; send it again to exit at once");
        let _ = first_tx.send(());
        let name = signals.recv().await;
        eprintln!("tus: {name} again: exiting without waiting");
        std::process::exit(130);
    });
    server
        .run(async {
            let _ = first_rx.await;
        })
        .await
}

/// SIGINT and SIGTERM (Ctrl-C where there are no Unix signals).
struct Signals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(int), Ok(term)) => Self { unix: Some((int, term)) },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGINT/SIGTERM; only Ctrl-C stops the server");
                    Self { unix: None }
                }
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for the next signal and names it.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.unix {
            return tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(e) => {
            if std::env::var_os(EnvFilter::DEFAULT_ENV).is_some() {
                eprintln!("tus: ignoring RUST_LOG: {e}");
            }
            EnvFilter::new("info")
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
