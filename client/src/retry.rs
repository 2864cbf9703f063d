//! Retries: how many, and how long to wait between them (exponential backoff with jitter).

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How a failed request is retried: up to `max_retries` times per chunk (or per request),
/// waiting `base_delay × 2^(attempt-1)`, capped at `max_delay` (60 s at most), with jitter
/// (a random part of up to half the delay, so clients that failed together do not retry
/// together). A `Retry-After` from the server lengthens the wait, within the same cap.
///
/// ```
/// use std::time::Duration;
/// use tus_rs_client::RetryPolicy;
///
/// let policy = RetryPolicy::new(5).base_delay(Duration::from_millis(500));
/// assert_eq!(policy.backoff(1), Duration::from_millis(500));
/// assert_eq!(policy.backoff(3), Duration::from_secs(2));
/// assert_eq!(policy.backoff(30), Duration::from_secs(60));
/// let wait = policy.delay(3);
/// assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    base_delay: Duration,
    max_delay: Duration,
}

impl RetryPolicy {
    /// The longest wait between two attempts, whatever the settings.
    pub const MAX_DELAY: Duration = Duration::from_secs(60);

    /// Up to `max_retries` retries, starting at 1 s.
    pub fn new(max_retries: u32) -> Self {
        Self { max_retries, base_delay: Duration::from_secs(1), max_delay: Self::MAX_DELAY }
    }

    /// No retries: the first failure is returned.
    pub fn none() -> Self {
        Self::new(0)
    }

    /// The wait before the first retry (doubled for each next one).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest wait (at most [`RetryPolicy::MAX_DELAY`]).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay.min(Self::MAX_DELAY);
        self
    }

    /// How many retries are allowed.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The wait before retry number `attempt` (1-based), without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(32);
        let factor = 2u32.saturating_pow(exponent);
        self.base_delay.checked_mul(factor).unwrap_or(Duration::MAX).min(self.max_delay)
    }

    /// The wait before retry number `attempt`, with jitter: between half the backoff and the
    /// whole of it.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, random_unit())
    }

    /// The wait with a given jitter draw in `[0, 1)`.
    pub(crate) fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let backoff = self.backoff(attempt);
        let half = backoff / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before retry `attempt` when the server asked for `retry_after`.
    pub(crate) fn delay_for(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let delay = self.delay(attempt);
        match retry_after {
            Some(asked) => delay.max(asked).min(self.max_delay),
            None => delay,
        }
    }
}

impl Default for RetryPolicy {
    /// Three retries starting at 1 s.
    fn default() -> Self {
        Self::new(3)
    }
}

/// A pseudo-random number in `[0, 1)`: SipHash with a random key over a counter.
fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_and_capped() {
        let policy = RetryPolicy::new(10).base_delay(Duration::from_millis(100));
        let waits: Vec<_> = (1..=6).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200]);
        assert_eq!(policy.backoff(11), Duration::from_millis(102_400).min(RetryPolicy::MAX_DELAY));
        assert_eq!(policy.backoff(u32::MAX), RetryPolicy::MAX_DELAY);
        let slow = RetryPolicy::new(1).base_delay(Duration::from_secs(3600));
        assert_eq!(slow.backoff(1), RetryPolicy::MAX_DELAY);
        assert_eq!(policy.max_delay(Duration::from_secs(1)).backoff(5), Duration::from_secs(1));
        assert_eq!(policy.max_delay(Duration::from_secs(600)).backoff(40), RetryPolicy::MAX_DELAY);
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        let policy = RetryPolicy::new(3).base_delay(Duration::from_secs(4));
        assert_eq!(policy.delay_with(1, 0.0), Duration::from_secs(2));
        assert_eq!(policy.delay_with(1, 0.5), Duration::from_secs(3));
        assert!(policy.delay_with(1, 0.999_999) <= Duration::from_secs(4));
        let draws: Vec<_> = (0..200).map(|_| policy.delay(2)).collect();
        assert!(draws.iter().all(|d| *d >= Duration::from_secs(4) && *d <= Duration::from_secs(8)));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 100, "jitter should spread the waits: {} distinct", distinct.len());
    }

    #[test]
    fn retry_after_lengthens_within_the_cap() {
        let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(10));
        assert!(policy.delay_for(1, Some(Duration::from_secs(2))) == Duration::from_secs(2));
        assert_eq!(policy.delay_for(1, Some(Duration::from_secs(600))), RetryPolicy::MAX_DELAY);
        assert!(policy.delay_for(1, None) <= Duration::from_millis(10));
    }
}
