//! The subscriptions' circuits as every worker of a queue sees them.
//!
//! An open circuit lives in the queue's hash `thorn:{queue}:circuits`
//! (subscription id → `"<open until, Unix ms>,<openings in a row>"`), so a
//! circuit one worker opens defers that subscription's deliveries in every
//! worker. Failures in a row are counted by each worker
//! ([`thorn_http::Circuits`], the state machine of
//! [`thorn_core::breaker`]); the worker whose count reaches the threshold
//! opens the circuit for all. Once the cool-down is over, one worker wins
//! the probe (`SET … NX` on `thorn:{queue}:probe:<id>`, expiring after a
//! cool-down should its worker die): a success removes the circuit, a
//! failure opens it again for twice as long. Every read refreshes the
//! worker's view of the hash (one `HGETALL` per read); a deferred delivery
//! goes to the delayed set at the probe time with its attempt count
//! unchanged.

use std::collections::HashMap;
use std::sync::Mutex;

use redis::AsyncCommands as _;
use thorn_core::breaker::{Admission, BreakerPolicy, Transition};
use thorn_http::Circuits;
use thorn_http::circuits::{now_ms, signal};
use uuid::Uuid;

use super::Shared;
use crate::error::Result;

/// A worker's view of the queue's circuits, and its own failure counts.
pub(super) struct SharedCircuits {
    pub(super) key: String,
    probe_prefix: String,
    local: Circuits,
    /// The open circuits as last read: subscription → (until, openings).
    open: Mutex<HashMap<Uuid, (u64, u32)>>,
}

impl SharedCircuits {
    pub(super) fn new(queue: &str, policy: BreakerPolicy) -> Self {
        SharedCircuits {
            key: format!("thorn:{{{queue}}}:circuits"),
            probe_prefix: format!("thorn:{{{queue}}}:probe:"),
            local: Circuits::new(policy),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn policy(&self) -> &BreakerPolicy {
        self.local.policy()
    }

    fn view(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (u64, u32)>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many circuits are open, as last read.
    pub(super) fn open_count(&self) -> usize {
        self.view().len()
    }
}

/// Reads the open circuits again (once per read of the queue).
pub(super) async fn refresh(shared: &Shared) -> Result<()> {
    let circuits = &shared.circuits;
    if !circuits.policy().enabled {
        return Ok(());
    }
    let mut conn = shared.conn.get().await?;
    let all: HashMap<String, String> = conn
        .hgetall(&circuits.key)
        .await
        .map_err(|e| shared.conn.err(e))?;
    let open = all
        .into_iter()
        .filter_map(|(id, value)| Some((Uuid::parse_str(&id).ok()?, parse(&value)?)))
        .collect();
    *circuits.view() = open;
    Ok(())
}

fn parse(value: &str) -> Option<(u64, u32)> {
    let (until, openings) = value.split_once(',')?;
    Some((until.parse().ok()?, openings.parse().ok()?))
}

/// Whether a delivery to `sub` may be attempted now.
pub(super) async fn admit(shared: &Shared, sub: Uuid) -> Admission {
    let circuits = &shared.circuits;
    if !circuits.policy().enabled {
        return Admission::Pass;
    }
    let now = now_ms();
    let seen = circuits.view().get(&sub).copied();
    let Some((until, _)) = seen else {
        return Admission::Pass;
    };
    if now < until {
        return Admission::Defer { until };
    }
    let cool_down = circuits.policy().cool_down;
    let probe_wait = now.saturating_add(cool_down.as_millis() as u64);
    let claimed: redis::RedisResult<Option<String>> = async {
        let mut conn = shared.conn.get().await.map_err(|e| {
            redis::RedisError::from((redis::ErrorKind::Io, "no connection", e.to_string()))
        })?;
        redis::cmd("SET")
            .arg(format!("{}{sub}", circuits.probe_prefix))
            .arg(&shared.consumer)
            .arg("NX")
            .arg("PX")
            .arg(cool_down.as_millis() as u64)
            .query_async(&mut conn)
            .await
    }
    .await;
    match claimed {
        Ok(Some(_)) => Admission::Probe,
        // Another worker probes, or Redis cannot say: wait a cool-down.
        _ => Admission::Defer { until: probe_wait },
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
    let success = signal(attempt)?;
    let now = now_ms();
    let transition = if probe {
        let openings = circuits.view().get(&sub).map_or(1, |(_, n)| *n);
        circuits.local.record(sub, success, now);
        if success {
            Some(Transition::Closed)
        } else {
            let openings = openings.saturating_add(1);
            let until =
                now.saturating_add(circuits.policy().cool_down_after(openings).as_millis() as u64);
            circuits.view().insert(sub, (until, openings));
            Some(Transition::Opened { until })
        }
    } else {
        circuits.local.record(sub, success, now)
    };
    let write = async {
        let mut conn = shared.conn.get().await?;
        let field = sub.to_string();
        match transition {
            Some(Transition::Closed) => {
                circuits.view().remove(&sub);
                let _: () = redis::pipe()
                    .hdel(&circuits.key, &field)
                    .del(format!("{}{sub}", circuits.probe_prefix))
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| shared.conn.err(e))?;
            }
            Some(Transition::Opened { until }) => {
                let openings = circuits.view().get(&sub).map_or(1, |(_, n)| *n);
                circuits.view().insert(sub, (until, openings));
                let value = format!("{until},{openings}");
                if probe {
                    let _: () = conn
                        .hset(&circuits.key, &field, value)
                        .await
                        .map_err(|e| shared.conn.err(e))?;
                } else {
                    // Another worker may have opened it first: its time
                    // stands.
                    let _: bool = conn
                        .hset_nx(&circuits.key, &field, value)
                        .await
                        .map_err(|e| shared.conn.err(e))?;
                }
            }
            None => {}
        }
        Ok::<(), crate::error::Error>(())
    };
    if let Err(e) = write.await {
        tracing::warn!(error = %e, subscription = %sub, "the circuit's change could not be shared; this worker keeps it");
    }
    transition
}
