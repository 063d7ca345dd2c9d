//! How long a relay waits between two looks at the outbox, and when it
//! asks a commit to wake it.
//!
//! Commits do not notify (a NOTIFY in every commit serialises them in
//! PostgreSQL), so the relay finds rows by looking: again at once after a
//! look that found rows, then after waits that start at [`FIRST_WAIT`] and
//! double with each empty look, up to `THORN_OUTBOX_POLL`. While rows keep
//! coming a relay so looks every few milliseconds; an idle one costs a
//! query per poll interval. Before a wait of [`ARM_AT`] or more it arms the
//! outbox's wake-up, and the next statement that adds rows notifies it:
//! one NOTIFY per sleep, none while rows flow.

use std::time::Duration;

/// The wait after the first empty look.
pub(super) const FIRST_WAIT: Duration = Duration::from_millis(2);

/// From this wait on, the relay arms the wake-up before it looks.
pub(super) const ARM_AT: Duration = Duration::from_millis(32);

/// The waits of one relay: none while it finds rows, then growing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Idle {
    /// The wait after the latest look: zero when it found rows.
    wait: Duration,
    /// The longest wait (`THORN_OUTBOX_POLL`).
    longest: Duration,
}

impl Idle {
    /// A relay that has not looked yet, waiting at most `longest`.
    pub(super) fn new(longest: Duration) -> Self {
        Idle {
            wait: Duration::ZERO,
            longest,
        }
    }

    /// The wait if the next look finds nothing.
    fn next_wait(&self) -> Duration {
        if self.wait.is_zero() {
            FIRST_WAIT.min(self.longest)
        } else {
            (self.wait * 2).min(self.longest)
        }
    }

    /// Whether to arm the wake-up before the next look: an empty look
    /// would be followed by a wait long enough for a NOTIFY to matter.
    pub(super) fn arms(&self) -> bool {
        self.next_wait() >= ARM_AT
    }

    /// A look found rows: the next one comes at once.
    pub(super) fn found(&mut self) {
        self.wait = Duration::ZERO;
    }

    /// A look found nothing: how long to wait before the next one.
    pub(super) fn empty(&mut self) -> Duration {
        self.wait = self.next_wait();
        self.wait
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{ARM_AT, FIRST_WAIT, Idle};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn waits_double_up_to_the_poll_interval_and_reset_on_rows() {
        let mut idle = Idle::new(100 * MS);
        let waits: Vec<_> = (0..8).map(|_| idle.empty()).collect();
        assert_eq!(
            waits,
            [2, 4, 8, 16, 32, 64, 100, 100].map(|n| n * MS),
            "from the first wait, doubling, capped"
        );
        idle.found();
        assert_eq!(idle.empty(), FIRST_WAIT, "rows start the waits over");
    }

    #[test]
    fn arms_only_before_a_long_wait() {
        let mut idle = Idle::new(Duration::from_secs(5));
        let mut armed = Vec::new();
        for _ in 0..7 {
            armed.push(idle.arms());
            idle.empty();
        }
        // Empty looks wait 2, 4, 8, 16, then 32 ms and more.
        assert_eq!(armed, [false, false, false, false, true, true, true]);
        idle.found();
        assert!(!idle.arms(), "while rows flow, commits do not notify");
    }

    #[test]
    fn a_short_poll_interval_never_arms() {
        let mut idle = Idle::new(ARM_AT - MS);
        for _ in 0..20 {
            assert!(!idle.arms());
            assert!(idle.empty() < ARM_AT);
        }
        let mut tiny = Idle::new(MS);
        assert_eq!(tiny.empty(), MS, "never longer than the poll interval");
    }
}
