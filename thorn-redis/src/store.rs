//! A [`SubscriberStore`] in Redis, shared by producers and workers.
//!
//! Subscriptions live in one hash (`thorn:{name}:subs`, id → JSON) beside a
//! version counter (`thorn:{name}:subs-version`) that every change bumps in
//! the same script, each subscription's revision
//! (`thorn:{name}:subs-revision`) and each owner's count
//! (`thorn:{name}:subs-owners`). Every change is one script that checks
//! what it depends on (the revision read, the owner's count) and writes in
//! the same step. Each process keeps the whole set in a cached
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
    /// The keys of every store script, in its order.
    keys: [String; 5],
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
            keys: [
                format!("thorn:{{{name}}}:subs"),
                format!("thorn:{{{name}}}:subs-version"),
                format!("thorn:{{{name}}}:subs-revision"),
                format!("thorn:{{{name}}}:subs-owners"),
                format!("thorn:{{{name}}}:subs-counted"),
            ],
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
            .get(self.version_key())
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
        type Snapshot = (
            Option<i64>,
            Vec<(String, Vec<u8>)>,
            std::collections::HashMap<String, u64>,
        );
        let (version, all, revisions): Snapshot = redis::pipe()
            .atomic()
            .get(self.version_key())
            .hgetall(&self.keys[0])
            .hgetall(&self.keys[2])
            .query_async(&mut conn)
            .await
            .map_err(|e| self.conn.err(e))?;
        let mut index = SubscriptionIndex::default();
        for (id, json) in all {
            match serde_json::from_slice::<Subscriber>(&json) {
                Ok(mut sub) => {
                    sub.revision = revisions.get(&id).copied().unwrap_or(0);
                    index.insert(sub);
                }
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

    fn version_key(&self) -> &str {
        &self.keys[1]
    }

    /// Runs a store script with its keys and `args`; its answer.
    async fn run(&self, script: &redis::Script, args: &[&[u8]]) -> Result<i64> {
        let mut invocation = script.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let mut conn = self.conn.get().await?;
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.conn.err(e))
    }

    /// `sub` as it is stored: validated, as JSON. The revision it may
    /// carry is not read back: the revisions hash is the one that counts.
    fn stored_json(sub: &Subscriber) -> Result<Vec<u8>> {
        sub.validate()?;
        serde_json::to_vec(sub).map_err(|e| {
            Error::Core(thorn_core::Error::Store {
                retryable: false,
                source: e.into(),
            })
        })
    }

    async fn put(&self, sub: Subscriber) -> Result<()> {
        let json = Self::stored_json(&sub)?;
        let id = sub.id.to_string();
        self.run(&scripts::STORE_PUT, &[id.as_bytes(), &json])
            .await?;
        Ok(())
    }

    async fn insert_new(
        &self,
        mut sub: Subscriber,
        limit: Option<usize>,
    ) -> Result<Arc<Subscriber>> {
        let json = Self::stored_json(&sub)?;
        let id = sub.id.to_string();
        let limit_arg = limit
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
            .to_string();
        match self
            .run(
                &scripts::STORE_CREATE,
                &[id.as_bytes(), &json, limit_arg.as_bytes()],
            )
            .await?
        {
            -1 => Err(thorn_core::Error::conflict(sub.id, "already exists").into()),
            -2 => Err(thorn_core::Error::owner_limit(
                sub.owner.as_deref().unwrap_or_default(),
                limit.unwrap_or_default(),
            )
            .into()),
            revision => {
                sub.revision = u64::try_from(revision).unwrap_or_default();
                Ok(Arc::new(sub))
            }
        }
    }

    async fn compare_and_set(&self, mut next: Subscriber) -> Result<Arc<Subscriber>> {
        let json = Self::stored_json(&next)?;
        let id = next.id.to_string();
        let read = next.revision.to_string();
        match self
            .run(
                &scripts::STORE_UPDATE,
                &[id.as_bytes(), &json, read.as_bytes()],
            )
            .await?
        {
            -1 => Err(thorn_core::Error::conflict(next.id, "was removed").into()),
            n if n <= -2 => {
                let now = u64::try_from(-2 - n).unwrap_or_default();
                Err(thorn_core::Error::conflict(
                    next.id,
                    thorn_core::store::changed(next.revision, now),
                )
                .into())
            }
            revision => {
                next.revision = u64::try_from(revision).unwrap_or_default();
                Ok(Arc::new(next))
            }
        }
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        let id = id.to_string();
        Ok(self.run(&scripts::STORE_REMOVE, &[id.as_bytes()]).await? == 1)
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

    async fn create(
        &self,
        subscriber: Subscriber,
        max_per_owner: Option<usize>,
    ) -> thorn_core::Result<Arc<Subscriber>> {
        self.insert_new(subscriber, max_per_owner)
            .await
            .map_err(into_core)
    }

    async fn update(&self, next: Subscriber) -> thorn_core::Result<Arc<Subscriber>> {
        self.compare_and_set(next).await.map_err(into_core)
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
