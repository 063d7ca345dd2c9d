//! Settling entries in batches: acknowledge, delete, file retries and
//! dead letters, one script call for many entries.

use std::collections::HashMap;
use std::sync::Arc;

use std::sync::atomic::Ordering;
use thorn_core::breaker::Transition;

use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::backoff::now_ms;
use super::deliver::{Filed, Health};
use super::outage::{Link, Outage};
use crate::keys::GROUP;
use crate::scripts;

/// Adds a filing (see `settle.lua`): its key, then its retries, dead
/// letters and ended deliveries of ordered subscriptions.
fn filing(inv: &mut redis::ScriptInvocation<'_>, key: &[u8], filed: &Filed, now: &str) {
    inv.arg(key)
        .arg(filed.retries.len())
        .arg(filed.dead.len())
        .arg(filed.ended.len());
    for (due, blob) in &filed.retries {
        inv.arg(*due).arg(blob.as_slice());
    }
    for d in &filed.dead {
        let status = d.status.map(|s| s.to_string()).unwrap_or_default();
        inv.arg(d.blob.as_slice())
            .arg(&d.error)
            .arg(status)
            .arg(now);
    }
    for (sub, id) in &filed.ended {
        inv.arg(sub.to_string()).arg(id.as_bytes().as_slice());
    }
}

/// What the batch's attempts said of each subscription's receiver, in the
/// order they were filed.
fn health_of(batch: &[SettleJob]) -> Vec<Health> {
    let mut all: Vec<Health> = Vec::new();
    let mut index: HashMap<uuid::Uuid, usize> = HashMap::new();
    let each = batch.iter().flat_map(|j| {
        let released = j.filed.released.iter().flat_map(|r| r.filed.health.iter());
        j.filed.health.iter().chain(released)
    });
    for h in each {
        match index.get(&h.sub.id) {
            Some(&i) => all[i].then(h),
            None => {
                index.insert(h.sub.id, all.len());
                let mut first = Health::new(&h.sub);
                first.then(h);
                all.push(first);
            }
        }
    }
    all
}

/// Tells the worker and the observers of the circuits a settle call
/// opened.
fn circuits_opened(shared: &Shared, health: &[Health], opened: &[String]) {
    let until = now_ms().saturating_add(shared.circuits.policy().cool_down.as_millis() as u64);
    let ids: Vec<uuid::Uuid> = opened.iter().filter_map(|id| id.parse().ok()).collect();
    shared.circuits.opened(&ids, until);
    for h in health.iter().filter(|h| ids.contains(&h.sub.id)) {
        shared.recorder.circuit(
            &h.sub,
            Transition::Opened { until },
            shared.circuits.open_count(),
        );
    }
}

/// Entries one settle call settles at most.
const SETTLE_BATCH: usize = 256;

/// An entry to settle, holding its slot until it is settled (or given up
/// on: it then stays pending and is reclaimed later, its deliveries made
/// again).
pub(super) struct SettleJob {
    /// The entry's id; `None` for deliveries held past their entry (their
    /// filings are in `filed.released`).
    pub(super) id: Option<String>,
    pub(super) filed: Filed,
    pub(super) _slot: Option<OwnedSemaphorePermit>,
    /// The held deliveries' share of the bound on them.
    pub(super) _held: Option<Arc<OwnedSemaphorePermit>>,
}

/// Settles entries in batches: whatever finished while the previous call
/// was on the wire goes in the next call, one script run for many entries.
pub(super) async fn settle_loop(
    shared: Arc<Shared>,
    mut jobs: mpsc::UnboundedReceiver<SettleJob>,
    stop: CancellationToken,
) {
    let mut batch: Vec<SettleJob> = Vec::new();
    let mut outage = Outage::new("settling entries", &[Link::Commands]);
    loop {
        let first = tokio::select! {
            job = jobs.recv() => job,
            () = stop.cancelled() => None,
        };
        let Some(first) = first else { return };
        batch.push(first);
        while batch.len() < SETTLE_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        settle_batch(&shared, &batch, &mut outage).await;
        {
            let mut in_flight = shared.in_flight();
            for job in &batch {
                if let Some(id) = &job.id {
                    in_flight.remove(id);
                }
            }
        }
        shared.leases.forget(
            batch
                .iter()
                .flat_map(|job| job.filed.released.iter().map(|r| r.delivery)),
        );
        // Dropping the jobs frees their slots.
        batch.clear();
    }
}

