//! The circuit breaker of one subscription, as pure code: its states and
//! transitions, with the time given by the caller (Unix milliseconds), so
//! that the same arithmetic runs in process and can be kept anywhere.
//!
//! A circuit is **closed** while its receiver answers: every delivery is
//! attempted. It **opens** after [`BreakerPolicy::consecutive_failures`]
//! failed attempts in a row, or when at least
//! [`BreakerPolicy::window_min_attempts`] attempts within
//! [`BreakerPolicy::window`] failed half the time or more. While open,
//! deliveries are deferred without an attempt until the cool-down ends;
//! then the circuit is **half-open**: one probe goes through, and its
//! success closes the circuit, its failure opens it again for twice as
//! long (up to [`BreakerPolicy::max_cool_down`]).
//!
//! What counts as a failure is the caller's to say: a timeout, a refused
//! connection, a 5xx or 429 (the receiver is unwell), not a 4xx (the
//! receiver is there and has answered).
//!
//! ```
//! use std::time::Duration;
//! use thorn_core::breaker::{Admission, BreakerPolicy, Circuit, Transition};
//! let policy = BreakerPolicy::default();
//! let mut circuit = Circuit::default();
//! let now = 1_000_000;
//! for _ in 0..4 {
//!     assert_eq!(circuit.record(&policy, false, now), None);
//! }
//! let Some(Transition::Opened { until }) = circuit.record(&policy, false, now) else {
//!     panic!("the fifth failure in a row opens it");
//! };
//! assert_eq!(until, now + 30_000);
//! assert_eq!(circuit.admit(&policy, now + 1), Admission::Defer { until });
//! assert_eq!(circuit.admit(&policy, until), Admission::Probe);
//! assert_eq!(circuit.record(&policy, true, until + 5), Some(Transition::Closed));
//! assert_eq!(circuit.admit(&policy, until + 6), Admission::Pass);
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Now, in Unix milliseconds: the clock circuits are kept by.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// When a circuit opens and for how long (`THORN_BREAKER_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerPolicy {
    /// Whether circuits open at all (`THORN_BREAKER`, default true).
    pub enabled: bool,
    /// Failed attempts in a row that open a circuit
    /// (`THORN_BREAKER_FAILURES`, default 5).
    pub consecutive_failures: u32,
    /// The window of the failure rate (default 1 min).
    pub window: Duration,
    /// Attempts within the window before its failure rate counts
    /// (default 20).
    pub window_min_attempts: u32,
    /// The first cool-down (`THORN_BREAKER_COOL_DOWN`, default 30 s).
    pub cool_down: Duration,
    /// The longest cool-down (`THORN_BREAKER_MAX_COOL_DOWN`, default
    /// 10 min).
    pub max_cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            enabled: true,
            consecutive_failures: 5,
            window: Duration::from_secs(60),
            window_min_attempts: 20,
            cool_down: Duration::from_secs(30),
            max_cool_down: Duration::from_secs(600),
        }
    }
}

impl BreakerPolicy {
    /// A policy whose circuits never open.
    pub fn never() -> Self {
        BreakerPolicy {
            enabled: false,
            ..Self::default()
        }
    }

    /// This policy with other thresholds: `failures` in a row, and a first
    /// and longest cool-down.
    pub fn with(mut self, failures: u32, cool_down: Duration, max_cool_down: Duration) -> Self {
        self.consecutive_failures = failures.max(1);
        self.cool_down = cool_down;
        self.max_cool_down = max_cool_down.max(cool_down);
        self
    }

    /// The cool-down after the `openings`-th opening in a row (counting
    /// from 1): doubling from [`cool_down`](Self::cool_down) up to
    /// [`max_cool_down`](Self::max_cool_down).
    pub fn cool_down_after(&self, openings: u32) -> Duration {
        let doublings = openings.saturating_sub(1).min(20);
        self.cool_down
            .saturating_mul(1 << doublings)
            .min(self.max_cool_down)
    }
}

