//! A child process whose first stdout line is awaited (servers print their URL there) and
//! whose stderr is collected for failure messages; `common` and `support` start theirs here.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// A started child, its first stdout line (empty when none came in time), and its stderr
/// so far (kept filling in the background).
pub struct Started {
    /// The process.
    pub child: Child,
    /// Its first stdout line, empty when none came in time.
    pub first_line: String,
    /// Its stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

/// Spawns `command` with piped output and waits up to `timeout` for its first stdout line.
/// Both pipes keep being drained, so the child never blocks on a full pipe.
pub fn spawn_and_read_first_line(mut command: Command, timeout: Duration) -> std::io::Result<Started> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let stderr = Arc::new(Mutex::new(String::new()));
    let pipe = child.stderr.take().expect("piped stderr");
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = tx.send(first);
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
    });
    let first_line = rx.recv_timeout(timeout).unwrap_or_default();
    Ok(Started { child, first_line, stderr })
}
