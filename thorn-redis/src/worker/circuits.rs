//! The subscriptions' circuits as every worker of a queue sees them.
//!
//! An open circuit lives in the queue's hash `thorn:{queue}:circuits`
//! (subscription id → `"<open until, Unix ms>,<openings in a row>"`), so a
//! circuit one worker opens defers that subscription's deliveries in every
//! worker. Attempts are counted for every worker in the script call that
//! settles them (`settle.lua`, the arithmetic of [`thorn_core::breaker`],
//! kept in `thorn:{queue}:health`), which opens the circuit when the
//! failures in a row or the failure rate say so. Once the cool-down is over, one worker wins
//! the probe (`SET … NX` on `thorn:{queue}:probe:<id>`, expiring after a
//! cool-down should its worker die): a success removes the circuit, a
//! failure opens it again for twice as long. Every read refreshes the
//! worker's view of the hash (an `HGETALL` in the same round trip as each read); a deferred delivery
//! goes to the delayed set at the probe time with its attempt count
//! unchanged.
//!
//! A receiver's `429 Too Many Requests` with `Retry-After` *pauses* its
//! subscription the same way, without opening its circuit: the field then
//! holds `"<until>,0"`, every worker defers the subscription's deliveries
//! until then, and then lets them all go again (no probe). An expired
//! pause is removed by the next worker that reads it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::AsyncCommands as _;
use thorn_core::breaker::{Admission, BreakerPolicy, Transition, now_ms};
use thorn_http::circuits::signal;
use uuid::Uuid;

use super::Shared;
use crate::error::Result;

/// The open circuits as last read: subscription → (until, openings).
type OpenCircuits = HashMap<Uuid, (u64, u32)>;

/// A worker's view of the queue's circuits, and its own failure counts.
pub(super) struct SharedCircuits {
    key: String,
    probe_prefix: String,
    policy: BreakerPolicy,
    open: Mutex<OpenCircuits>,
    /// Whether `open` holds any: while none is open, admitting a delivery
    /// takes no lock.
    any_open: AtomicBool,
}

impl SharedCircuits {
    pub(super) fn new(keys: &crate::keys::Keys, policy: BreakerPolicy) -> Self {
        SharedCircuits {
            key: keys.circuits.clone(),
            probe_prefix: format!("{}probe:", keys.prefix),
            policy,
            open: Mutex::new(HashMap::new()),
            any_open: AtomicBool::new(false),
        }
    }

    pub(super) fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// Records circuits a settle call opened, until `until`.
    pub(super) fn opened(&self, subs: &[Uuid], until: u64) {
        self.change(|open| {
            for sub in subs {
                open.insert(*sub, (until, 1));
            }
        });
    }

    fn view(&self) -> std::sync::MutexGuard<'_, OpenCircuits> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the view of the open circuits.
    fn change(&self, f: impl FnOnce(&mut OpenCircuits)) {
        let mut open = self.view();
        f(&mut open);
        self.any_open.store(!open.is_empty(), Ordering::Release);
    }

    /// The open circuit of `sub`, as last read.
    fn seen(&self, sub: Uuid) -> Option<(u64, u32)> {
        if !self.any_open.load(Ordering::Acquire) {
            return None;
        }
        self.view().get(&sub).copied()
    }

    /// Whether `sub` is paused (by a 429) rather than open, as last read.
    pub(super) fn is_pause(&self, sub: Uuid) -> bool {
        self.seen(sub).is_some_and(|(_, openings)| openings == 0)
    }

    /// How many circuits are open, as last read (pauses are not).
    pub(super) fn open_count(&self) -> usize {
        self.view().values().filter(|(_, n)| *n > 0).count()
    }
}

/// Takes the open circuits as read with the queue (`HGETALL` of the
/// circuits' hash), and removes the pauses that are over.
pub(super) async fn take(shared: &Shared, all: HashMap<String, String>) {
    let circuits = &shared.circuits;
    let read: OpenCircuits = all
        .into_iter()
        .filter_map(|(id, value)| Some((Uuid::parse_str(&id).ok()?, parse(&value)?)))
        .collect();
    let now = now_ms();
    let lapsed: Vec<String> = read
        .iter()
        .filter(|(_, (until, openings))| *openings == 0 && *until <= now)
        .map(|(id, _)| id.to_string())
        .collect();
    circuits.change(|open| *open = read);
    if lapsed.is_empty() {
        return;
    }
    let removed: Result<()> = async {
        let mut conn = shared.conn.get().await?;
        let _: () = conn
            .hdel(&circuits.key, lapsed)
            .await
            .map_err(|e| shared.conn.err(e))?;
        Ok(())
    }
    .await;
    if let Err(e) = removed {
        tracing::debug!(error = %e, "removing pauses that are over failed; the next read tries again");
    }
}

