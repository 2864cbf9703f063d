//! A throwaway cloud emulator for tests (feature `emulator`), run by one of the project's
//! emulator scripts (`scripts/moto.sh`, `scripts/fake-gcs.sh`, ...).
//!
//! Each such script sources `scripts/lib/emulator.sh` and so answers the same commands:
//! `install` (idempotent, under a lock), and `run PORT` (the server in the foreground, its
//! PID the caller's child). With `TUS_EMULATOR_PARENT_PID` set, `run` also starts a
//! watchdog that stops the server once that process is gone, so a test process that dies
//! (or keeps its emulator in a `static`) never leaves a server behind.

use std::ffi::OsString;
use std::io::{Read as _, Seek as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long an emulator may take to answer after it was started (the first run installs it).
pub const START_TIMEOUT: Duration = Duration::from_secs(300);

/// The environment variable naming the process whose end stops the emulator.
pub const PARENT_PID_ENV: &str = "TUS_EMULATOR_PARENT_PID";

/// The project's emulator script `name` (e.g. `"moto.sh"`), in `scripts/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts").join(name)
}

/// How to start one emulator.
#[derive(Debug, Clone)]
pub struct EmulatorCommand {
    script: PathBuf,
    log_env: Option<String>,
    env: Vec<(OsString, OsString)>,
}

impl EmulatorCommand {
    /// Runs the project's script `name` (see [`script`]).
    pub fn new(name: &str) -> Self {
        Self { script: script(name), log_env: None, env: Vec::new() }
    }

    /// The emulator's stderr is shown only while the environment variable `var` is set
    /// (e.g. `TUS_MOTO_LOG=1`); it is discarded otherwise.
    pub fn log_env(mut self, var: &str) -> Self {
        self.log_env = Some(var.to_owned());
        self
    }

    /// Sets an environment variable of the emulator.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Installs the emulator when missing, starts it on a free loopback port and waits
    /// until the port accepts connections.
    ///
    /// # Panics
    /// When the script fails to install it or it does not listen within [`START_TIMEOUT`].
    pub fn start(self) -> Emulator {
        let script = &self.script;
        let status = Command::new("bash").arg(script).arg("install").status();
        assert!(status.is_ok_and(|s| s.success()), "`{} install` failed", script.display());
        let port = free_port();
        let mut command = Command::new("bash");
        command.arg(script).arg("run").arg(port.to_string()).stdin(Stdio::null()).stdout(Stdio::null());
        // Unless it is shown, the output goes to a file that is read back only if the
        // emulator dies before its test is done: a crash then explains itself.
        let mut log = None;
        if self.log_env.as_ref().is_none_or(|var| std::env::var_os(var).is_none()) {
            let name = script.file_stem().map_or_else(|| "emulator".into(), |n| n.to_string_lossy());
            let path = std::env::temp_dir().join(format!("tus-{name}-{}-{port}.log", std::process::id()));
            match std::fs::File::create(&path) {
                Ok(file) => {
                    command.stderr(file);
                    log = Some(path);
                }
                Err(_) => {
                    command.stderr(Stdio::null());
                }
            }
        }
        command.env(PARENT_PID_ENV, std::process::id().to_string());
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let emulator = Emulator { child: Some(child), port, script: script.clone(), log };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{} did not start on port {port}", script.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator
    }
}

/// A running emulator on a loopback port; killed when dropped.
#[derive(Debug)]
pub struct Emulator {
    child: Option<Child>,
    port: u16,
    script: PathBuf,
    /// Where its output goes when it is not shown.
    log: Option<PathBuf>,
}

impl Emulator {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process ID: the script `exec`s the server, so it is the child's.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends one raw HTTP/1.1 request (`Host`, `Content-Length` and `Connection: close`
    /// are added) without an async runtime, retrying for up to a minute while the answer's
    /// status line is not one of `accepted` (e.g. `&[200, 409]`): emulators accept
    /// connections a little before they answer requests. Returns the whole answer.
    ///
    /// # Panics
    /// When no accepted answer comes within a minute.
    pub fn request_blocking(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
        accepted: &[u16],
    ) -> String {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", self.port);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = TcpStream::connect(("127.0.0.1", self.port)).and_then(|mut stream| {
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                stream.write_all(request.as_bytes())?;
                let mut answer = String::new();
                stream.read_to_string(&mut answer)?;
                Ok(answer)
            });
            match answer {
                Ok(answer) if status_of(&answer).is_some_and(|status| accepted.contains(&status)) => return answer,
                other => {
                    assert!(Instant::now() < deadline, "{method} {path} on port {}: {other:?}", self.port);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Whether the emulator has exited already and, if so, how, with its last output.
    fn exit_report(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        let output = self.log.as_deref().map(log_tail).unwrap_or_default();
        Some(format!(
            "{} on port {} exited before its test ended ({status}); its last output:\n{output}",
            self.script.display(),
            self.port
        ))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // An emulator that is gone before its test ends fails that test in ways that point
        // elsewhere (refused connections, retries, timeouts): say so. The test harness
        // shows this with the failing test's output.
        if let Some(report) = self.exit_report() {
            eprintln!("{report}");
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(log) = &self.log {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// The last 4 KiB of the file at `path`, lossily decoded.
fn log_tail(path: &Path) -> String {
    const TAIL: u64 = 4096;
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let start = file.metadata().map_or(0, |m| m.len().saturating_sub(TAIL));
        let _ = file.seek(std::io::SeekFrom::Start(start)).and_then(|_| file.read_to_end(&mut bytes));
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The status code of a raw HTTP/1.x answer.
fn status_of(answer: &str) -> Option<u16> {
    let line = answer.lines().next()?;
    let mut words = line.split(' ');
    words.next().filter(|v| v.starts_with("HTTP/1."))?;
    words.next()?.parse().ok()
}

/// A loopback port free at the time of the call.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_lines() {
        assert_eq!(status_of("HTTP/1.1 409 Conflict\r\n\r\n"), Some(409));
        assert_eq!(status_of("HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_of("garbage"), None);
        assert_eq!(status_of(""), None);
    }

    #[test]
    fn an_emulator_that_died_is_reported_with_its_last_output() {
        let log = std::env::temp_dir().join(format!("tus-emulator-test-{}.log", std::process::id()));
        let stderr = std::fs::File::create(&log).unwrap();
        let child = Command::new("sh").arg("-c").arg("echo out of memory >&2; exit 3").stderr(stderr).spawn().unwrap();
        let mut emulator = Emulator { child: Some(child), port: 1, script: "fake.sh".into(), log: Some(log.clone()) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let report = loop {
            match emulator.exit_report() {
                Some(report) => break report,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                None => panic!("the child did not exit"),
            }
        };
        assert!(report.starts_with("fake.sh on port 1 exited before its test ended"), "{report}");
        assert!(report.contains("exit status: 3"), "{report}");
        assert!(report.ends_with("out of memory\n"), "{report}");
        drop(emulator);
        assert!(!log.exists(), "the log outlived its emulator");

        let running = Command::new("sleep").arg("60").spawn().unwrap();
        let mut emulator = Emulator { child: Some(running), port: 1, script: "fake.sh".into(), log: None };
        assert_eq!(emulator.exit_report(), None);
    }

    #[test]
    fn scripts_are_found_in_the_repository() {
        assert!(script("moto.sh").is_file());
        assert!(script("fake-gcs.sh").is_file());
        assert!(script("lib/emulator.sh").is_file());
    }
}
