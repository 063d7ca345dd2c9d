//! One claim: committed outbox rows locked (`FOR UPDATE SKIP LOCKED`, so
//! relays side by side never take the same row) by a transaction that
//! holds them until they are deleted, deferred, or handed back by a
//! rollback.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row as _, Transaction};
use thorn_core::report::notify;
use thorn_core::{AttemptEnd, Dispatcher, Error, Event, Report, Result, Thorn};

use super::Statements;
use super::pieces::{self, Piece};
use crate::error::outbox_db;

/// The longest wait before refused rows are claimed again.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Rows claimed, in outbox order, and the transaction that holds them.
/// Dropped, it rolls back: the rows are left to the next claim.
#[derive(Debug)]
pub(super) struct Claim {
    tx: Transaction<'static, Postgres>,
    rows: Vec<PgRow>,
    /// The rows' events matched and cut into pieces, once prepared.
    prepared: Option<Result<pieces::Pieces>>,
}

/// What the backend refused of a claim, and why.
#[derive(Debug)]
pub(super) struct Refused {
    rows: Refusal,
    pub(super) error: Error,
}

#[derive(Debug)]
enum Refusal {
    /// Nothing was dispatched (an event could not be prepared).
    All,
    /// The rows of refused pieces, by their place in the claim.
    Rows(HashSet<usize>),
}

impl Claim {
    /// Claims the next `THORN_OUTBOX_BATCH` rows that are ready.
    pub(super) async fn take(statements: &Statements, pool: &PgPool) -> Result<Self> {
        let mut tx = pool.begin().await.map_err(outbox_db)?;
        let rows = sqlx::query(&statements.claim)
            .bind(i64::try_from(statements.batch).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(outbox_db)?;
        Ok(Claim {
            tx,
            rows,
            prepared: None,
        })
    }

    /// Whether no row was ready.
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Ends the transaction of a claim that holds nothing.
    pub(super) async fn release(self) -> Result<()> {
        self.tx.commit().await.map_err(outbox_db)
    }

    /// Matches and prepares each row's event against the subscriptions
    /// of now, and cuts the claim into pieces (see [`pieces`]), ready to
    /// be handed over; nothing is dispatched yet.
    pub(super) async fn prepare(&mut self, thorn: &Thorn) {
        if self.prepared.is_none() {
            self.prepared = Some(self.cut(thorn).await);
        }
    }

    /// Dispatches the claim in pieces, several at once (preparing it
    /// first if it was not); what the backend refused, if anything.
    pub(super) async fn hand_over(&mut self, thorn: &Thorn) -> Option<Refused> {
        let prepared = match self.prepared.take() {
            Some(prepared) => prepared,
            None => self.cut(thorn).await,
        };
        let cut = match prepared {
            Ok(cut) => cut,
            Err(error) => {
                return Some(Refused {
                    rows: Refusal::All,
                    error,
                });
            }
        };
        let dispatcher = thorn.dispatcher();
        let mut waiting = cut.pieces.iter();
        let mut running = FuturesUnordered::new();
        let mut refused: Option<Refused> = None;
        loop {
            while running.len() < cut.at_once {
                match waiting.next() {
                    Some(piece) => running.push(dispatch(dispatcher, piece)),
                    None => break,
                }
            }
            let Some((piece, outcome)) = running.next().await else {
                break;
            };
            let Err(error) = outcome else { continue };
            match &mut refused {
                Some(Refused {
                    rows: Refusal::Rows(rows),
                    ..
                }) => rows.extend(&piece.rows),
                _ => {
                    refused = Some(Refused {
                        rows: Refusal::Rows(piece.rows.iter().copied().collect()),
                        error,
                    });
                }
            }
        }
        refused
    }

    async fn cut(&self, thorn: &Thorn) -> Result<pieces::Pieces> {
        let mut events = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let tx: i64 = row.try_get("tx").map_err(outbox_db)?;
            let prepared = thorn.prepare(event_of(row)?).await?;
            // Failed before any attempt (the payload cannot take a
            // subscription's content type): final, and told as `send`
            // tells it.
            for failed in &prepared.failed {
                tracing::warn!(delivery = %failed.delivery, error = ?failed.error, "an outbox event cannot be delivered to a subscription");
                notify(&thorn.config().observers, failed, AttemptEnd::Error);
            }
            events.push((tx, prepared));
        }
        let config = thorn.config();
        Ok(pieces::cut(events, config.concurrency, config.chunk_size))
    }

    /// Deletes every row (the backend accepted them all) and commits; how
    /// many there were.
    pub(super) async fn delete(mut self, statements: &Statements) -> Result<u64> {
        let ids = self.ids(|_| true);
        sqlx::query(&statements.delete)
            .bind(&ids)
            .execute(&mut *self.tx)
            .await
            .map_err(outbox_db)?;
        self.tx.commit().await.map_err(outbox_db)?;
        Ok(ids.len() as u64)
    }

    /// Deletes the rows the backend accepted, defers the ones it refused
    /// (with the error, one more attempt, and a backoff), and commits; how
    /// many were deleted.
    pub(super) async fn defer(mut self, statements: &Statements, refused: &Refused) -> Result<u64> {
        let is_refused = |row: usize| match &refused.rows {
            Refusal::All => true,
            Refusal::Rows(rows) => rows.contains(&row),
        };
        let done = self.ids(|row| !is_refused(row));
        let kept = self.ids(is_refused);
        if !done.is_empty() {
            sqlx::query(&statements.delete)
                .bind(&done)
                .execute(&mut *self.tx)
                .await
                .map_err(outbox_db)?;
        }
        sqlx::query(&statements.defer)
            .bind(&kept)
            .bind(refused.error.to_string())
            .bind(MAX_BACKOFF.as_secs_f64())
            .execute(&mut *self.tx)
            .await
            .map_err(outbox_db)?;
        self.tx.commit().await.map_err(outbox_db)?;
        Ok(done.len() as u64)
    }

    /// The ids of the rows whose place in the claim passes `keep`.
    fn ids(&self, keep: impl Fn(usize) -> bool) -> Vec<i64> {
        self.rows
            .iter()
            .enumerate()
            .filter(|(row, _)| keep(*row))
            .map(|(_, r)| r.get::<i64, _>("id"))
            .collect()
    }
}

async fn dispatch<'a>(
    dispatcher: &'a Arc<dyn Dispatcher>,
    piece: &'a Piece,
) -> (&'a Piece, Result<Report>) {
    (piece, dispatcher.dispatch(&piece.batch).await)
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
