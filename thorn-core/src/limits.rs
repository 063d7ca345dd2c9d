//! A subscription's pace: how many deliveries a second it accepts (a rate
//! with a burst, kept by the generic cell rate algorithm), as pure code with
//! the time given by the caller (Unix milliseconds), so that the same
//! arithmetic runs in process and in a shared store's script.
//!
//! The limiter keeps one number per subscription, its *theoretical arrival
//! time* (TAT). Each delivery takes the next slot: the earliest time at
//! which it may go is `max(now, TAT − tolerance)`, and the TAT moves on by
//! one interval. `burst` deliveries may go at once after a quiet spell;
//! after that one per interval. A delivery is never refused: it is given
//! the time of its slot, and waits for it.
//!
//! ```
//! use thorn_core::limits::RateLimit;
//! let limit = RateLimit::new(10, 2).unwrap(); // 10 a second, 2 at once
//! let now = 1_000_000;
//! let (first, tat) = limit.slot(0, now);
//! let (second, tat) = limit.slot(tat, now);
//! let (third, _) = limit.slot(tat, now);
//! assert_eq!((first, second, third), (now, now, now + 100));
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Deliveries a second and how many may go at once
/// ([`SubscriberBuilder::rate_limit`](crate::SubscriberBuilder::rate_limit)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// Deliveries a second, on average (at least 1).
    pub per_second: u32,
    /// How many may go at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` deliveries a second, `burst` at once; both at least 1.
    pub fn new(per_second: u32, burst: u32) -> Result<Self> {
        let limit = RateLimit { per_second, burst };
        limit.check()?;
        Ok(limit)
    }

    /// Checks a limit that was deserialised.
    pub fn check(&self) -> Result<()> {
        if self.per_second == 0 || self.burst == 0 {
            return Err(Error::InvalidSetting {
                name: "rate_limit",
                value: format!("{}/s, burst {}", self.per_second, self.burst),
                reason: "give at least 1 delivery a second and a burst of at least 1".into(),
            });
        }
        Ok(())
    }

    /// The time between two deliveries, in milliseconds (at least 1).
    pub fn interval_ms(&self) -> u64 {
        (1000 / u64::from(self.per_second.max(1))).max(1)
    }

    /// How far ahead of its TAT a delivery may go, in milliseconds.
    pub fn tolerance_ms(&self) -> u64 {
        self.interval_ms()
            .saturating_mul(u64::from(self.burst.max(1) - 1))
    }

    /// The slot of the next delivery given the subscription's TAT (0 when
    /// none is kept) and now: when it may go, and the TAT after it.
    pub fn slot(&self, tat: u64, now: u64) -> (u64, u64) {
        let tat = tat.max(now);
        let at = tat.saturating_sub(self.tolerance_ms()).max(now);
        (at, tat.saturating_add(self.interval_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimit;

    #[test]
    fn slots_are_one_interval_apart_after_the_burst() {
        let limit = RateLimit::new(4, 3).unwrap();
        let now = 10_000;
        let mut tat = 0;
        let mut slots = Vec::new();
        for _ in 0..6 {
            let (at, next) = limit.slot(tat, now);
            slots.push(at);
            tat = next;
        }
        assert_eq!(slots, [10_000, 10_000, 10_000, 10_250, 10_500, 10_750]);
        // A quiet second later the burst is back.
        let later = 12_000;
        assert_eq!(limit.slot(tat, later).0, later);
    }

    #[test]
    fn zero_is_refused() {
        assert!(RateLimit::new(0, 1).is_err());
        assert!(RateLimit::new(1, 0).is_err());
    }
}
