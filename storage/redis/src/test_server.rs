//! A real, throwaway `redis-server` for tests (feature `test-server`): started by the
//! project's `scripts/redis.sh start PORT`, which installs Redis first when it is missing,
//! on a loopback port, with no persistence; killed when dropped.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long redis-server may take to answer its first PING (an install may come first).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// A redis-server child process.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts a redis-server on a free port.
    ///
    /// # Panics
    /// When no redis-server can be started (see `scripts/redis.sh`).
    pub fn start() -> Self {
        for _ in 0..5 {
            if let Some(server) = Self::try_start_on(free_port()) {
                return server;
            }
        }
        panic!("cannot start redis-server (see scripts/redis.sh)");
    }

    /// Starts a redis-server on `port`.
    ///
    /// # Panics
    /// When it cannot start there.
    pub fn start_on(port: u16) -> Self {
        Self::try_start_on(port).unwrap_or_else(|| panic!("cannot start redis-server on port {port}"))
    }

    fn try_start_on(port: u16) -> Option<Self> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/redis.sh");
        let mut child = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if answers_ping(port) {
                return Some(Self { child: Some(child), port });
            }
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!("redis-server on port {port} exited: {status}");
                return None;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs the server (it vanishes at once, with everything it held) and waits until
    /// the port is closed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts it again on the same port, empty.
    ///
    /// # Panics
    /// When it cannot start again within 10 s.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(mut server) = Self::try_start_on(port) {
                self.child = server.child.take();
                return;
            }
            assert!(Instant::now() < deadline, "cannot restart redis-server on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A plain connection, for checks behind a locker's back.
    ///
    /// # Panics
    /// When Redis does not answer.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("a valid Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers")
    }

    /// Runs one command (given as its words) over a raw connection and returns the RESP
    /// reply as text, for tests that are not async.
    ///
    /// # Panics
    /// When Redis does not answer within 2 s.
    pub fn command(&self, words: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream.set_read_timeout(Some(Duration::from_secs(2))).expect("a read timeout");
        let mut request = format!("*{}\r\n", words.len());
        for word in words {
            request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
        }
        stream.write_all(request.as_bytes()).expect("send to redis");
        let mut reply = [0u8; 512];
        let n = stream.read(&mut reply).expect("redis replies");
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nobody listens on right now.
///
/// # Panics
/// When no loopback port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// Whether a Redis on `port` answers PING.
pub fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
