//! `Thorn`, the entry point: match, encode, build deliveries, dispatch.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use uuid::Uuid;

use crate::buffer::{self, BufferOptions, Held, InFlight, Rescue};
use crate::codec;
use crate::config::Config;
use crate::delivery::{Batch, Delivery, PreparedEvent};
use crate::dispatcher::{BoxFuture, Dispatcher};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::registry::Registry;
use crate::report::{AttemptEnd, Outcome, Report, Status, notify};
use crate::store::{MemoryStore, SubscriberStore};
use crate::subscriber::Subscriber;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Sends events to every matching subscriber through the configured
/// dispatcher. Cheap to clone; clones share everything.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> thorn_core::Result<()> {
/// use thorn_core::{Config, Event, Registry, Status, Subscriber, Thorn};
///
/// let config = Config::builder().dispatcher("disabled").build()?;
/// let thorn = Thorn::builder().config(config).registry(Registry::new()).build()?;
/// thorn.subscribe(Subscriber::builder("article.*", "https://example.com/hooks", "s3cret").build()?).await?;
///
/// let report = thorn.send(Event::new("article.created", serde_json::json!({"id": 1}))?).await?;
/// assert_eq!(report.count(Status::Dropped), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Thorn {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    store: Arc<dyn SubscriberStore>,
    dispatcher: Arc<dyn Dispatcher>,
    config: Config,
    /// Events whose flush failed or whose scope was dropped, and the
    /// background flushes of dropped scopes.
    held: Held,
}

impl Rescue for Inner {
    fn held(&self) -> &Held {
        &self.held
    }

    fn flush(self: Arc<Self>) -> BoxFuture<'static, Result<Report>> {
        Box::pin(async move { Thorn { inner: self }.flush().await })
    }
}

impl fmt::Debug for Thorn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thorn")
            .field("dispatcher", &self.inner.dispatcher.name())
            .field("store", &self.inner.store)
            .field("held", &self.inner.held.len())
            .finish_non_exhaustive()
    }
}

impl Thorn {
    /// Starts building a Thorn.
    pub fn builder() -> ThornBuilder {
        ThornBuilder::default()
    }

    /// A Thorn with `config`, its backend built from `registry`, and an
    /// in-memory store (holding the `THORN_SUBSCRIBERS` file, if set).
    pub fn new(config: Config, registry: &Registry) -> Result<Self> {
        Self::builder()
            .config(config)
            .registry(registry.clone())
            .build()
    }

