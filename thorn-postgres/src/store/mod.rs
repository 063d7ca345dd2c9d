//! [`PgStore`]: subscriptions in the application's PostgreSQL, matched in
//! memory.

mod listen;
mod rows;

use std::sync::{Arc, RwLock};

use sqlx::PgPool;
use sqlx::Row as _;
use thorn_core::{
    Config, EventName, Result, Subscriber, SubscriberStore, SubscriptionIndex, async_trait,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cipher::Cipher;
use crate::error::db;
use crate::schema::table;
use crate::settings::{SCHEMA, SECRET_KEY};

/// Subscriptions in PostgreSQL (the `subscriptions` table of
/// `THORN_PG_SCHEMA`), shared by every process of an application.
///
/// Matching never queries the database: each process keeps every
/// subscription in an in-memory index (the same trie as the memory store,
/// so 100,000 subscriptions match at the cost of 100), kept fresh by
/// `LISTEN/NOTIFY`: a change committed anywhere reaches every process in
/// milliseconds; a lost connection reloads the whole table once it is
/// back. Secrets are stored as given, or sealed with AES-256-GCM when
/// `THORN_PG_SECRET_KEY` is set (a key set later seals what is written
/// from then on and still reads what was stored plain).
///
/// ```no_run
/// # async fn run() -> thorn_core::Result<()> {
/// use std::sync::Arc;
/// use thorn_core::{Config, Thorn};
/// let config = Config::from_env()?;
/// let pool = thorn_postgres::connect(&config).await?;
/// thorn_postgres::migrate(&pool, &config).await?;
/// let store = thorn_postgres::PgStore::new(pool, &config).await?;
/// let thorn = Thorn::builder().config(config).store(Arc::new(store)).build()?;
/// # let _ = thorn; Ok(()) }
/// ```
#[derive(Debug)]
pub struct PgStore {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

/// One lock per table and owner (`$1`, `$2`), held by the transaction
/// that counts an owner's subscriptions and adds one.
const LOCK_OWNER: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))";

/// What the store and its listener share.
#[derive(Debug)]
pub(crate) struct Shared {
    pool: PgPool,
    schema: String,
    cipher: Cipher,
    index: RwLock<SubscriptionIndex>,
    select_all: String,
    select_one: String,
    upsert: String,
    insert: String,
    update: String,
    count_owner: String,
    /// The subscriptions table, qualified.
    table: String,
    delete: String,
    /// Counts the changes applied to the index.
    changes: watch::Sender<u64>,
    /// Held while the index is brought up to date from the table: one
    /// read and its change to the index at a time, so that a later read
    /// (which sees every commit an earlier one saw) is applied last.
    serial: tokio::sync::Mutex<()>,
}

impl PgStore {
    /// The store over `pool`, its index loaded; a task keeps it fresh
    /// until the store is dropped. The tables must exist
    /// ([`migrate`](crate::migrate)).
    pub async fn new(pool: PgPool, config: &Config) -> Result<Self> {
        let schema = config.get(&SCHEMA)?;
        let subs = table(&schema, "subscriptions");
        let shared = Arc::new(Shared {
            pool,
            cipher: Cipher::new(config.get(&SECRET_KEY)?),
            index: RwLock::new(SubscriptionIndex::default()),
            select_all: format!("SELECT {}, revision FROM {subs}", rows::COLUMNS),
            select_one: format!(
                "SELECT {}, revision FROM {subs} WHERE id = $1",
                rows::COLUMNS
            ),
            upsert: rows::upsert_sql(&subs),
            insert: rows::insert_sql(&subs),
            update: rows::update_sql(&subs),
            count_owner: format!("SELECT count(*) FROM {subs} WHERE owner = $1"),
            table: subs.clone(),
            delete: format!("DELETE FROM {subs} WHERE id = $1"),
            changes: watch::Sender::new(0),
            serial: tokio::sync::Mutex::new(()),
            schema,
        });
        shared.reload().await?;
        let stop = CancellationToken::new();
        tokio::spawn(listen::listen(Arc::clone(&shared), stop.clone()));
        Ok(PgStore { shared, stop })
    }

    /// Ticks each time the index changes (a change made here or in another
    /// process, or a reload): to wait for a change to arrive.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// How many subscriptions the index holds.
    pub fn len(&self) -> usize {
        self.shared.read().len()
    }