/// What a circuit lets a delivery do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: attempt it.
    Pass,
    /// Half-open: attempt it as the one probe; its result decides.
    Probe,
    /// Open (or a probe is out): do not attempt it before `until` (Unix
    /// ms).
    Defer {
        /// When it may be tried again.
        until: u64,
    },
}

/// A change of a circuit's state that observers hear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// It opened (or opened again after a failed probe) until `until`
    /// (Unix ms).
    Opened {
        /// When the cool-down ends.
        until: u64,
    },
    /// A probe succeeded: it is closed.
    Closed,
}

/// The state of one subscription's circuit. Small and plain, so that a
/// store can keep it as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Circuit {
    /// Failed attempts in a row.
    pub failures: u32,
    /// When the current window began (Unix ms).
    pub window_start: u64,
    /// Attempts within the window.
    pub window_attempts: u32,
    /// Failed attempts within the window.
    pub window_failures: u32,
    /// Until when it is open (Unix ms); 0 when closed.
    pub open_until: u64,
    /// Openings in a row without a success between them.
    pub openings: u32,
    /// When the probe now out was let through (Unix ms); 0 when none is.
    pub probe_since: u64,
}

impl Circuit {
    /// Whether it is open or half-open.
    pub fn is_open(&self) -> bool {
        self.open_until != 0
    }

    /// Whether a delivery may be attempted at `now`; lets one probe through
    /// once the cool-down is over (another only after one more cool-down,
    /// should the first never report back).
    pub fn admit(&mut self, policy: &BreakerPolicy, now: u64) -> Admission {
        if !policy.enabled || self.open_until == 0 {
            return Admission::Pass;
        }
        if now < self.open_until {
            return Admission::Defer {
                until: self.open_until,
            };
        }
        let probe_wait = millis(policy.cool_down);
        if self.probe_since != 0 && now < self.probe_since.saturating_add(probe_wait) {
            return Admission::Defer {
                until: self.probe_since.saturating_add(probe_wait),
            };
        }
        self.probe_since = now.max(1);
        Admission::Probe
    }

    /// Records an attempt's result at `now`; the transition it made, if
    /// any.
    pub fn record(
        &mut self,
        policy: &BreakerPolicy,
        success: bool,
        now: u64,
    ) -> Option<Transition> {
        if now.saturating_sub(self.window_start) > millis(policy.window) {
            self.window_start = now;
            self.window_attempts = 0;
            self.window_failures = 0;
        }
        self.window_attempts = self.window_attempts.saturating_add(1);
        if success {
            let was_open = self.is_open();
            self.failures = 0;
            self.open_until = 0;
            self.openings = 0;
            self.probe_since = 0;
            return (was_open && policy.enabled).then_some(Transition::Closed);
        }
        self.failures = self.failures.saturating_add(1);
        self.window_failures = self.window_failures.saturating_add(1);
        if !policy.enabled {
            return None;
        }
        let probe_failed = self.is_open() && now >= self.open_until;
        if self.is_open() && !probe_failed {
            // An attempt that began before the circuit opened.
            return None;
        }
        let rate_high = self.window_attempts >= policy.window_min_attempts
            && self.window_failures.saturating_mul(2) >= self.window_attempts;
        if probe_failed || self.failures >= policy.consecutive_failures || rate_high {
            self.openings = self.openings.saturating_add(1);
            self.open_until = now.saturating_add(millis(policy.cool_down_after(self.openings)));
            self.probe_since = 0;
            return Some(Transition::Opened {
                until: self.open_until,
            });
        }
        None
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Admission, BreakerPolicy, Circuit, Transition};

    const T0: u64 = 1_700_000_000_000;