    /// A Thorn with the settings of the process environment
    /// ([`Config::from_env`]) and the backend `THORN_DISPATCHER` names,
    /// from the backends linked into the program ([`Registry::linked`]:
    /// with the `thorn` crate, those of its enabled features).
    ///
    /// ```no_run
    /// use thorn_core::Thorn;
    /// let thorn = Thorn::from_env()?;
    /// # Ok::<(), thorn_core::Error>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        Self::new(Config::from_env()?, &Registry::linked())
    }

    /// A Thorn with the settings of the process environment
    /// ([`Config::from_env`]) and the backend `THORN_DISPATCHER` names,
    /// from `registry`: the way to combine the environment with backends of
    /// your own.
    ///
    /// ```no_run
    /// use thorn_core::{Registry, Thorn, disabled::Disabled};
    /// let mut registry = Registry::new();
    /// registry.register("quiet", |_config: &thorn_core::Config| Ok(Disabled::default()));
    /// // With THORN_DISPATCHER=quiet in the environment, the Thorn uses it.
    /// let thorn = Thorn::from_env_with(&registry).unwrap();
    /// # let _ = thorn;
    /// ```
    pub fn from_env_with(registry: &Registry) -> Result<Self> {
        Self::new(Config::from_env()?, registry)
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The backend.
    pub fn dispatcher(&self) -> &Arc<dyn Dispatcher> {
        &self.inner.dispatcher
    }

    /// The subscriber store.
    pub fn store(&self) -> &Arc<dyn SubscriberStore> {
        &self.inner.store
    }

    /// Adds a subscription to the store, once the recipient policy allows
    /// its URL: the scheme, the port and a literal address are checked now,
    /// with the error a send would give; a name is checked on each
    /// connection, on the addresses it resolves to.
    pub async fn subscribe(&self, subscriber: Subscriber) -> Result<()> {
        self.inner.config.recipients.check_url(subscriber.url())?;
        self.inner.store.add(subscriber).await
    }

    /// Removes the subscription `id` from the store; whether it was there.
    pub async fn unsubscribe(&self, id: Uuid) -> Result<bool> {
        self.inner.store.remove(id).await
    }

    /// How many events are held for the next flush (outside any scope).
    pub fn held_events(&self) -> usize {
        self.inner.held.len()
    }

    /// Sends `event` to every matching subscriber (and its extra ones).
    ///
    /// Inside a buffer scope of this task the event is held and the report
    /// says [`Status::Buffered`]; otherwise the dispatcher's report is
    /// returned. If the dispatcher fails (say, its queue is unreachable), the
    /// error is returned and the event is held: the next [`flush`](Self::flush)
    /// delivers it.
    pub async fn send(&self, event: Event) -> Result<Report> {
        let mut prepared = self.prepare(event).await?;
        // Deliveries that failed before any attempt are settled here, for
        // every backend alike; the others go on.
        let failed = std::mem::take(&mut prepared.failed);
        for outcome in &failed {
            notify(&self.inner.config.observers, outcome, AttemptEnd::Error);
        }
        if prepared.deliveries.is_empty() {
            return Ok(Report { outcomes: failed });
        }
        let mut report = match buffer::hold(self.inner.id, prepared) {
            Ok(outcomes) => Report { outcomes },
            Err(p) => self.dispatch(Batch::one(p), false).await?,
        };
        report.outcomes.extend(failed);
        Ok(report)
    }

    /// Matches, encodes once per content type, and builds the deliveries.
    pub async fn prepare(&self, event: Event) -> Result<PreparedEvent> {
        let mut subs = if event.matched {
            self.inner
                .store
                .matching(&event.name, event.sender.as_deref())
                .await?
        } else {
            Vec::with_capacity(event.extra.len())
        };
        subs.extend(event.extra.iter().cloned());
        let envelope = self.inner.config.envelope;
        let standard = self.inner.config.standard_webhooks;
        let hmac_signer = self.inner.config.hmac_signer;
        let mut bodies: [Option<std::result::Result<Bytes, Arc<str>>>; 2] = [None, None];
        let mut deliveries = Vec::with_capacity(subs.len());
        let mut failed = Vec::new();
        let sent = std::time::SystemTime::now();
        for sub in subs {
            let slot = &mut bodies[sub.content_type.index()];
            let encoded = slot.get_or_insert_with(|| {
                codec::encode(&event, sub.content_type, envelope)
                    .map_err(|e| Arc::from(e.to_string()))
            });
            let body = match encoded {
                Ok(b) => b.clone(),
                // The payload cannot take this subscriber's form: its
                // delivery fails for good, and the others still go.
                Err(reason) => {
                    failed.push(unencodable(&event, sub, reason));
                    continue;
                }
            };
            deliveries.push(Delivery {
                id: match event.id {
                    Some((id, first_sent)) => crate::delivery::derived_id(id, sub.id, first_sent),
                    None => crate::delivery::new_id(sent),
                },
                event: event.name.clone(),
                subscriber: sub,
                body,
                timeout: event.timeout,
                standard_webhooks: standard,
                hmac_signer,
            });
        }
        Ok(PreparedEvent {
            name: event.name,
            deliveries,
            failed,
        })
    }

    async fn dispatch(&self, batch: Batch, rescue_if_dropped: bool) -> Result<Report> {
        if !rescue_if_dropped {
            // A direct send that is dropped was given up by its caller;
            // only a failure keeps the events.
            return match self.inner.dispatcher.dispatch(&batch).await {
                Ok(report) => Ok(report),
                Err(e) => {
                    self.inner.held.hold(batch.events);
                    Err(e)
                }
            };
        }
        let flight = InFlight::new(batch, Arc::clone(&self.inner) as Arc<dyn Rescue>);
        match self.inner.dispatcher.dispatch(flight.batch()).await {
            Ok(report) => {
                flight.settle();
                Ok(report)
            }
            Err(e) => {
                flight.give_back();
                Err(e)
            }
        }
    }

    /// Delivers everything held: the events of this task's buffer scope, if
    /// any, and those kept from failed flushes or dropped scopes, as one
    /// batch in send order. On failure they stay held for the next flush.
    pub async fn flush(&self) -> Result<Report> {
        let events = self.inner.held.take_all(self.inner.id);
        if events.is_empty() {
            return Ok(Report::default());
        }
        self.dispatch(Batch { events }, true).await
    }

    /// Waits for the background flushes of dropped or cancelled scopes to
    /// end, then flushes everything held: the call to make before the
    /// program exits, so that no event handed to Thorn ends with the
    /// process. On failure the events stay held, as with
    /// [`flush`](Self::flush). The Thorn can still be used afterwards.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> thorn_core::Result<()> {
    /// # use thorn_core::{Config, Registry, Thorn};
    /// # let config = Config::builder().dispatcher("disabled").build()?;
    /// # let thorn = Thorn::new(config, &Registry::new())?;
    /// // ... the program's sends ...
    /// let report = thorn.shutdown().await?;
    /// println!("{} deliveries on the way out", report.outcomes.len());
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self) -> Result<Report> {
        self.inner.held.background_flushes().await;
        self.flush().await
    }

    /// Flushes if the scope's `flush_freq` sends were made or its
    /// `flush_timeout` passed since the last flush; `None` when not due (or
    /// outside a scope).
    pub async fn maybe_flush(&self) -> Result<Option<Report>> {
        if buffer::flush_due(self.inner.id) {
            self.flush().await.map(Some)
        } else {
            Ok(None)
        }
    }

    /// Whether this task is inside a buffer scope of this Thorn.
    pub fn is_buffering(&self) -> bool {
        buffer::is_open(self.inner.id)
    }

    /// Runs `fut` in a buffer scope: every send this task makes inside it
    /// is held and delivered when the scope ends. Returns `fut`'s output and
    /// the flush's report. Inside another scope of this Thorn, nothing is
    /// flushed at the end (the outermost scope does that) and the report is
    /// empty.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> thorn_core::Result<()> {
    /// # use thorn_core::{Config, Event, Registry, Status, Subscriber, Thorn};
    /// # let thorn = Thorn::builder().config(Config::builder().dispatcher("disabled").build()?).registry(Registry::new()).build()?;
    /// # thorn.subscribe(Subscriber::builder("*", "https://example.com/", "k").build()?).await?;
    /// let ((), flushed) = thorn
    ///     .buffer_events(async {
    ///         for i in 0..3 {
    ///             let r = thorn.send(Event::new("a.b", serde_json::json!({"i": i})).unwrap()).await.unwrap();
    ///             assert_eq!(r.count(Status::Buffered), 1);
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(flushed?.count(Status::Dropped), 3);
    /// # Ok(()) }
    /// ```
    pub async fn buffer_events<F: Future>(&self, fut: F) -> (F::Output, Result<Report>) {
        self.buffer_events_with(BufferOptions::default(), fut).await
    }

    /// Like [`buffer_events`](Self::buffer_events), with `flush_freq` /
    /// `flush_timeout` for [`maybe_flush`](Self::maybe_flush). In a nested
    /// scope the outermost scope's options stay in force.
    pub async fn buffer_events_with<F: Future>(
        &self,
        options: BufferOptions,
        fut: F,
    ) -> (F::Output, Result<Report>) {
        buffer::run(&self.inner, self.inner.id, options, fut, || self.flush()).await
    }
}

