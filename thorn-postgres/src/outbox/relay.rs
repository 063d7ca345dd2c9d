//! The relay: claims committed outbox rows in batches (`FOR UPDATE SKIP
//! LOCKED`, so relays side by side never take the same row), hands each
//! batch to the backend in one dispatch, and deletes the rows in the same
//! transaction once the backend accepted them. It wakes on `NOTIFY`, with a
//! slow poll as a safety net.
//!
//! At least once: a relay that dies mid-batch leaves its transaction to
//! roll back, and the batch is handed over again by another, with the same
//! delivery ids. Rows the backend refused stay, with the error and a count
//! of attempts, and wait a backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgPool, Row as _};
use thorn_core::report::notify;
use thorn_core::{AttemptEnd, Batch, Event, Result, Thorn};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Statements;
use crate::error::outbox_db;

/// The channel outbox inserts notify.
const CHANNEL: &str = "thorn_outbox";
/// The longest wait after the backend refused a batch.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A running relay. Dropping it stops it at the next batch boundary.
#[derive(Debug)]
pub struct Relay {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    stats: Arc<Counters>,
}

/// What a relay did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStats {
    /// Events handed to the backend and deleted from the outbox.
    pub relayed: u64,
    /// Batches handed over.
    pub batches: u64,
    /// Batches the backend (or the database) refused; their rows stayed.
    pub failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    relayed: AtomicU64,
    batches: AtomicU64,
    failures: AtomicU64,
}

impl Relay {
    pub(super) fn start(statements: Arc<Statements>, pool: PgPool, thorn: Thorn) -> Self {
        let stop = CancellationToken::new();
        let stats = Arc::new(Counters::default());
        let task = tokio::spawn(run(
            statements,
            pool,
            thorn,
            stop.clone(),
            Arc::clone(&stats),
        ));
        Relay {
            stop,
            task: Some(task),
            stats,
        }
    }

    /// The counters now.
    pub fn stats(&self) -> RelayStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RelayStats {
            relayed: get(&self.stats.relayed),
            batches: get(&self.stats.batches),
            failures: get(&self.stats.failures),
        }
    }

    /// Stops after the batch in hand (handed over and deleted, or left
    /// whole) and returns the counters.
    pub async fn shutdown(mut self) -> RelayStats {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.stats()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn run(
    statements: Arc<Statements>,
    pool: PgPool,
    thorn: Thorn,
    stop: CancellationToken,
    stats: Arc<Counters>,
) {
    let mut listener: Option<PgListener> = None;
    let mut backoff = Duration::from_millis(100);
    while !stop.is_cancelled() {
        if listener.is_none() {
            listener = listen(&pool).await;
        }
        match relay_batch(&statements, &pool, &thorn).await {
            Ok(0) => {
                backoff = Duration::from_millis(100);
                // Idle: wait for a commit's NOTIFY, or the poll.
                let woken = async {
                    match listener.as_mut() {
                        Some(l) => l.recv().await.map(|_| ()),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(statements.poll) => {}
                    woke = woken => if woke.is_err() { listener = None },
                }
            }
            Ok(n) => {
                backoff = Duration::from_millis(100);
                stats.relayed.fetch_add(n, Ordering::Relaxed);
                stats.batches.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, wait_ms = backoff.as_millis() as u64, "relaying outbox events failed; backing off");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                listener = None;
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(CHANNEL).await.ok()?;
    Some(listener)
}

/// Claims one batch, hands it over and deletes it; how many events it
/// held. A refused batch stays, deferred, and is an error.
async fn relay_batch(statements: &Statements, pool: &PgPool, thorn: &Thorn) -> Result<u64> {
    let mut tx = pool.begin().await.map_err(outbox_db)?;
    let rows = sqlx::query(&statements.claim)
        .bind(i64::try_from(statements.batch).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(outbox_db)?;
    if rows.is_empty() {
        tx.commit().await.map_err(outbox_db)?;
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.get::<i64, _>("id")).collect();
    match hand_over(&rows, thorn).await {
        Ok(()) => {
            sqlx::query(&statements.delete)
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(outbox_db)?;
            tx.commit().await.map_err(outbox_db)?;
            Ok(ids.len() as u64)
        }
        Err(e) => {
            sqlx::query(&statements.defer)
                .bind(&ids)
                .bind(e.to_string())
                .bind(MAX_BACKOFF.as_secs_f64())
                .execute(&mut *tx)
                .await
                .map_err(outbox_db)?;
            tx.commit().await.map_err(outbox_db)?;
            Err(e)
        }
    }
}

/// Matches and prepares each row's event, and dispatches them all at once.
async fn hand_over(rows: &[PgRow], thorn: &Thorn) -> Result<()> {
    let mut batch = Batch::default();
    for row in rows {
        let event = event_of(row)?;
        let prepared = thorn.prepare(event).await?;
        // Failed before any attempt (the payload cannot take a
        // subscription's content type): final, and told as `send` tells it.
        for failed in &prepared.failed {
            tracing::warn!(delivery = %failed.delivery, error = ?failed.error, "an outbox event cannot be delivered to a subscription");
            notify(&thorn.config().observers, failed, AttemptEnd::Error);
        }
        if !prepared.deliveries.is_empty() {
            batch.events.push(prepared);
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    thorn.dispatcher().dispatch(&batch).await.map(|_| ())
}

fn event_of(row: &PgRow) -> Result<Event> {
    let name: String = row.try_get("name").map_err(outbox_db)?;
    let data: sqlx::types::Json<serde_json::Value> = row.try_get("data").map_err(outbox_db)?;
    let created_ms: i64 = row.try_get("created_ms").map_err(outbox_db)?;
    let sent = UNIX_EPOCH + Duration::from_millis(u64::try_from(created_ms).unwrap_or_default());
    let mut event =
        Event::new(name, data.0)?.with_id(row.try_get("event_id").map_err(outbox_db)?, sent);
    if let Some(sender) = row
        .try_get::<Option<String>, _>("sender")
        .map_err(outbox_db)?
    {
        event = event.sender(sender);
    }
    if let Some(reference) = row
        .try_get::<Option<String>, _>("reference")
        .map_err(outbox_db)?
    {
        event = event.reference(reference);
    }
    if let Some(ms) = row
        .try_get::<Option<i64>, _>("timeout_ms")
        .map_err(outbox_db)?
    {
        event = event.timeout(Duration::from_millis(u64::try_from(ms).unwrap_or_default()));
    }
    Ok(event)
}