    fn open(circuit: &mut Circuit, policy: &BreakerPolicy, now: u64) -> u64 {
        for _ in 1..policy.consecutive_failures {
            assert_eq!(circuit.record(policy, false, now), None);
        }
        match circuit.record(policy, false, now) {
            Some(Transition::Opened { until }) => until,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_success_between_failures_keeps_it_closed() {
        let policy = BreakerPolicy::default();
        let mut c = Circuit::default();
        for i in 0..20 {
            let success = i % 4 == 3;
            assert_eq!(c.record(&policy, success, T0 + i), None, "attempt {i}");
        }
        assert_eq!(c.admit(&policy, T0 + 30), Admission::Pass);
    }

    #[test]
    fn half_of_twenty_attempts_in_a_window_open_it() {
        let policy = BreakerPolicy::default();
        let mut c = Circuit::default();
        let mut opened = None;
        for i in 0..20u64 {
            // Failures never more than two in a row.
            let success = i % 2 == 0;
            opened = opened.or(c.record(&policy, success, T0 + i * 1000));
        }
        assert_eq!(
            opened,
            Some(Transition::Opened {
                until: T0 + 19_000 + 30_000
            })
        );
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_count_together() {
        let policy = BreakerPolicy::default();
        let mut c = Circuit::default();
        for i in 0..40u64 {
            let success = i % 2 == 0;
            // One attempt every 4 s: 15 per window, below the minimum.
            assert_eq!(c.record(&policy, success, T0 + i * 4000), None, "{i}");
        }
    }

    #[test]
    fn one_probe_after_the_cool_down_and_the_cool_down_doubles_on_failure() {
        let policy = BreakerPolicy::default();
        let mut c = Circuit::default();
        let until = open(&mut c, &policy, T0);
        assert_eq!(until, T0 + 30_000);
        assert_eq!(c.admit(&policy, until - 1), Admission::Defer { until });
        assert_eq!(c.admit(&policy, until), Admission::Probe);
        assert_eq!(
            c.admit(&policy, until + 1),
            Admission::Defer {
                until: until + 30_000
            },
            "one probe at a time"
        );
        let again = c.record(&policy, false, until + 10);
        assert_eq!(
            again,
            Some(Transition::Opened {
                until: until + 10 + 60_000
            })
        );
        let until = until + 10 + 60_000;
        assert_eq!(c.admit(&policy, until), Admission::Probe);
        assert_eq!(c.record(&policy, true, until), Some(Transition::Closed));
        assert_eq!(c.admit(&policy, until), Admission::Pass);
        // Closed again: the next opening starts from the first cool-down.
        assert_eq!(open(&mut c, &policy, until), until + 30_000);
    }

    #[test]
    fn the_cool_down_stops_growing_at_its_longest() {
        let policy = BreakerPolicy::default();
        assert_eq!(policy.cool_down_after(1), Duration::from_secs(30));
        assert_eq!(policy.cool_down_after(2), Duration::from_secs(60));
        assert_eq!(policy.cool_down_after(5), Duration::from_secs(480));
        assert_eq!(policy.cool_down_after(6), Duration::from_secs(600));
        assert_eq!(policy.cool_down_after(u32::MAX), Duration::from_secs(600));
    }

    #[test]
    fn a_lost_probe_is_replaced_after_one_more_cool_down() {
        let policy = BreakerPolicy::default();
        let mut c = Circuit::default();
        let until = open(&mut c, &policy, T0);
        assert_eq!(c.admit(&policy, until), Admission::Probe);
        assert_eq!(c.admit(&policy, until + 30_000), Admission::Probe);
    }

    #[test]
    fn attempts_that_began_before_it_opened_change_nothing() {
        let policy = BreakerPolicy::default();
        let mut c = Circuit::default();
        let until = open(&mut c, &policy, T0);
        assert_eq!(c.record(&policy, false, T0 + 5), None);
        assert_eq!(c.admit(&policy, T0 + 6), Admission::Defer { until });
    }

    #[test]
    fn a_disabled_breaker_never_opens() {
        let policy = BreakerPolicy::never();
        let mut c = Circuit::default();
        for i in 0..100 {
            assert_eq!(c.record(&policy, false, T0 + i), None);
        }
        assert_eq!(c.admit(&policy, T0 + 100), Admission::Pass);
    }
}
