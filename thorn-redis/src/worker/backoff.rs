//! Backoff between Redis errors, and the clock retries are scored by.

use std::time::Duration;

/// Exponential backoff with jitter, 100 ms to 5 s, for Redis errors.
#[derive(Debug)]
pub(super) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_millis(100),
        }
    }
}

impl Backoff {
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }

    pub(super) fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(5));
        let half = d / 2;
        half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) use thorn_core::breaker::now_ms;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Backoff;

    #[test]
    fn steps_double_from_100_ms_to_5_s_with_jitter_and_reset() {
        let mut b = Backoff::default();
        for full in [100, 200, 400, 800, 1600, 3200, 5000, 5000] {
            let step = b.step().as_millis() as u64;
            assert!(
                (full / 2..=full).contains(&step),
                "{step} ms, step of {full}"
            );
        }
        b.reset();
        assert!(b.step() <= Duration::from_millis(100));
    }
}
