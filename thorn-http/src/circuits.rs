//! Circuits kept in process: each subscription's [`Circuit`] in one map,
//! for a backend whose deliveries all go out of one process (`"default"`).
//! A backend whose workers share a queue keeps them where every worker
//! sees them instead.
//!
//! Besides circuits, the map keeps *pauses*: a receiver that answers 429
//! with `Retry-After` has asked for no more requests until then, and its
//! subscription's deliveries are deferred as an open circuit's are. A
//! pause is no circuit state: it does not open the circuit, is not
//! counted as an opening, and observers hear of no transition.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use thorn_core::breaker::{Admission, BreakerPolicy, Circuit, Transition, now_ms};
use uuid::Uuid;

use crate::attempt::{Attempt, Verdict};

/// Every subscription's circuit, in process.
///
/// Only subscriptions that failed lately are kept: while every receiver
/// answers, [`admit`](Self::admit) and [`record`](Self::record) read one
/// atomic and take no lock. Likewise [`paused`](Self::paused) while no
/// receiver asked for a pause.
///
/// ```
/// use thorn_core::breaker::{Admission, BreakerPolicy};
/// use thorn_http::Circuits;
/// let circuits = Circuits::new(BreakerPolicy::default());
/// let id = uuid::Uuid::new_v4();
/// for _ in 0..5 {
///     circuits.record(id, false, 1_000);
/// }
/// assert!(matches!(circuits.admit(id, 1_001), Admission::Defer { .. }));
/// assert_eq!(circuits.open(), 1);
/// ```
#[derive(Debug)]
pub struct Circuits {
    policy: BreakerPolicy,
    circuits: Mutex<HashMap<Uuid, Circuit>>,
    /// How many circuits the map holds.
    tracked: AtomicUsize,
    /// How many of them are open or half-open.
    open: AtomicUsize,
    /// Until when (Unix ms) each paused subscription's receiver asked for
    /// no requests.
    pauses: Mutex<HashMap<Uuid, u64>>,
    /// How many pauses the map holds.
    paused: AtomicUsize,
}

impl Circuits {
    /// No circuit yet, opening under `policy`.
    pub fn new(policy: BreakerPolicy) -> Self {
        Circuits {
            policy,
            circuits: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            pauses: Mutex::new(HashMap::new()),
            paused: AtomicUsize::new(0),
        }
    }

    /// The policy circuits open under.
    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// How many circuits are open (or half-open) now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Whether no circuit needs looking at: the breaker is off, or no
    /// subscription failed lately.
    fn quiet(&self) -> bool {
        !self.policy.enabled || self.tracked.load(Ordering::Acquire) == 0
    }

    /// Whether a delivery to subscription `id` may be attempted now: see
    /// [`Circuit::admit`]. Reads no clock while all is well.
    pub fn admit_now(&self, id: Uuid) -> Admission {
        if self.quiet() {
            return Admission::Pass;
        }
        self.admit(id, now_ms())
    }

    /// Whether a delivery to subscription `id` may be attempted at `now`
    /// (Unix ms): see [`Circuit::admit`].
    pub fn admit(&self, id: Uuid, now: u64) -> Admission {
        if self.quiet() {
            return Admission::Pass;
        }
        let mut circuits = lock(&self.circuits);
        match circuits.get_mut(&id) {
            Some(circuit) => circuit.admit(&self.policy, now),
            None => Admission::Pass,
        }
    }

