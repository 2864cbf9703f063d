//! What the client tests share: a fault-injecting TCP proxy, the third-party tus servers
//! (@tus/server, Python resumable-upload) as child processes, and small helpers.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

// Every test binary that has `support` also has `common`.
use crate::common::child::{Started, spawn_and_read_first_line};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh from the repository root to install the interop servers";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_owned()
}

/// A deterministic xorshift64* generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `[low, high)`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low).max(1)
    }
}

/// What the proxy does to connections.
#[derive(Debug, Clone)]
pub struct Faults {
    /// The seed of the random choices.
    pub seed: u64,
    /// The chance, in percent, that a new connection is cut.
    pub cut_percent: u64,
    /// A cut connection is cut after this many client-to-server bytes (drawn in the range).
    pub cut_after: (u64, u64),
    /// At most this many connections are cut; later ones pass untouched.
    pub max_cuts: u32,
    /// Client-to-server bytes per second, if limited.
    pub throttle: Option<u64>,
}

impl Faults {
    /// Passes everything untouched.
    pub fn none() -> Self {
        Self { seed: 1, cut_percent: 0, cut_after: (0, 1), max_cuts: 0, throttle: None }
    }

    /// Passes everything, at `bytes_per_second` from client to server.
    pub fn throttled(bytes_per_second: u64) -> Self {
        Self { throttle: Some(bytes_per_second), ..Self::none() }
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target` that cuts connections at random (bounded,
/// seeded) and can throttle uploads. Stops when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    cuts: Arc<AtomicU32>,
    connections: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let cuts = Arc::new(AtomicU32::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let rng = Arc::new(Mutex::new(Rng::new(faults.seed)));
        let (c, n) = (cuts.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                n.fetch_add(1, Ordering::Relaxed);
                let cut_after = {
                    let mut rng = rng.lock().unwrap();
                    let roll = rng.range(0, 100);
                    let after = rng.range(faults.cut_after.0, faults.cut_after.1);
                    (roll < faults.cut_percent && c.load(Ordering::Relaxed) < faults.max_cuts).then_some(after)
                };
                let c = c.clone();
                let throttle = faults.throttle;
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        pipe(client, server, cut_after, throttle, c).await;
                    }
                });
            }
        });
        Self { addr, cuts, connections, task }
    }

    /// How many connections were cut.
    pub fn cuts(&self) -> u32 {
        self.cuts.load(Ordering::Relaxed)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// The URL of `path` through the proxy.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    cut_after: Option<u64>,
    throttle: Option<u64>,
    cuts: Arc<AtomicU32>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut sent = 0u64;
        let started = tokio::time::Instant::now();
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = server_write.shutdown().await;
                    // Half-closed: the answer may still come.
                    std::future::pending::<()>().await;
                    return;
                }
                Ok(n) => n,
            };
            let mut n = n as u64;
            let mut cut = false;
            if let Some(limit) = cut_after
                && sent + n >= limit
            {
                n = limit - sent;
                cut = true;
            }
            if server_write.write_all(&buf[..n as usize]).await.is_err() {
                return;
            }
            sent += n;
            if cut {
                cuts.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if let Some(rate) = throttle {
                let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
                tokio::time::sleep_until(due).await;
            }
        }
    };
    let down = tokio::io::copy(&mut server_read, &mut client_write);
    tokio::select! {
        () = up => {}
        _ = down => {}
    }
}

/// A third-party tus server child process, killed when dropped.
pub struct External {
    child: Child,
    /// The creation endpoint, e.g. `http://127.0.0.1:PORT/files`.
    pub url: String,
    /// The storage directory.
    pub dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
}

impl External {
    fn spawn(command: Command, dir: tempfile::TempDir, what: &str) -> Self {
        let Started { mut child, first_line: line, stderr } =
            spawn_and_read_first_line(command, Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("cannot start {what}: {e}; {INSTALL_HINT}"));
        let Some(url) = line.trim().strip_prefix("listening ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!("{what} did not start (first line {line:?}); stderr:\n{}", stderr.lock().unwrap());
        };
        Self { child, url, dir, stderr }
    }

    /// @tus/server 2 with @tus/file-store (tests/interop/server-js).
    pub fn node() -> Self {
        Self::node_with(&[])
    }

    /// @tus/server with extra flags (e.g. `--tls-cert`, `--tls-key`).
    pub fn node_with(extra: &[&str]) -> Self {
        let project = repo_root().join("tests/interop/server-js");
        assert!(
            project.join("node_modules/@tus/server/package.json").is_file(),
            "@tus/server is not installed in {}: {INSTALL_HINT}",
            project.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("node");
        command.arg("server.mjs").arg("--dir").arg(dir.path()).args(extra).current_dir(&project);
        Self::spawn(command, dir, "@tus/server (node)")
    }

    /// The Python `resumable-upload` server (tests/interop/server-py), with `extra` flags.
    pub fn python(extra: &[&str]) -> Self {
        let project = repo_root().join("tests/interop/server-py");
        let python = project.join(".venv/bin/python");
        assert!(python.is_file(), "no venv at {}: {INSTALL_HINT}", python.display());
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(python);
        command.arg("server.py").arg("--dir").arg(dir.path()).args(extra).current_dir(&project);
        Self::spawn(command, dir, "resumable-upload (python)")
    }

    pub fn addr(&self) -> SocketAddr {
        let rest = self.url.split_once("://").unwrap().1;
        rest[..rest.find('/').unwrap()].parse().unwrap()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for External {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} stderr ----\n{}", self.url, self.stderr());
        }
    }
}

/// A free port on 127.0.0.1 with nothing listening (bound, then released).
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes `data` to a new file in `dir`.
pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}
