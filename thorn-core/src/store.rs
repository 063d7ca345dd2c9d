//! Where subscriptions live: the `SubscriberStore` trait, an in-memory
//! store, and static subscriptions from a file.
//!
//! The file that `THORN_SUBSCRIBERS` names is JSON: an array of
//! subscriptions, or an object with a `subscribers` array. Each has `event`
//! (the pattern; `pattern` is another name for it), `url` and `secret`, and
//! optionally `id`, `owner`, `digest` (`sha1`/`sha256`/`sha512`),
//! `content_type` (`application/json` or
//! `application/x-www-form-urlencoded`), `signer` (`hmac` or `compat`),
//! `signatures` (`hook` or `both`), `previous_secrets` (secrets being
//! rotated out), `previous_until`, `enabled`, `rate_limit`
//! (`{"per_second": 10, "burst": 20}`), `max_in_flight` and `ordered`; the README's "The
//! subscriptions file" says what each does:
//!
//! ```json
//! [{"event": "article.*", "url": "https://example.com/hooks", "secret": "s3cret"}]
//! ```

use std::path::Path;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::event::EventName;
use crate::pattern::SubscriptionIndex;
use crate::subscriber::Subscriber;

/// A source of subscriptions that Thorn matches events against.
/// Implement it with [`async_trait`](crate::async_trait).
///
/// Only [`matching`](Self::matching) is required: it is all a send needs.
/// The methods that change or list subscriptions have defaults that answer
/// with an error saying the store does not support them, so a read-only
/// store (a fixed list, a view of another system) is a few lines:
///
/// ```
/// use std::sync::Arc;
/// use thorn_core::{EventName, Result, Subscriber, SubscriberStore, async_trait};
///
/// #[derive(Debug)]
/// struct Everyone(Vec<Arc<Subscriber>>);
///
/// #[async_trait]
/// impl SubscriberStore for Everyone {
///     async fn matching(&self, _event: &EventName, _sender: Option<&str>) -> Result<Vec<Arc<Subscriber>>> {
///         Ok(self.0.clone())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait SubscriberStore: Send + Sync + std::fmt::Debug {
    /// The subscriptions matching `event` (with a `sender`, only that
    /// owner's).
    async fn matching(
        &self,
        event: &EventName,
        sender: Option<&str>,
    ) -> Result<Vec<Arc<Subscriber>>>;

    /// Adds or replaces (by id) a subscription.
    async fn add(&self, subscriber: Subscriber) -> Result<()> {
        let _ = subscriber;
        Err(unsupported(self, "adding subscriptions"))
    }

    /// Adds a new subscription, in one atomic step with the checks: an
    /// [`Error::Conflict`] when its id is taken, and with `max_per_owner`,
    /// an [`Error::OwnerLimit`] when its owner already has that many (so
    /// that concurrent creations cannot pass the limit together). The
    /// stored subscription, at revision 1.
    async fn create(
        &self,
        subscriber: Subscriber,
        max_per_owner: Option<usize>,
    ) -> Result<Arc<Subscriber>> {
        let _ = (subscriber, max_per_owner);
        Err(unsupported(self, "creating subscriptions atomically"))
    }

    /// Replaces a subscription with `next` (found by its id) if the stored
    /// one is still at `next.revision`, the revision it was read at: a
    /// compare-and-set. An [`Error::Conflict`] when it changed or went
    /// meanwhile; nothing is written then. The stored subscription, its
    /// revision one more.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> thorn_core::Result<()> {
    /// use thorn_core::{MemoryStore, Subscriber, SubscriberStore};
    /// let store = MemoryStore::new();
    /// let sub = Subscriber::builder("order.*", "https://example.com/hooks", "s3cret").build()?;
    /// let read = store.create(sub, None).await?;
    /// let mut first = (*read).clone();
    /// first.enabled = false;
    /// let mut second = (*read).clone();
    /// second.url = "https://example.com/other".parse().unwrap();
    /// assert_eq!(store.update(first).await?.revision, 2);
    /// // Read before the first change: refused, not overwritten.
    /// assert!(store.update(second).await.unwrap_err().is_conflict());
    /// # Ok(()) }
    /// ```
    async fn update(&self, next: Subscriber) -> Result<Arc<Subscriber>> {
        let _ = next;
        Err(unsupported(self, "changing subscriptions atomically"))
    }

    /// Removes a subscription; whether it existed.
    async fn remove(&self, id: Uuid) -> Result<bool> {
        let _ = id;
        Err(unsupported(self, "removing subscriptions"))
    }

    /// The subscription with this id.
    async fn get(&self, id: Uuid) -> Result<Option<Arc<Subscriber>>> {
        let _ = id;
        Err(unsupported(self, "looking subscriptions up by id"))
    }

    /// Every subscription of one owner (by default, [`all`](Self::all)
    /// filtered).
    async fn by_owner(&self, owner: &str) -> Result<Vec<Arc<Subscriber>>> {
        let mut subs = self.all().await?;
        subs.retain(|s| s.owner.as_deref() == Some(owner));
        Ok(subs)
    }

    /// Every subscription, of every owner (for operators' tools; an API
    /// serving owners uses [`by_owner`](Self::by_owner)).
    async fn all(&self) -> Result<Vec<Arc<Subscriber>>> {
        Err(unsupported(self, "listing every subscription"))
    }
}