    /// Records whether an attempt to subscription `id` succeeded, at `now`
    /// (Unix ms); the transition it made, if any.
    pub fn record(&self, id: Uuid, success: bool, now: u64) -> Option<Transition> {
        if !self.policy.enabled || success && self.quiet() {
            return None;
        }
        let mut circuits = lock(&self.circuits);
        let circuit = match circuits.get_mut(&id) {
            Some(circuit) => circuit,
            None if success => return None,
            None => circuits.entry(id).or_default(),
        };
        let transition = circuit.record(&self.policy, success, now);
        // A circuit with nothing to remember is dropped: the map holds
        // the subscriptions that failed lately only.
        if !circuit.is_open() && circuit.failures == 0 && circuit.window_failures == 0 {
            circuits.remove(&id);
        }
        match transition {
            Some(Transition::Closed) => {
                self.open.fetch_sub(1, Ordering::Relaxed);
            }
            Some(Transition::Opened { .. })
                if circuits.get(&id).is_some_and(|c| c.openings == 1) =>
            {
                self.open.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        self.tracked.store(circuits.len(), Ordering::Release);
        transition
    }

    /// Records an attempt's result, if it says anything of the receiver's
    /// health ([`signal`]), at the current time. Takes no lock and reads no
    /// clock for a success while all is well.
    pub fn record_attempt(&self, id: Uuid, attempt: &Attempt) -> Option<Transition> {
        let success = signal(attempt)?;
        if success && self.quiet() {
            return None;
        }
        self.record(id, success, now_ms())
    }

    /// Pauses subscription `id` until `until` (Unix ms): until then
    /// [`paused`](Self::paused) says so. A pause is never shortened by a
    /// later, shorter one. Returns when the pause ends.
    pub fn pause(&self, id: Uuid, until: u64) -> u64 {
        let mut pauses = lock(&self.pauses);
        let end = pauses.entry(id).or_insert(0);
        *end = (*end).max(until);
        let end = *end;
        self.paused.store(pauses.len(), Ordering::Release);
        end
    }

    /// Pauses subscription `id` for as long as `attempt`'s receiver asked:
    /// when it answered 429 with a `Retry-After` (at most the policy's
    /// [`max_cool_down`](BreakerPolicy::max_cool_down), whether circuits
    /// open or not). Returns when the pause ends, or `None` when the
    /// attempt asked for none. Reads the clock only for such an answer.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use thorn_core::breaker::BreakerPolicy;
    /// # use thorn_http::{Attempt, Circuits, Verdict};
    /// let circuits = Circuits::new(BreakerPolicy::default());
    /// let id = uuid::Uuid::new_v4();
    /// let too_many = Attempt {
    ///     verdict: Verdict::Retryable,
    ///     status: Some(429),
    ///     retry_after: Some(Duration::from_secs(2)),
    ///     timed_out: false,
    ///     refused: false,
    ///     duration: Duration::from_millis(3),
    ///     error: None,
    /// };
    /// let until = circuits.pause_for(id, &too_many).unwrap();
    /// assert_eq!(circuits.paused_now(id), Some(until));
    /// assert_eq!(circuits.paused(id, until), None, "over when the time comes");
    /// assert_eq!(circuits.open(), 0, "a pause opens no circuit");
    /// ```
    pub fn pause_for(&self, id: Uuid, attempt: &Attempt) -> Option<u64> {
        if attempt.status != Some(429) {
            return None;
        }
        let wait = attempt.retry_after?.min(self.policy.max_cool_down);
        if wait.is_zero() {
            return None;
        }
        Some(self.pause(id, now_ms().saturating_add(millis(wait))))
    }

    /// Until when (Unix ms) subscription `id` is paused at `now`, if it
    /// is. Takes no lock while no subscription is paused; pauses that have
    /// ended are forgotten.
    pub fn paused(&self, id: Uuid, now: u64) -> Option<u64> {
        if self.paused.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut pauses = lock(&self.pauses);
        pauses.retain(|_, until| *until > now);
        self.paused.store(pauses.len(), Ordering::Release);
        pauses.get(&id).copied()
    }

    /// Until when subscription `id` is paused now, if it is: see
    /// [`paused`](Self::paused). Reads no clock while no subscription is
    /// paused.
    pub fn paused_now(&self, id: Uuid) -> Option<u64> {
        if self.paused.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.paused(id, now_ms())
    }
}

/// Locks, also after a panic elsewhere: every change under these locks is
/// whole, so none is left half-made.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What an attempt says of its receiver's health: `Some(false)` when the
/// receiver is unwell (no answer in time, no connection, 408, 429, 5xx),
/// `Some(true)` when it answered (2xx, and any other 4xx: it is there and
/// has decided), `None` when nothing was sent (the recipient policy
/// refused the target).
pub fn signal(attempt: &Attempt) -> Option<bool> {
    if attempt.refused {
        return None;
    }
    Some(attempt.verdict != Verdict::Retryable)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use thorn_core::breaker::{Admission, BreakerPolicy, now_ms};
    use uuid::Uuid;

    use super::Circuits;
    use crate::attempt::{Attempt, Verdict};

    fn answer(status: u16, retry_after: Option<u64>) -> Attempt {
        Attempt {
            verdict: Verdict::Retryable,
            status: Some(status),
            retry_after: retry_after.map(Duration::from_secs),
            timed_out: false,
            refused: false,
            duration: Duration::from_millis(1),
            error: None,
        }
    }

    #[test]
    fn only_a_429_with_retry_after_pauses() {
        let circuits = Circuits::new(BreakerPolicy::default());
        let id = Uuid::new_v4();
        assert_eq!(circuits.pause_for(id, &answer(503, Some(5))), None);
        assert_eq!(circuits.pause_for(id, &answer(429, None)), None);
        assert_eq!(circuits.pause_for(id, &answer(429, Some(0))), None);
        assert_eq!(circuits.paused_now(id), None);
        let before = now_ms();
        let until = circuits.pause_for(id, &answer(429, Some(5))).unwrap();
        assert!((before + 5_000..=now_ms() + 5_000).contains(&until));
    }

    #[test]
    fn a_pause_is_clamped_to_the_longest_cool_down() {
        let policy =
            BreakerPolicy::default().with(5, Duration::from_secs(1), Duration::from_secs(60));
        let circuits = Circuits::new(policy);
        let before = now_ms();
        let until = circuits
            .pause_for(Uuid::new_v4(), &answer(429, Some(86_400)))
            .unwrap();
        assert!((before + 60_000..=now_ms() + 60_000).contains(&until));
    }

    #[test]
    fn a_pause_holds_its_subscription_only_opens_nothing_and_ends() {
        let circuits = Circuits::new(BreakerPolicy::default());
        let (paused, other) = (Uuid::new_v4(), Uuid::new_v4());
        let now = 1_000_000;
        assert_eq!(circuits.pause(paused, now + 2_000), now + 2_000);
        assert_eq!(
            circuits.pause(paused, now + 500),
            now + 2_000,
            "a shorter one shortens nothing"
        );
        assert_eq!(circuits.paused(paused, now), Some(now + 2_000));
        assert_eq!(circuits.paused(paused, now + 1_999), Some(now + 2_000));
        assert_eq!(circuits.paused(other, now), None);
        assert_eq!(
            circuits.admit(paused, now),
            Admission::Pass,
            "not a circuit"
        );
        assert_eq!(circuits.open(), 0);
        assert_eq!(circuits.paused(paused, now + 2_000), None);
        assert_eq!(
            circuits.paused.load(Ordering::Relaxed),
            0,
            "an ended pause is forgotten: the fast path is back"
        );
    }

    #[test]
    fn pauses_hold_with_the_breaker_off() {
        let circuits = Circuits::new(BreakerPolicy::never());
        let id = Uuid::new_v4();
        let until = circuits.pause_for(id, &answer(429, Some(3))).unwrap();
        assert_eq!(circuits.paused_now(id), Some(until));
    }

    #[test]
    fn circuits_open_and_defer_as_before() {
        let circuits = Circuits::new(BreakerPolicy::default());
        let id = Uuid::new_v4();
        for _ in 0..5 {
            circuits.record(id, false, 1_000);
        }
        assert!(matches!(circuits.admit(id, 1_001), Admission::Defer { .. }));
        assert_eq!(
            circuits.paused(id, 1_001),
            None,
            "an open circuit is no pause"
        );
    }
}
