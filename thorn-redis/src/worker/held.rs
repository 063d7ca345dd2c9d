//! Deliveries a worker goes on with past their entry, so that one slow
//! receiver holds its own deliveries only.
//!
//! An entry is settled when its lanes end. A lane that is still going when
//! the entry's other lanes have ended [`HOLD_PARTIAL`] ago, or when the
//! entry was read [`HOLD_READ`] ago, is *held*: its deliveries are written
//! to the retry set, each under its encoding as read (its *lease*), due
//! when the worker would be presumed dead (now + the ack deadline), in the
//! same script call that acknowledges and deletes the entry with what did
//! end. The lane goes on in the worker; when it ends, each of its
//! deliveries is filed in a settle call that removes its lease first (and
//! files nothing if the lease is gone). While it goes on, the heartbeat
//! keeps the leases ahead of their due time. If the worker dies, its
//! leases fall due, and the deliveries return to the stream like a retry:
//! nothing is lost, and what was in flight may be delivered twice, as with
//! an entry reclaimed from a dead worker.
//!
//! How many deliveries a worker holds is bounded ([`HELD_PER_DELIVERY_SLOT`]
//! per unit of `THORN_CONCURRENCY`): when it holds that many, an entry
//! waits for its lanes as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use super::Shared;
use super::backoff::now_ms;
use super::deliver::{Filed, LaneRun, Released, file};
use super::settle::SettleJob;
use crate::entry;

/// How long an entry waits for its last lanes once one has ended.
pub(super) const HOLD_PARTIAL: Duration = Duration::from_millis(200);

/// How long a read's entries wait for their lanes at most.
pub(super) const HOLD_READ: Duration = Duration::from_secs(1);

/// Deliveries a worker may hold per unit of `THORN_CONCURRENCY`.
pub(super) const HELD_PER_DELIVERY_SLOT: u32 = 64;

/// The deliveries held by this worker: id → lease (the retry set member).
#[derive(Debug, Default)]
pub(super) struct Leases(Mutex<HashMap<Uuid, Vec<u8>>>);

impl Leases {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Vec<u8>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The leases to keep ahead of their due time.
    pub(super) fn all(&self) -> Vec<Vec<u8>> {
        self.lock().values().cloned().collect()
    }

    /// Forgets the leases of `ids` (settled, or given up).
    pub(super) fn forget(&self, ids: impl IntoIterator<Item = Uuid>) {
        let mut leases = self.lock();
        for id in ids {
            leases.remove(&id);
        }
    }

    /// How many deliveries are held.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// What a held entry's lanes carry on with.
pub(super) struct Holding {
    ids: Vec<Uuid>,
    permit: Arc<OwnedSemaphorePermit>,
}

/// Holds the deliveries of the entry `raw` that have not ended (`ended`
/// did): files their leases into `filed`. `None` when the worker holds as
/// many as it may.
pub(super) fn hold(
    shared: &Shared,
    raw: &Bytes,
    ended: &[Uuid],
    filed: &mut Filed,
) -> Option<Holding> {
    let (_, items) = entry::decode_entry_cached(raw, &shared.subscribers).ok()?;
    let left: Vec<_> = items
        .into_iter()
        .filter(|item| !ended.contains(&item.delivery.id))
        .collect();
    let count = u32::try_from(left.len()).ok()?;
    let permit = Arc::clone(&shared.held_slots)
        .try_acquire_many_owned(count)
        .ok()?;
    let due = now_ms().saturating_add(shared.ack_deadline.as_millis() as u64);
    let mut ids = Vec::with_capacity(left.len());
    let mut leases = shared.leases.lock();
    for item in &left {
        let lease = entry::encode_queued(item);
        filed.retries.push((due, lease.clone()));
        leases.insert(item.delivery.id, lease);
        ids.push(item.delivery.id);
    }
    drop(leases);
    shared.counters.add(|c| &c.held, left.len() as u64);
    Some(Holding {
        ids,
        permit: Arc::new(permit),
    })
}

/// Held lanes, still going, and their leases.
pub(super) struct GoOn {
    pub(super) running: FuturesUnordered<LaneRun>,
    pub(super) holding: Holding,
}

/// Lets the held lanes go on in a task of their own; each lane's
/// deliveries are filed as it ends. Called once the entry's own filing
/// (which writes the leases) is with the settler, so that every held
/// delivery's filing comes after it.
pub(super) fn go_on(shared: &Arc<Shared>, go_on: GoOn) {
    let GoOn {
        mut running,
        holding,
    } = go_on;
    let guard = Forget {
        shared: Arc::clone(shared),
        ids: holding.ids,
    };
    let permit = holding.permit;
    let task = async move {
        let shared = &guard.shared;
        while let Some(done) = running.next().await {
            let mut filed = Filed::default();
            for d in done {
                let delivery = d.item.delivery.id;
                let lease = entry::encode_queued(&d.item);
                let mut one = Filed::default();
                file(shared, &mut one, d);
                filed.released.push(Released {
                    delivery,
                    lease,
                    filed: one,
                });
            }
            let job = SettleJob {
                id: None,
                filed,
                _slot: None,
                _held: Some(Arc::clone(&permit)),
            };
            // The settler outlives every held permit.
            let _ = shared.settle_tx.send(job);
        }
    };
    shared.held_tasks().spawn(task);
}

/// Forgets a held lane's leases when its task ends, however it ends: after
/// a panic or an abort, a lease no longer refreshed falls due, and its
/// delivery is made again.
struct Forget {
    shared: Arc<Shared>,
    ids: Vec<Uuid>,
}

impl Drop for Forget {
    fn drop(&mut self) {
        // After a normal end the leases' filings are on their way to the
        // settler (due in one ack deadline, they need no refresh meanwhile).
        self.shared.leases.forget(std::mem::take(&mut self.ids));
    }
}