/// The error of a store method that a store does not implement.
fn unsupported<S: SubscriberStore + ?Sized>(store: &S, what: &str) -> Error {
    Error::Store {
        retryable: false,
        source: format!(
            "{store:?} does not support {what}; use a store that does, such as MemoryStore"
        )
        .into(),
    }
}

/// The reason of a [`Error::Conflict`] for a subscription read at
/// revision `read` and now at `now`.
pub fn changed(read: u64, now: u64) -> String {
    format!("changed since it was read (revision {read}, now {now})")
}

/// Subscriptions in memory, indexed for matching.
#[derive(Debug, Default)]
pub struct MemoryStore {
    index: RwLock<SubscriptionIndex>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `subscribers`.
    pub fn with(subscribers: impl IntoIterator<Item = Subscriber>) -> Self {
        let mut index = SubscriptionIndex::default();
        for s in subscribers {
            index.insert(s);
        }
        MemoryStore {
            index: RwLock::new(index),
        }
    }

    /// A store holding the subscriptions of a JSON file (see the module docs).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::with(load_file(path)?))
    }

    /// Adds a subscription at once.
    pub fn insert(&self, subscriber: Subscriber) {
        self.write().insert(subscriber);
    }

    /// The subscriptions matching `event`, at once.
    pub fn matching_now(&self, event: &EventName, sender: Option<&str>) -> Vec<Arc<Subscriber>> {
        self.read().matching(event, sender)
    }

    /// How many subscriptions it holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, SubscriptionIndex> {
        // A panic while holding the lock cannot leave the index half-changed
        // in a way that matters to readers, so a poisoned lock is still used.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, SubscriptionIndex> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl SubscriberStore for MemoryStore {
    async fn matching(
        &self,
        event: &EventName,
        sender: Option<&str>,
    ) -> Result<Vec<Arc<Subscriber>>> {
        Ok(self.matching_now(event, sender))
    }

    async fn add(&self, mut subscriber: Subscriber) -> Result<()> {
        subscriber.validate()?;
        let mut index = self.write();
        subscriber.revision = index.get(subscriber.id).map_or(1, |old| old.revision + 1);
        index.insert(subscriber);
        Ok(())
    }

    async fn create(
        &self,
        mut subscriber: Subscriber,
        max_per_owner: Option<usize>,
    ) -> Result<Arc<Subscriber>> {
        subscriber.validate()?;
        let mut index = self.write();
        if index.get(subscriber.id).is_some() {
            return Err(Error::conflict(subscriber.id, "already exists"));
        }
        if let (Some(limit), Some(owner)) = (max_per_owner, subscriber.owner.as_deref()) {
            let held = index
                .iter()
                .filter(|s| s.owner.as_deref() == Some(owner))
                .count();
            if held >= limit {
                return Err(Error::owner_limit(owner, limit));
            }
        }
        subscriber.revision = 1;
        let stored = Arc::new(subscriber);
        index.insert(Arc::clone(&stored));
        Ok(stored)
    }

    async fn update(&self, mut next: Subscriber) -> Result<Arc<Subscriber>> {
        next.validate()?;
        let mut index = self.write();
        let Some(held) = index.get(next.id) else {
            return Err(Error::conflict(next.id, "was removed"));
        };
        if held.revision != next.revision {
            return Err(Error::conflict(
                next.id,
                changed(next.revision, held.revision),
            ));
        }
        next.revision += 1;
        let stored = Arc::new(next);
        index.insert(Arc::clone(&stored));
        Ok(stored)
    }

    async fn remove(&self, id: Uuid) -> Result<bool> {
        Ok(self.write().remove(id).is_some())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Arc<Subscriber>>> {
        Ok(self.read().get(id).cloned())
    }

    async fn all(&self) -> Result<Vec<Arc<Subscriber>>> {
        Ok(self.read().iter().cloned().collect())
    }
}

/// Reads the subscriptions of a JSON file (see the module docs).
pub fn load_file(path: impl AsRef<Path>) -> Result<Vec<Subscriber>> {
    let path = path.as_ref();
    let fail = |reason: String| Error::SubscribersFile {
        path: path.display().to_string(),
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(format!("{e}; check THORN_SUBSCRIBERS")))?;
    parse_subscribers(&text).map_err(fail)
}

/// Parses the JSON of a subscriptions file.
pub fn parse_subscribers(text: &str) -> std::result::Result<Vec<Subscriber>, String> {
    // Parse each entry on its own so that an error names which one is bad.
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let items = match &raw {
        serde_json::Value::Array(a) => a.as_slice(),
        serde_json::Value::Object(o) => match o.get("subscribers") {
            Some(serde_json::Value::Array(a)) => a.as_slice(),
            _ => {
                return Err(
                    "expected an array of subscriptions or {\"subscribers\": [...]}".into(),
                );
            }
        },
        _ => return Err("expected an array of subscriptions or {\"subscribers\": [...]}".into()),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let sub: Subscriber = serde_json::from_value(item.clone()).map_err(|e| {
            format!(
                "subscription {}: {e}; each needs \"event\" (or \"pattern\"), \"url\" and \"secret\" (the README's \"The subscriptions file\" lists every field)",
                i + 1
            )
        })?;
        sub.validate()
            .map_err(|e| format!("subscription {}: {e}", i + 1))?;
        out.push(sub);
    }
    Ok(out)
}
