//! How hard delivery tries: the time limit of one attempt, retries and their backoff.

use crate::event::{EncodedEvent, random_bytes};
use crate::reply::Reply;
use crate::transport::{DeliveryError, Transport};
use std::time::Duration;

/// Time limit, retries and backoff of deliveries.
///
/// Retry `n` (from 0) waits a random time between half and all of
/// `min(first_backoff × 2ⁿ, max_backoff)`; the jitter keeps many servers from retrying in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryPolicy {
    /// The time limit of one attempt (a command is killed when it passes).
    pub timeout: Duration,
    /// How many times a transient failure is retried (0: one attempt only).
    pub retries: u32,
    /// The wait before the first retry.
    pub first_backoff: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
}

impl Default for DeliveryPolicy {
    /// 10 s per attempt, 3 retries, backoff from 250 ms up to 10 s.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retries: 3,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl DeliveryPolicy {
    /// Sets [`DeliveryPolicy::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`DeliveryPolicy::retries`].
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets [`DeliveryPolicy::first_backoff`] and [`DeliveryPolicy::max_backoff`].
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// The wait before retry `retry` (0 for the first retry).
    pub fn backoff_for(&self, retry: u32) -> Duration {
        let ceiling = self.first_backoff.saturating_mul(2u32.saturating_pow(retry.min(31))).min(self.max_backoff);
        let half = ceiling / 2;
        let [a, b, c, d, ..] = random_bytes();
        let fraction = f64::from(u32::from_le_bytes([a, b, c, d])) / f64::from(u32::MAX);
        half + half.mul_f64(fraction)
    }

    /// Delivers `event` through `transport`, retrying transient failures. The event (and
    /// so its ID) is the same on every attempt.
    pub async fn deliver<T: Transport + ?Sized>(
        &self,
        transport: &T,
        event: &EncodedEvent,
    ) -> Result<Reply, DeliveryError> {
        let mut retry = 0;
        loop {
            let attempt = match tokio::time::timeout(self.timeout, transport.deliver(event)).await {
                Ok(result) => result,
                Err(_) => Err(DeliveryError::Transient(format!("no answer within {:?}", self.timeout))),
            };
            match attempt {
                Err(e) if e.is_transient() && retry < self.retries => {
                    let wait = self.backoff_for(retry);
                    tracing::warn!(event = %event.kind, event_id = %event.id, error = %e, ?wait, "retrying a hook event");
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stays_bounded() {
        let policy = DeliveryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..50 {
            let first = policy.backoff_for(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
            let third = policy.backoff_for(2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400), "{third:?}");
            let late = policy.backoff_for(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1), "{late:?}");
        }
    }
}
