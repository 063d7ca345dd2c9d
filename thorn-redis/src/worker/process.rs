//! Starting the entries read: each decoded into its work (lanes to
//! deliver, or straight to the dead letters), delivered, and handed to the
//! settler.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt as _;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::deliver::{DeadItem, Filed, Work, deliver, lanes, panic_message};
use super::held::HOLD_READ;
use super::reply::{Payload, RawEntry};
use super::settle::SettleJob;
use super::{MAX_HANDOVERS, Shared};
use crate::entry;
use crate::keys::FIELD;

pub(super) fn spawn_entries(
    shared: &Arc<Shared>,
    entries: impl IntoIterator<Item = RawEntry>,
    permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
) {
    spawn_checked(shared, entries, permits, tasks, &HashMap::new());
}

/// Starts the entries; those in `poison` (handed over too often) go to the
/// dead letters undelivered.
pub(super) fn spawn_checked(
    shared: &Arc<Shared>,
    entries: impl IntoIterator<Item = RawEntry>,
    permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
    poison: &HashMap<String, usize>,
) {
    let mut permits = permits.into_iter();
    let mut batch = Vec::new();
    for entry in entries {
        let Some(permit) = permits.next() else {
            // Never more entries than asked for; were there, they stay
            // pending and are reclaimed.
            break;
        };
        let mut raw = None;
        let work = match entry.payload {
            Payload::Blob(blob) => {
                raw = Some(blob.clone());
                match entry::decode_entry_cached(&blob, &shared.subscribers) {
                    Ok((_, items)) if poison.contains_key(&entry.id) => {
                        let times = poison.get(&entry.id).copied().unwrap_or(MAX_HANDOVERS);
                        tracing::error!(entry = %entry.id, times, deliveries = items.len(),
                            "an entry was handed to workers too often without being settled; its deliveries go to the dead letters");
                        Work::Poison(items, times)
                    }
                    // Lanes are joined here, in read order.
                    Ok((batch, items)) => Work::Lanes(lanes(shared, batch, items)),
                    Err(e) => Work::Malformed(blob.to_vec(), e.to_string()),
                }
            }
            Payload::Missing => Work::Malformed(
                Vec::new(),
                format!("malformed queue entry: no `{FIELD}` field"),
            ),
            Payload::Deleted => {
                tracing::warn!(entry = %entry.id, "a pending entry was deleted from the stream (trimmed?); acknowledging it, there is nothing to deliver");
                Work::Deleted
            }
        };
        batch.push((entry.id, work, raw, permit));
    }
    if batch.is_empty() {
        return;
    }
    shared
        .in_flight()
        .extend(batch.iter().map(|(id, ..)| id.clone()));
    // One task per read: its entries progress together and each is handed
    // to the settler as soon as its deliveries are done, or its slow lanes
    // are held past it (at the latest `HOLD_READ` after the read).
    let shared = Arc::clone(shared);
    tasks.spawn(async move {
        let hold = CancellationToken::new();
        let mut running: FuturesUnordered<_> = batch
            .into_iter()
            .map(|(id, work, raw, permit)| process(&shared, id, work, raw, permit, &hold))
            .collect();
        let timer = tokio::time::sleep(HOLD_READ);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                next = running.next() => if next.is_none() { break },
                () = &mut timer, if !hold.is_cancelled() => hold.cancel(),
            }
        }
    });
}

async fn process(
    shared: &Arc<Shared>,
    id: String,
    work: Work,
    raw: Option<Bytes>,
    permit: OwnedSemaphorePermit,
    hold: &CancellationToken,
) {
    let mut held = None;
    let filed = match work {
        // A panic past the deliveries' own guard still settles the entry:
        // its payload goes to the dead letters with the reason, and the
        // read's other entries go on.
        Work::Lanes(lanes) => match AssertUnwindSafe(deliver(shared, lanes, hold, raw.as_ref()))
            .catch_unwind()
            .await
        {
            Ok((filed, go_on)) => {
                held = go_on;
                filed
            }
            Err(panic) => {
                let error = panic_message(panic.as_ref());
                tracing::error!(entry = %id, %error, "an entry's task panicked; the entry goes to the dead letters");
                shared.counters.add(|c| &c.dead, 1);
                Filed {
                    dead: vec![DeadItem {
                        blob: raw.map(|b| b.to_vec()).unwrap_or_default(),
                        error,
                        status: None,
                    }],
                    ..Filed::default()
                }
            }
        },
        Work::Poison(items, times) => {
            let error = format!(
                "handed to workers {times} times without being settled (each time its worker died or \
                 stalled past the ack deadline); not delivered again"
            );
            shared.counters.add(|c| &c.dead, items.len() as u64);
            Filed {
                ended: items
                    .iter()
                    .filter(|item| item.delivery.subscriber.ordered)
                    .map(|item| (item.delivery.subscriber.id, item.delivery.id))
                    .collect(),
                dead: items
                    .iter()
                    .map(|item| DeadItem {
                        blob: entry::encode_one(&item.delivery, item.attempts),
                        error: error.clone(),
                        status: None,
                    })
                    .collect(),
                ..Filed::default()
            }
        }
        Work::Deleted => Filed::default(),
        Work::Malformed(blob, error) => {
            shared.counters.add(|c| &c.dead, 1);
            Filed {
                dead: vec![DeadItem {
                    blob,
                    error,
                    status: None,
                }],
                ..Filed::default()
            }
        }
    };
    let job = SettleJob {
        id: Some(id),
        filed,
        _slot: Some(permit),
        _held: None,
    };
    if let Err(mpsc::error::SendError(job)) = shared.settle_tx.send(job) {
        // The settler is gone only after every slot came back; unreachable,
        // and the entry would then be reclaimed.
        if let Some(id) = &job.id {
            shared.in_flight().remove(id);
        }
    }
    if let Some(go_on) = held {
        super::held::go_on(shared, go_on);
    }
}
