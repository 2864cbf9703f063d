//! Starting an example app's binary and watching its memory.

use crate::client::Client;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// A running example app: its process, address and data directory (removed on drop, after
/// the process is killed).
#[derive(Debug)]
pub struct Server {
    child: Child,
    addr: SocketAddr,
    token: Option<String>,
    data_dir: tempfile::TempDir,
}

impl Server {
    /// Starts `binary` with `LISTEN_ADDR=127.0.0.1:0`, a fresh `DATA_DIR` and `API_TOKEN`
    /// (unset when `None`), and waits for the `listening on http://ADDR` line on its stdout.
    ///
    /// The server's stderr is dropped unless `HARNESS_SERVER_LOGS` is set.
    ///
    /// # Panics
    /// When the binary cannot start or does not print its address within 30 s.
    pub async fn start(binary: &str, token: Option<&str>) -> Self {
        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        let mut command = Command::new(binary);
        command
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("DATA_DIR", data_dir.path())
            .env_remove("API_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("HARNESS_SERVER_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true);
        if let Some(token) = token {
            command.env("API_TOKEN", token);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read the server's stdout") {
                if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                    return addr.parse::<SocketAddr>().expect("a socket address after `listening on http://`");
                }
            }
            panic!("{binary} exited without printing `listening on http://ADDR`");
        })
        .await
        .unwrap_or_else(|_| panic!("{binary} did not print its address within 30 s"));
        // Keep reading stdout so that the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr, token: token.map(str::to_owned), data_dir }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// The server's `DATA_DIR`.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// The bearer token the server was started with (`API_TOKEN`), if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A client that sends the server's token.
    pub fn client(&self) -> Client {
        Client::new(self.addr, self.token.clone())
    }

    /// A client that sends no token.
    pub fn anonymous(&self) -> Client {
        Client::new(self.addr, None)
    }

    /// The server's peak resident memory so far, in bytes (`VmHWM`).
    pub fn peak_rss(&self) -> u64 {
        peak_rss(self.pid())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The peak resident memory of process `pid` in bytes (`VmHWM` of `/proc/<pid>/status`).
///
/// # Panics
/// When the process is gone or `/proc` has no `VmHWM` line (not Linux).
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("a VmHWM line");
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().expect("VmHWM in kB");
    kib * 1024
}
