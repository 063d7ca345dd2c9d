//! A [`SubscriberStore`] in Redis, shared by producers and workers.
//!
//! Subscriptions live in one hash (`thorn:{name}:subs`, id → JSON) beside a
//! version counter (`thorn:{name}:subs-version`) that every change bumps in
//! the same script. Each process keeps the whole set in a cached
//! [`SubscriptionIndex`] (a trie over pattern segments) and matches in
//! memory: matching costs one `GET` of the version plus a walk of the trie,
//! whatever the number of subscriptions. A changed version reloads the
//! cache (one `HGETALL`), so the store suits subscriptions that are read far
//! more often than they change.

use std::fmt;
use std::sync::{Arc, RwLock};

use redis::AsyncCommands;
use thorn_core::{EventName, Subscriber, SubscriberStore, SubscriptionIndex, async_trait};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::options::{Connection, RedisOptions};
use crate::scripts;

#[derive(Default)]
struct Cache {
    version: Option<i64>,
    index: Arc<SubscriptionIndex>,
}

/// Subscriptions in Redis, matched through a cached index.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> thorn_core::Result<()> {
/// use std::sync::Arc;
/// use thorn_core::{Config, Subscriber, SubscriberStore, Thorn};
/// use thorn_redis::{RedisOptions, RedisStore};
/// let store = Arc::new(RedisStore::new(&RedisOptions::default(), "default").map_err(thorn_redis::into_core)?);
/// store.add(Subscriber::builder("article.*", "https://example.com/hooks", "s3cret").build()?).await?;
/// let thorn = Thorn::builder().config(Config::from_env()?).store(store).build()?;
/// # Ok(()) }
/// ```
pub struct RedisStore {
    name: String,
    subs: String,
    version: String,
    conn: Connection,
    cache: RwLock<Cache>,
    reload: tokio::sync::Mutex<()>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The store `name` on the server `options` names. Does not connect yet.
    pub fn new(options: &RedisOptions, name: &str) -> Result<Self> {
        Ok(RedisStore {
            name: name.to_owned(),
            subs: format!("thorn:{{{name}}}:subs"),
            version: format!("thorn:{{{name}}}:subs-version"),
            conn: options.connection(options.response_timeout)?,
            cache: RwLock::new(Cache::default()),
            reload: tokio::sync::Mutex::new(()),
        })
    }

    fn cached(&self) -> (Option<i64>, Arc<SubscriptionIndex>) {
        let c = self.cache.read().unwrap_or_else(|p| p.into_inner());
        (c.version, Arc::clone(&c.index))
    }

    /// The current index: the cached one if the version did not change.
    async fn index(&self) -> Result<Arc<SubscriptionIndex>> {
        let mut conn = self.conn.get().await?;
        let version: Option<i64> = conn
            .get(&self.version)
            .await
            .map_err(|e| self.conn.err(e))?;
        let version = version.unwrap_or(0);
        let (cached, index) = self.cached();
        if cached == Some(version) {
            return Ok(index);
        }
        let _one = self.reload.lock().await;
        let (cached, index) = self.cached();
        if cached.is_some_and(|c| c >= version) {
            return Ok(index);
        }
        let (version, all): (Option<i64>, Vec<(String, Vec<u8>)>) = redis::pipe()
            .atomic()
            .get(&self.version)
            .hgetall(&self.subs)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.conn.err(e))?;
        let mut index = SubscriptionIndex::default();
        for (id, json) in all {
            match serde_json::from_slice::<Subscriber>(&json) {
                Ok(sub) => index.insert(sub),
                Err(e) => {
                    tracing::warn!(subscription = %id, error = %e, "skipping a stored subscription that cannot be read")
                }
            }
        }
        let index = Arc::new(index);
        let mut c = self.cache.write().unwrap_or_else(|p| p.into_inner());
        *c = Cache {
            version: Some(version.unwrap_or(0)),
            index: Arc::clone(&index),
        };
        Ok(index)
    }

    async fn put(&self, sub: Subscriber) -> Result<()> {
        sub.validate()?;
        let json = serde_json::to_vec(&sub).map_err(|e| {
            Error::Core(thorn_core::Error::Store {
                retryable: false,
                source: e.into(),
            })
        })?;
        let mut conn = self.conn.get().await?;
        let _: i64 = scripts::STORE_PUT
            .key(&self.subs)
            .key(&self.version)
            .arg(sub.id.to_string())
            .arg(json)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.conn.err(e))?;
        Ok(())
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        let mut conn = self.conn.get().await?;
        let n: i64 = scripts::STORE_REMOVE
            .key(&self.subs)
            .key(&self.version)
            .arg(id.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.conn.err(e))?;
        Ok(n == 1)
    }
}

/// Turns this crate's error into a [`thorn_core::Error`] (a retryable store
/// error when Redis is unreachable).
pub fn into_core(e: Error) -> thorn_core::Error {
    match e {
        Error::Core(e) => e,
        other => thorn_core::Error::Store {
            retryable: other.is_retryable(),
            source: other.into(),
        },
    }
}

#[async_trait]
impl SubscriberStore for RedisStore {
    async fn matching(
        &self,
        event: &EventName,
        sender: Option<&str>,
    ) -> thorn_core::Result<Vec<Arc<Subscriber>>> {
        let index = self.index().await.map_err(into_core)?;
        Ok(index.matching(event, sender))
    }

    async fn add(&self, subscriber: Subscriber) -> thorn_core::Result<()> {
        self.put(subscriber).await.map_err(into_core)
    }

    async fn remove(&self, id: Uuid) -> thorn_core::Result<bool> {
        self.delete(id).await.map_err(into_core)
    }

    async fn get(&self, id: Uuid) -> thorn_core::Result<Option<Arc<Subscriber>>> {
        let index = self.index().await.map_err(into_core)?;
        Ok(index.get(id).cloned())
    }

    async fn all(&self) -> thorn_core::Result<Vec<Arc<Subscriber>>> {
        let index = self.index().await.map_err(into_core)?;
        Ok(index.iter().cloned().collect())
    }
}