/// The final outcome of a delivery whose body could not be encoded.
fn unencodable(event: &Event, subscriber: Arc<Subscriber>, reason: &str) -> Outcome {
    let delivery = match event.id {
        Some((id, sent)) => crate::delivery::derived_id(id, subscriber.id, sent),
        None => crate::delivery::new_id(std::time::SystemTime::now()),
    };
    Outcome {
        delivery,
        subscriber,
        event: event.name.clone(),
        status: Status::Failed,
        http_status: None,
        attempts: 0,
        duration: std::time::Duration::ZERO,
        error: Some(reason.to_owned()),
    }
}

/// The subscriptions of the file at `path`, each allowed by the recipient
/// policy; a refused one is an error naming it, so that a bad file is found
/// at start-up rather than on every send.
fn allowed_subscribers(path: &std::path::Path, config: &Config) -> Result<Vec<Subscriber>> {
    let subscribers = crate::store::load_file(path)?;
    for (i, sub) in subscribers.iter().enumerate() {
        if let Err(refusal) = config.recipients.check_url(sub.url()) {
            return Err(Error::SubscribersFile {
                path: path.display().to_string(),
                reason: format!("subscription {}: recipient refused: {refusal}", i + 1),
            });
        }
    }
    Ok(subscribers)
}

/// Builds a [`Thorn`].
#[derive(Default)]
#[must_use]
pub struct ThornBuilder {
    config: Option<Config>,
    registry: Option<Registry>,
    store: Option<Arc<dyn SubscriberStore>>,
    dispatcher: Option<Arc<dyn Dispatcher>>,
}

impl fmt::Debug for ThornBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThornBuilder")
            .field("config", &self.config)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl ThornBuilder {
    /// The settings (default: [`Config::default`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The registry to build the backend from (default:
    /// [`Registry::linked`], the backends linked into the program).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The subscriber store (default: a [`MemoryStore`] holding the
    /// `THORN_SUBSCRIBERS` file, if set).
    pub fn store(mut self, store: Arc<dyn SubscriberStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// A backend instance, instead of building one by name.
    pub fn dispatcher(mut self, dispatcher: Arc<dyn Dispatcher>) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// Builds, loading the subscriptions file and the backend.
    pub fn build(self) -> Result<Thorn> {
        let config = self.config.unwrap_or_default();
        let store: Arc<dyn SubscriberStore> = match self.store {
            Some(s) => s,
            None => match &config.subscribers_file {
                Some(path) => Arc::new(MemoryStore::with(allowed_subscribers(path, &config)?)),
                None => Arc::new(MemoryStore::new()),
            },
        };
        let dispatcher = match self.dispatcher {
            Some(d) => d,
            None => self
                .registry
                .unwrap_or_else(Registry::linked)
                .build(&config)?,
        };
        Ok(Thorn {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                store,
                dispatcher,
                config,
                held: Held::default(),
            }),
        })
    }
}
