//! Starting the servers under test as child processes of the benchmark.

use crate::roles::{ROLE_VAR, Role};
use crate::{Durability, Error};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A server running in a child process, with its own scratch directory. Dropping it stops
/// the server (stdin closed, then killed if it lingers) and removes the directory.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
    path: String,
    dir: PathBuf,
    /// The scratch directory this server owns (removed when dropped); `None` when it shares
    /// one owned by the caller.
    _owned: Option<TempDir>,
}

impl ServerProcess {
    /// Starts `role` in `durability` mode with a new directory under `parent`, and waits
    /// for it to announce its URL.
    pub fn start(role: Role, durability: Durability, parent: &Path) -> Result<Self, Error> {
        let dir = tempfile::Builder::new().prefix(&format!("tus-bench-{}-", role.as_str())).tempdir_in(parent)?;
        let mut server = Self::spawn(role, durability, dir.path(), &[], &[])?;
        server._owned = Some(dir);
        Ok(server)
    }

    /// Starts a tus server on `dir` (which the caller owns and may share between servers)
    /// with extra `tus serve` flags.
    pub fn start_tus_in(durability: Durability, dir: &Path, extra: &[&str]) -> Result<Self, Error> {
        Self::spawn(Role::Tus, durability, dir, extra, &[])
    }

    /// Starts a tus server on `dir` with extra `tus serve` flags and environment variables
    /// (a cloud backend's: its flags choose the storage, `env` points at the emulator).
    pub fn start_tus_with_env(dir: &Path, extra: &[&str], env: &[(&str, String)]) -> Result<Self, Error> {
        Self::spawn(Role::Tus, Durability::Sync, dir, extra, env)
    }

    fn spawn(
        role: Role,
        durability: Durability,
        dir: &Path,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Result<Self, Error> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command.env(ROLE_VAR, role.as_str()).envs(env.iter().map(|(k, v)| (k, v))).arg("--dir").arg(dir);
        if role == Role::Tus {
            command.args(["--port", "0"]);
        }
        command.args(["--durability", durability.as_str()]).args(extra);
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(line) => {
                    let line = line?;
                    if let Some(at) = line.find("http://") {
                        break line[at..].split_whitespace().next().unwrap_or_default().to_owned();
                    }
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("the {} server exited before announcing its URL", role.as_str()).into());
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("  [server] {line}");
            }
        });
        let rest = url.trim_start_matches("http://");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr = authority.parse().map_err(|e| format!("bad server URL {url:?}: {e}"))?;
        let path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
        Ok(Self { child, stdin, addr, path, dir: dir.to_owned(), _owned: None })
    }

    /// The process ID, for [`crate::procfs`].
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL path it announced (the tus base path, or the ceiling's path).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Its scratch directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing stdin asks for a graceful exit; kill it if that takes too long.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
