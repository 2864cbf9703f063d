//! A real redis-server for the process tests, started by the project's scripts/redis.sh.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway redis-server (`scripts/redis.sh start PORT`, which installs it if needed) on
/// a free loopback port, with no persistence; killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    pub fn start() -> Self {
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn_redis(port) {
                return Self { child: Some(child), port };
            }
        }
        panic!("cannot start redis-server (see scripts/redis.sh)");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: Redis vanishes at once, with everything it held.
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

    /// Starts it again on the same port (empty).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = spawn_redis(self.port) {
                self.child = Some(child);
                return;
            }
            assert!(Instant::now() < deadline, "cannot restart redis-server on port {}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
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

fn redis_script() -> PathBuf {
    super::repo_root().join("scripts/redis.sh")
}

/// Starts redis-server on `port` and waits for its PING; None if it exits first.
fn spawn_redis(port: u16) -> Option<Child> {
    let mut child = Command::new("bash")
        .arg(redis_script())
        .args(["start", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("bash runs scripts/redis.sh");
    // An install may come first.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if redis_answers(port) {
            return Some(child);
        }
        if child.try_wait().ok().flatten().is_some() || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn redis_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl RedisServer {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs one command (given as its words) and returns the raw RESP reply.
    pub fn command(&self, words: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut request = format!("*{}\r\n", words.len());
        for word in words {
            request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
        }
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = [0u8; 512];
        let n = stream.read(&mut reply).expect("redis replies");
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }
}