/// Pauses `sub` for `wait` (its receiver answered 429 with
/// `Retry-After`; at most the breaker's longest cool-down), unless its
/// circuit is open. The receiver asked for it: it holds with the breaker
/// off too.
pub(super) async fn pause(shared: &Shared, sub: Uuid, wait: std::time::Duration) {
    let circuits = &shared.circuits;
    let wait = wait.min(circuits.policy().max_cool_down);
    let until = now_ms().saturating_add(wait.as_millis() as u64);
    let mut open = false;
    circuits.change(|view| match view.get(&sub) {
        Some((_, openings)) if *openings > 0 => open = true,
        Some((later, _)) if *later >= until => {}
        _ => {
            view.insert(sub, (until, 0));
        }
    });
    if open {
        return;
    }
    tracing::info!(subscription = %sub, wait = ?wait, "a receiver asked to slow down (429); its subscription's deliveries wait");
    let written: Result<()> = async {
        let mut conn = shared.conn.get().await?;
        let _: () = conn
            .hset(&circuits.key, sub.to_string(), format!("{until},0"))
            .await
            .map_err(|e| shared.conn.err(e))?;
        Ok(())
    }
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, subscription = %sub, "the pause could not be shared; this worker keeps it");
    }
}

fn parse(value: &str) -> Option<(u64, u32)> {
    let (until, openings) = value.split_once(',')?;
    Some((until.parse().ok()?, openings.parse().ok()?))
}

/// Whether a delivery to `sub` may be attempted now.
pub(super) async fn admit(shared: &Shared, sub: Uuid) -> Admission {
    let circuits = &shared.circuits;
    let Some((until, openings)) = circuits.seen(sub) else {
        return Admission::Pass;
    };
    if openings > 0 && !circuits.policy().enabled {
        return Admission::Pass;
    }
    let now = now_ms();
    if now < until {
        return Admission::Defer { until };
    }
    if openings == 0 {
        // A pause that is over.
        return Admission::Pass;
    }
    let cool_down = circuits.policy().cool_down;
    let claimed: Option<String> = match shared.conn.get().await {
        Ok(mut conn) => redis::cmd("SET")
            .arg(format!("{}{sub}", circuits.probe_prefix))
            .arg(&shared.consumer)
            .arg("NX")
            .arg("PX")
            .arg(cool_down.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    match claimed {
        Some(_) => Admission::Probe,
        // Another worker probes, or Redis cannot say: wait a cool-down.
        None => Admission::Defer {
            until: now.saturating_add(cool_down.as_millis() as u64),
        },
    }
}

/// Records an attempt to `sub` (a probe or not) and shares what it
/// changed; the transition, for observers.
pub(super) async fn record(
    shared: &Shared,
    sub: Uuid,
    probe: bool,
    attempt: &thorn_http::Attempt,
) -> Option<Transition> {
    let circuits = &shared.circuits;
    // Other attempts are counted where their entries are settled.
    if !probe {
        return None;
    }
    // A failed probe opens the circuit again, for longer (`Some` of its
    // openings in a row).
    let success = signal(attempt)?;
    let (transition, reopened) = if success {
        (Transition::Closed, None)
    } else {
        let openings = circuits.seen(sub).map_or(1, |(_, n)| n).saturating_add(1);
        let until =
            now_ms().saturating_add(circuits.policy().cool_down_after(openings).as_millis() as u64);
        (Transition::Opened { until }, Some(openings))
    };
    if let Err(e) = share(shared, sub, transition, reopened).await {
        tracing::warn!(error = %e, subscription = %sub, "the circuit's change could not be shared; this worker keeps it");
    }
    Some(transition)
}

/// Applies `transition` to this worker's view and to the queue's hash:
/// `reopened` holds the openings in a row of a circuit a failed probe
/// opened again, which overwrites; a first opening is written only if no
/// other worker's is there.
async fn share(
    shared: &Shared,
    sub: Uuid,
    transition: Transition,
    reopened: Option<u32>,
) -> Result<()> {
    let circuits = &shared.circuits;
    let field = sub.to_string();
    let mut conn = shared.conn.get().await?;
    match transition {
        Transition::Closed => {
            circuits.change(|open| {
                open.remove(&sub);
            });
            let _: () = redis::pipe()
                .hdel(&circuits.key, &field)
                .del(format!("{}{sub}", circuits.probe_prefix))
                .query_async(&mut conn)
                .await
                .map_err(|e| shared.conn.err(e))?;
        }
        Transition::Opened { until } => {
            let openings = reopened.unwrap_or(1);
            circuits.change(|open| {
                open.insert(sub, (until, openings));
            });
            let value = format!("{until},{openings}");
            if reopened.is_some() {
                let _: () = conn
                    .hset(&circuits.key, &field, value)
                    .await
                    .map_err(|e| shared.conn.err(e))?;
            } else {
                // Another worker may have opened it first: its time stands.
                let _: bool = conn
                    .hset_nx(&circuits.key, &field, value)
                    .await
                    .map_err(|e| shared.conn.err(e))?;
            }
        }
    }
    Ok(())
}
