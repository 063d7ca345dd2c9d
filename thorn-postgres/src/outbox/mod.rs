//! The transactional outbox: events written in the application's own
//! transaction, handed to the backend by a [`Relay`] once committed.

mod claim;
mod idle;
mod pieces;
mod relay;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::PgExecutor;
use thorn_core::{Config, Event, Result, Thorn};
use uuid::Uuid;

pub use relay::{Relay, RelayStats};

use crate::error::outbox_db;
use crate::schema::table;
use crate::settings::{OUTBOX_BATCH, OUTBOX_POLL, SCHEMA};

/// The outbox of `THORN_PG_SCHEMA`.
///
/// [`send`](Self::send) writes an event into the outbox table with the
/// executor it is given: a transaction the application already holds, so
/// that the event exists exactly when the application's own change does. A
/// rollback sends nothing; a commit is never lost, whatever happens to the
/// process after it. Matching happens later, when a relay hands the event
/// to the backend (`"default"` delivers it then, `"redis"` queues it for
/// workers), against the subscriptions of that moment.
///
/// The events of one transaction reach each subscription in the order they
/// were written, as a buffer's flush does; those of different transactions
/// are different sends, and a relay hands them over side by side. A
/// subscription that asks for strict order
/// ([`Subscriber::ordered`](thorn_core::Subscriber::ordered)) gets every
/// event in outbox order from one relay.
///
/// Writing an event costs the transaction one `INSERT`, and its commit
/// nothing more: commits do not notify (PostgreSQL serialises the commits
/// of transactions that do). A relay finds new rows by looking, again
/// within milliseconds while rows flow; an idle one backs off up to
/// `THORN_OUTBOX_POLL` and, before a longer wait, asks that the next commit
/// wake it: one NOTIFY per sleep.
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool, thorn: thorn_core::Thorn) -> thorn_core::Result<()> {
/// use thorn_core::{Config, Event};
/// let outbox = thorn_postgres::Outbox::new(&Config::from_env()?)?;
/// let mut tx = pool.begin().await.map_err(|e| thorn_core::Error::Store { retryable: true, source: e.into() })?;
/// // … the application's own writes in `tx` …
/// outbox.send(&mut *tx, &Event::new("order.created", serde_json::json!({"id": 42}))?).await?;
/// tx.commit().await.map_err(|e| thorn_core::Error::Store { retryable: true, source: e.into() })?;
///
/// // Elsewhere, once per process (several relays can run side by side):
/// let relay = outbox.relay(pool, thorn);
/// # relay.shutdown().await; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Outbox(Arc<Statements>);

/// An event written into the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The event's id.
    pub id: Uuid,
    /// When it was sent, to the millisecond.
    pub at: SystemTime,
}

impl Written {
    /// `event` with this id and time: prepared by a Thorn, its deliveries
    /// get the ids the relay will deliver them under.
    pub fn event(&self, event: Event) -> Event {
        event.with_id(self.id, self.at)
    }
}

#[derive(Debug)]
pub(crate) struct Statements {
    insert: String,
    pub(crate) claim: String,
    pub(crate) delete: String,
    pub(crate) defer: String,
    pub(crate) count: String,
    pub(crate) arm: String,
    /// The schema, as the outbox's notifications carry it.
    pub(crate) schema: String,
    pub(crate) batch: usize,
    pub(crate) poll: Duration,
}

impl Outbox {
    /// The outbox that `config` names (`THORN_PG_SCHEMA`,
    /// `THORN_OUTBOX_BATCH`, `THORN_OUTBOX_POLL`).
    pub fn new(config: &Config) -> Result<Self> {
        let schema = config.get(&SCHEMA)?;
        let outbox = table(&schema, "outbox");
        let wake = table(&schema, "outbox_wake");
        Ok(Outbox(Arc::new(Statements {
            insert: format!(
                "INSERT INTO {outbox} (event_id, name, data, sender, reference, timeout_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            claim: format!(
                "SELECT id, tx, event_id, name, data, sender, reference, timeout_ms, created_ms \
                 FROM {outbox} WHERE available_at <= now() ORDER BY id LIMIT $1 \
                 FOR UPDATE SKIP LOCKED"
            ),
            delete: format!("DELETE FROM {outbox} WHERE id = ANY($1)"),
            defer: format!(
                "UPDATE {outbox} SET attempts = attempts + 1, last_error = $2, \
                 available_at = now() + make_interval(secs => least($3::float8, 0.1 * power(2, attempts))) \
                 WHERE id = ANY($1)"
            ),
            count: format!("SELECT count(*) FROM {outbox}"),
            arm: format!("SELECT setval('{wake}', 1, false)"),
            schema: schema.clone(),
            batch: config.get(&OUTBOX_BATCH)?,
            poll: config.get(&OUTBOX_POLL)?,
        })))
    }

    /// Writes `event` into the outbox through `executor` (a transaction,
    /// typically: `&mut *tx`). Every delivery id will derive from the
    /// returned id and time ([`Written::event`] gives the event with them),
    /// the same after any crash.
    pub async fn send<'e, E: PgExecutor<'e>>(&self, executor: E, event: &Event) -> Result<Written> {
        let id = Uuid::now_v7();
        let at = SystemTime::now();
        let millis = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let timeout = event
            .timeout_value()
            .map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
        sqlx::query(&self.0.insert)
            .bind(id)
            .bind(event.name().as_str())
            .bind(sqlx::types::Json(event.data()))
            .bind(event.sender_id())
            .bind(event.reference_text())
            .bind(timeout)
            .bind(millis)
            .execute(executor)
            .await
            .map_err(outbox_db)?;
        let ms = u64::try_from(millis).unwrap_or_default();
        Ok(Written {
            id,
            at: UNIX_EPOCH + Duration::from_millis(ms),
        })
    }

    /// How many events wait in the outbox (claimed ones included).
    pub async fn len<'e, E: PgExecutor<'e>>(&self, executor: E) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(&self.0.count)
            .fetch_one(executor)
            .await
            .map_err(outbox_db)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Starts a relay: a task that hands committed events to `thorn`'s
    /// backend, in batches, until [`Relay::shutdown`].
    pub fn relay(&self, pool: sqlx::PgPool, thorn: Thorn) -> Relay {
        Relay::start(Arc::clone(&self.0), pool, thorn)
    }
}