    /// Whether the index holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, SubscriptionIndex> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, SubscriptionIndex> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Reads the whole table into a new index.
    pub(crate) async fn reload(&self) -> Result<()> {
        let _serial = self.serial.lock().await;
        let rows = sqlx::query(&self.select_all)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut index = SubscriptionIndex::default();
        for row in &rows {
            match rows::from_row(row, &self.cipher) {
                Ok(sub) => index.insert(sub),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a stored subscription that cannot be read")
                }
            }
        }
        *self.write() = index;
        self.changed();
        Ok(())
    }

    /// Reads one subscription again (it changed or went).
    pub(crate) async fn refresh(&self, id: Uuid) -> Result<()> {
        let _serial = self.serial.lock().await;
        let row = sqlx::query(&self.select_one)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(row) => {
                let sub = rows::from_row(&row, &self.cipher)?;
                self.write().insert(sub);
            }
            None => {
                self.write().remove(id);
            }
        }
        self.changed();
        Ok(())
    }
}

#[async_trait]
impl SubscriberStore for PgStore {
    async fn matching(
        &self,
        event: &EventName,
        sender: Option<&str>,
    ) -> Result<Vec<Arc<Subscriber>>> {
        Ok(self.shared.read().matching(event, sender))
    }

    async fn add(&self, subscriber: Subscriber) -> Result<()> {
        subscriber.validate()?;
        rows::bind_upsert(&self.shared.upsert, &subscriber, &self.shared.cipher)?
            .execute(&self.shared.pool)
            .await
            .map_err(db)?;
        // Seen here at once; other processes hear of it by NOTIFY.
        self.shared.refresh(subscriber.id).await
    }

    async fn create(
        &self,
        mut subscriber: Subscriber,
        max_per_owner: Option<usize>,
    ) -> Result<Arc<Subscriber>> {
        subscriber.validate()?;
        let shared = &self.shared;
        let mut tx = shared.pool.begin().await.map_err(db)?;
        if let (Some(limit), Some(owner)) = (max_per_owner, subscriber.owner.as_deref()) {
            sqlx::query(LOCK_OWNER)
                .bind(&shared.table)
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            let held: i64 = sqlx::query_scalar(&shared.count_owner)
                .bind(owner)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            if usize::try_from(held).unwrap_or(usize::MAX) >= limit {
                return Err(thorn_core::Error::owner_limit(owner, limit));
            }
        }
        let row = rows::bind_upsert(&shared.insert, &subscriber, &shared.cipher)?
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Err(thorn_core::Error::conflict(subscriber.id, "already exists"));
        };
        let revision: i64 = row.try_get(0).map_err(db)?;
        tx.commit().await.map_err(db)?;
        subscriber.revision = u64::try_from(revision).unwrap_or(0);
        shared.refresh(subscriber.id).await?;
        Ok(Arc::new(subscriber))
    }

    async fn update(&self, mut next: Subscriber) -> Result<Arc<Subscriber>> {
        next.validate()?;
        let shared = &self.shared;
        let read = i64::try_from(next.revision).unwrap_or(i64::MAX);
        let row = rows::bind_upsert(&shared.update, &next, &shared.cipher)?
            .bind(read)
            .fetch_optional(&shared.pool)
            .await
            .map_err(db)?;
        let Some(row) = row else {
            let now: Option<i64> = sqlx::query_scalar(&format!(
                "SELECT revision FROM {} WHERE id = $1",
                shared.table
            ))
            .bind(next.id)
            .fetch_optional(&shared.pool)
            .await
            .map_err(db)?;
            let reason = match now {
                None => "was removed".to_owned(),
                Some(now) => {
                    thorn_core::store::changed(next.revision, u64::try_from(now).unwrap_or(0))
                }
            };
            return Err(thorn_core::Error::conflict(next.id, reason));
        };
        let revision: i64 = row.try_get(0).map_err(db)?;
        next.revision = u64::try_from(revision).unwrap_or(0);
        shared.refresh(next.id).await?;
        Ok(Arc::new(next))
    }

    async fn remove(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query(&self.shared.delete)
            .bind(id)
            .execute(&self.shared.pool)
            .await
            .map_err(db)?;
        self.shared.refresh(id).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Arc<Subscriber>>> {
        Ok(self.shared.read().get(id).cloned())
    }

    async fn all(&self) -> Result<Vec<Arc<Subscriber>>> {
        Ok(self.shared.read().iter().cloned().collect())
    }
}
