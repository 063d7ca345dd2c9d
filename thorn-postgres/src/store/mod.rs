//! [`PgStore`]: subscriptions in the application's PostgreSQL, matched in
//! memory.

mod listen;
mod rows;

use std::sync::{Arc, RwLock};

use sqlx::PgPool;
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
    delete: String,
    /// Counts the changes applied to the index.
    changes: watch::Sender<u64>,
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
            select_all: format!("SELECT {} FROM {subs}", rows::COLUMNS),
            select_one: format!("SELECT {} FROM {subs} WHERE id = $1", rows::COLUMNS),
            upsert: rows::upsert_sql(&subs),
            delete: format!("DELETE FROM {subs} WHERE id = $1"),
            changes: watch::Sender::new(0),
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
        self.shared.write().insert(subscriber);
        self.shared.changed();
        Ok(())
    }

    async fn remove(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query(&self.shared.delete)
            .bind(id)
            .execute(&self.shared.pool)
            .await
            .map_err(db)?;
        self.shared.write().remove(id);
        self.shared.changed();
        Ok(done.rows_affected() > 0)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Arc<Subscriber>>> {
        Ok(self.shared.read().get(id).cloned())
    }

    async fn all(&self) -> Result<Vec<Arc<Subscriber>>> {
        Ok(self.shared.read().iter().cloned().collect())
    }
}
