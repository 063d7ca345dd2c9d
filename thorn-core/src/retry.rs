//! The retry policy: how many attempts, and how long between them.

use std::time::Duration;

/// Exponential backoff with full jitter.
///
/// Attempt `n` (1-based, the attempt that failed) waits a random time in
/// `[base * 2^(n-1) / 2, base * 2^(n-1)]`, capped at `max_delay`. A
/// receiver's `Retry-After` replaces the computed delay, clamped to
/// `max_delay`.
///
/// ```
/// use std::time::Duration;
/// use thorn_core::RetryPolicy;
/// let policy = RetryPolicy::default();
/// assert!(policy.should_retry(1));
/// assert!(!policy.should_retry(policy.max_retries + 1));
/// assert!(policy.delay(3, None) <= Duration::from_secs(4));
/// assert_eq!(policy.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Whether failed deliveries are retried at all (`THORN_RETRY`).
    pub enabled: bool,
    /// Retries after the first attempt (`THORN_RETRY_MAX`, default 10).
    pub max_retries: u32,
    /// The first delay (`THORN_RETRY_DELAY`, default 1 s).
    pub base_delay: Duration,
    /// The longest delay, also the clamp of `Retry-After` (default 10 min).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            enabled: true,
            max_retries: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        RetryPolicy {
            enabled: false,
            ..Self::default()
        }
    }

    /// This policy with another base delay and cap.
    pub fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// This policy with another retry count.
    pub fn with_max_retries(mut self, max: u32) -> Self {
        self.max_retries = max;
        self
    }

    /// Whether another attempt follows after attempt `attempt` (1-based) failed.
    pub fn should_retry(&self, attempt: u32) -> bool {
        self.enabled && attempt <= self.max_retries
    }

    /// How long to wait after attempt `attempt` (1-based) failed.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay);
        }
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_nanos() as u64;
        half + Duration::from_nanos(if spread == 0 {
            0
        } else {
            fastrand::u64(0..=spread)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RetryPolicy;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p =
            RetryPolicy::default().with_delays(Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = p.delay(3, None);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let d9 = p.delay(9, None);
            assert!(
                d9 >= Duration::from_millis(500) && d9 <= Duration::from_secs(1),
                "{d9:?}"
            );
        }
        assert_eq!(
            p.delay(2, Some(Duration::from_secs(3600))),
            Duration::from_secs(1)
        );
        assert!(!RetryPolicy::never().should_retry(1));
        assert!(p.should_retry(10) && !p.should_retry(11));
    }
}
