//! Circuits kept in process: each subscription's [`Circuit`] in one map,
//! for a backend whose deliveries all go out of one process (`"default"`).
//! A backend whose workers share a queue keeps them where every worker
//! sees them instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use thorn_core::breaker::{Admission, BreakerPolicy, Circuit, Transition, now_ms};
use uuid::Uuid;

use crate::attempt::{Attempt, Verdict};

/// Every subscription's circuit, in process.
///
/// Only subscriptions that failed lately are kept: while every receiver
/// answers, [`admit`](Self::admit) and [`record`](Self::record) read one
/// atomic and take no lock.
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
}

impl Circuits {
    /// No circuit yet, opening under `policy`.
    pub fn new(policy: BreakerPolicy) -> Self {
        Circuits {
            policy,
            circuits: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
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
        let mut circuits = self.lock();
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
        let mut circuits = self.lock();
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Circuit>> {
        self.circuits.lock().unwrap_or_else(|p| p.into_inner())
    }
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