pub(super) async fn settle_batch(shared: &Shared, batch: &[SettleJob], outage: &mut Outage) {
    let now = now_ms().to_string();
    let mut inv = scripts::SETTLE.prepare_invoke();
    let policy = *shared.circuits.policy();
    let millis = |d: std::time::Duration| d.as_millis() as u64;
    inv.key(&shared.keys.stream)
        .key(&shared.keys.delayed)
        .key(&shared.keys.dead)
        .key(&shared.keys.stats)
        .key(&shared.keys.circuits)
        .key(&shared.keys.health)
        .arg(GROUP)
        .arg(batch.iter().map(|j| j.filed.delivered_all()).sum::<u64>())
        .arg(&shared.keys.prefix)
        .arg(&now)
        .arg(policy.consecutive_failures)
        .arg(millis(policy.window))
        .arg(policy.window_min_attempts)
        .arg(millis(policy.cool_down));
    let entries = || {
        batch
            .iter()
            .filter_map(|j| Some((j.id.as_ref()?, &j.filed)))
    };
    inv.arg(entries().filter(|(_, f)| f.is_clean()).count());
    for (id, _) in entries().filter(|(_, f)| f.is_clean()) {
        inv.arg(id);
    }
    inv.arg(entries().filter(|(_, f)| !f.is_clean()).count());
    for (id, filed) in entries().filter(|(_, f)| !f.is_clean()) {
        filing(&mut inv, id.as_bytes(), filed, &now);
    }
    let released = || batch.iter().flat_map(|j| j.filed.released.iter());
    inv.arg(released().count());
    for r in released() {
        filing(&mut inv, &r.lease, &r.filed, &now);
    }
    let health = if policy.enabled {
        health_of(batch)
    } else {
        Vec::new()
    };
    inv.arg(health.len());
    for h in &health {
        inv.arg(h.sub.id.to_string())
            .arg(u8::from(h.reset))
            .arg(h.tail)
            .arg(h.attempts)
            .arg(h.failures);
    }
    // Bounded: about five minutes of backoff, or a few seconds once the
    // worker is stopping (the entries are then reclaimed by another). Each
    // batch's backoff starts over so that "a few seconds" holds for the
    // batches after one given up on.
    outage.reset_backoff();
    for attempt in 0..80 {
        if attempt >= 6 && shared.stopping.is_cancelled() {
            break;
        }
        let result = match shared.conn.get().await {
            Ok(mut conn) => inv
                .invoke_async::<(u64, Vec<String>)>(&mut conn)
                .await
                .map_err(|e| shared.conn.err(e)),
            Err(e) => Err(e),
        };
        match result {
            Ok((settled, opened)) => {
                outage.answered(Link::Commands);
                if !opened.is_empty() {
                    circuits_opened(shared, &health, &opened);
                }
                shared.counters.add(|c| &c.entries, settled);
                let dead: usize = batch
                    .iter()
                    .map(|j| {
                        j.filed.dead.len()
                            + j.filed
                                .released
                                .iter()
                                .map(|r| r.filed.dead.len())
                                .sum::<usize>()
                    })
                    .sum();
                if dead > 0 {
                    shared.recorder.metrics().dead_lettered(dead as u64);
                }
                let entries = batch.iter().filter(|j| j.id.is_some()).count() as u64;
                if settled < entries {
                    tracing::debug!(
                        skipped = entries - settled,
                        "entries were settled by another worker"
                    );
                }
                let first = batch
                    .iter()
                    .flat_map(|j| {
                        let released = j.filed.released.iter().flat_map(|r| r.filed.retries.iter());
                        j.filed.retries.iter().chain(released).map(|(due, _)| *due)
                    })
                    .min();
                if let Some(first) = first {
                    let known = shared.next_due.load(Ordering::Relaxed);
                    if known == 0 || first < known {
                        shared.next_due.store(first, Ordering::Relaxed);
                    }
                    shared.promote.notify_one();
                }
                return;
            }
            Err(e) if e.is_no_group() => {
                outage.answered(Link::Commands);
                tracing::warn!("the consumer group is gone; the entries are left to be read again");
                return;
            }
            Err(e) => {
                outage.failed(&e);
                outage.sleep().await;
            }
        }
    }
    tracing::error!(
        entries = batch.len(),
        "gave up settling entries; they will be reclaimed and delivered again"
    );
}
