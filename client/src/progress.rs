//! Progress reports: bytes, percent, speed and ETA.

use std::sync::Arc;
use std::time::Duration;

/// A snapshot of an upload's progress, given to the progress callback while a chunk's
/// bytes are handed to the connection (at least once per MiB) and after each chunk.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes the server has confirmed (the upload's offset; for a parallel upload, the sum
    /// over its parts).
    pub bytes_uploaded: u64,
    /// Bytes sent: [`Progress::bytes_uploaded`] plus the part of the chunk in flight
    /// already handed to the connection. It falls back to `bytes_uploaded` when a request
    /// fails. Percent, speed and ETA are computed from it.
    pub bytes_sent: u64,
    /// The total size, when known (not yet for a stream of unknown length).
    pub total: Option<u64>,
    /// The offset this session started at (above 0 when it resumed an upload).
    pub started_at: u64,
    /// Chunks sent successfully in this session.
    pub chunks: u64,
    /// Requests retried in this session.
    pub retries: u64,
    /// Time since this session started.
    pub elapsed: Duration,
}

impl Progress {
    /// The share done, from 0 to 100, when the total is known.
    pub fn percent(&self) -> Option<f64> {
        match self.total {
            Some(0) => Some(100.0),
            Some(total) => Some(self.bytes_sent.min(total) as f64 * 100.0 / total as f64),
            None => None,
        }
    }

    /// Bytes sent in this session.
    pub fn session_bytes(&self) -> u64 {
        self.bytes_sent.saturating_sub(self.started_at)
    }

    /// The average speed of this session, in bytes per second.
    pub fn speed(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.session_bytes() as f64 / secs } else { 0.0 }
    }

    /// The estimated time left, when the total is known and bytes have moved.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        let left = total.saturating_sub(self.bytes_sent);
        if left == 0 {
            return Some(Duration::ZERO);
        }
        let speed = self.speed();
        (speed > 0.0).then(|| Duration::from_secs_f64(left as f64 / speed))
    }

    /// Whether every byte is confirmed (when the total is known).
    pub fn is_complete(&self) -> bool {
        self.total.is_some_and(|t| self.bytes_uploaded >= t)
    }
}

/// The progress callback.
pub(crate) type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_speed_eta() {
        let p = Progress {
            bytes_uploaded: 50,
            bytes_sent: 60,
            total: Some(100),
            started_at: 20,
            chunks: 4,
            retries: 0,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(p.percent(), Some(60.0));
        assert_eq!(p.speed(), 20.0);
        assert_eq!(p.eta(), Some(Duration::from_secs(2)));
        let unknown = Progress { total: None, ..p.clone() };
        assert_eq!(unknown.percent(), None);
        assert_eq!(unknown.eta(), None);
        let empty = Progress { total: Some(0), bytes_uploaded: 0, bytes_sent: 0, ..Progress::default() };
        assert_eq!(empty.percent(), Some(100.0));
        assert!(empty.is_complete());
        assert_eq!(Progress::default().speed(), 0.0);
    }
}
