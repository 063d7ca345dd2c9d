//! The `"default"` backend of Thorn webhooks: delivers in the calling task.
//!
//! [`Dispatcher::dispatch`] returns when every delivery of the batch has
//! ended, with a [`Report`] of each outcome. Deliveries go out concurrently,
//! at most `Config::concurrency` at once, started grouped by URL origin so
//! that pooled keep-alive connections are reused; the deliveries of one
//! subscription go one after another, in batch order, so a subscriber sees
//! one batch's events in the order they were sent. The lanes of a batch run
//! as tasks of the tokio runtime (at most `Config::concurrency` at once),
//! so a flush from `block_on` (the body of `#[tokio::main]`, which runs on
//! no worker thread) delivers as fast as one from a spawned task; a lane
//! driven from `block_on` itself ran at about half the rate, as every
//! answer had to wake that thread from another.
//!
//! **Retries are short and bounded**, because the caller waits: at most
//! [`MAX_ATTEMPTS`] attempts (fewer if `Config::retry` allows fewer, one if
//! retries are off), with the policy's backoff (or the receiver's
//! `Retry-After`) capped at [`MAX_DELAY`]. Longer, durable retries are the
//! `"redis"` backend's job.
//!
//! Every attempt is seen by `Config::observers` (non-final failures with
//! [`Status::Retrying`]), by `tracing` (a `thorn.delivery` span per delivery,
//! an event per attempt) and by the [`Metrics`] counters, all through
//! `thorn-http`'s [`AttemptRecorder`], the path the `"redis"` worker reports
//! through too; the lanes are `thorn-http`'s [`group_by_subscription`].
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> thorn_core::Result<()> {
//! use thorn_core::{Config, Event, Registry, Subscriber, Thorn};
//!
//! let mut registry = Registry::new();
//! thorn_inline::register(&mut registry);
//! let thorn = Thorn::new(Config::default(), &registry)?;
//! thorn.subscribe(Subscriber::builder("article.*", "https://example.com/hooks", "s3cret").build()?).await?;
//! let report = thorn.send(Event::new("article.created", serde_json::json!({"id": 1}))?).await?;
//! println!("{:?}", report.outcomes);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use thorn_core::breaker::Admission;
use thorn_core::{
    Batch, Config, Delivery, Dispatcher, Outcome, Registry, Report, Result, RetryPolicy, Status,
    async_trait,
};
use thorn_http::{AttemptRecorder, Circuits, HttpClient, group_by_subscription};
use tokio::task::JoinSet;
use tracing::Instrument as _;

/// The counters of this backend, kept by `thorn-http` since every
/// HTTP-delivering backend counts into the same ones.
pub use thorn_http::Metrics;

/// The name this backend is registered under.
pub const NAME: &str = "default";

/// The most attempts of one delivery in process (the first and two retries).
pub const MAX_ATTEMPTS: u32 = 3;

/// The longest wait between two attempts in process.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// Registers the `"default"` backend (linking this crate does it for every
/// [`Registry::linked`]). It uses an [`HttpClient`] found in
/// `Config::extensions` (to share one pool with other code), else builds
/// one from the config; likewise for [`Metrics`].
pub fn register(registry: &mut Registry) {
    registry.register(NAME, Inline::new);
}

thorn_core::link_backend!(register);

/// The `"default"` backend. Cheap to clone; clones share the HTTP client
/// and the metrics.
#[derive(Clone, Debug)]
pub struct Inline {
    client: HttpClient,
    retry: RetryPolicy,
    concurrency: usize,
    recorder: AttemptRecorder,
    circuits: Arc<Circuits>,
}

impl Inline {
    /// Builds the backend from `config`.
    pub fn new(config: &Config) -> Result<Self> {
        let client = match config.extensions.get::<HttpClient>() {
            Some(c) => c.clone(),
            None => HttpClient::new(config)?,
        };
        Ok(Self::with_client(config, client))
    }

    /// Builds the backend around an existing client.
    pub fn with_client(config: &Config, client: HttpClient) -> Self {
        Inline {
            client,
            retry: config.retry,
            concurrency: config.concurrency.max(1),
            recorder: AttemptRecorder::new(config),
            circuits: Arc::new(Circuits::new(config.breaker)),
        }
    }

    /// The subscriptions' circuits, kept in this process.
    pub fn circuits(&self) -> &Circuits {
        &self.circuits
    }

    /// The counters of this backend.
    pub fn metrics(&self) -> &Metrics {
        self.recorder.metrics()
    }

    /// The HTTP client.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// How many attempts one delivery gets in process.
    pub fn max_attempts(&self) -> u32 {
        if self.retry.enabled {
            self.retry.max_retries.saturating_add(1).min(MAX_ATTEMPTS)
        } else {
            1
        }
    }

    /// Delivers one delivery: attempts until success, a final failure, or
    /// the in-process limit.
    pub async fn deliver(&self, delivery: &Delivery) -> Outcome {
        let span = self.recorder.span(delivery);
        self.attempts(delivery).instrument(span).await
    }

    async fn attempts(&self, delivery: &Delivery) -> Outcome {
        let mut outcome = Outcome::new(delivery, Status::Retrying);
        let max = self.max_attempts();
        let id = delivery.subscriber.id;
        for n in 1..=max {
            // An open circuit answers at once: no attempt, no wait.
            if let Admission::Defer { until } = self.circuits.admit_now(id) {
                self.recorder.defer(&mut outcome, until);
                break;
            }
            let attempt = self.client.attempt(delivery, n).await;
            if let Some(transition) = self.circuits.record_attempt(id, &attempt) {
                self.recorder
                    .circuit(&delivery.subscriber, transition, self.circuits.open());
            }
            if self.recorder.record(&mut outcome, &attempt, n, n < max) != Status::Retrying {
                break;
            }
            let delay = self.retry.delay(n, attempt.retry_after).min(MAX_DELAY);
            tokio::time::sleep(delay).await;
        }
        outcome
    }

    async fn dispatch_batch(&self, batch: &Batch) -> Report {
        let count = batch.delivery_count();
        if count == 1 {
            if let Some(d) = batch.deliveries().next() {
                return Report {
                    outcomes: vec![self.deliver(d).await],
                };
            }
        }
        // The lanes run on tasks of the runtime, not in the caller's future:
        // a caller on `block_on` (say, `main`) is no worker thread, and each
        // request's answer would have to wake it across threads. On worker
        // threads a lane and its connection's task wake each other in place,
        // and several lanes share both cores. Dropping the dispatch drops the
        // set, which aborts the lanes, as a dropped future would.
        let lanes = Arc::new(lanes(batch));
        let next = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        for _ in 0..lanes.len().min(self.concurrency) {
            let (this, lanes, next) = (self.clone(), Arc::clone(&lanes), Arc::clone(&next));
            set.spawn(
                async move {
                    let mut out = Vec::new();
                    while let Some(lane) = lanes.get(next.fetch_add(1, Ordering::Relaxed)) {
                        for (i, d) in lane {
                            out.push((*i, this.deliver(d).await));
                        }
                    }
                    out
                }
                .in_current_span(),
            );
        }
        let mut slots: Vec<Option<Outcome>> = vec![None; count];
        while let Some(done) = set.join_next().await {
            match done {
                Ok(outcomes) => {
                    for (i, o) in outcomes {
                        slots[i] = Some(o);
                    }
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Only aborted tasks end otherwise, and nothing aborts them
                // while this loop runs.
                Err(_) => {}
            }
        }
        Report {
            outcomes: slots.into_iter().flatten().collect(),
        }
    }
}

/// One subscription's deliveries with their places in the batch, in order.
type Lane = Vec<(usize, Delivery)>;

/// The batch's deliveries in lanes (see [`group_by_subscription`]). The
/// lanes own their deliveries (sharing subscription and body) so that
/// tasks can take them.
fn lanes(batch: &Batch) -> Vec<Lane> {
    let items = batch.deliveries().cloned().enumerate();
    group_by_subscription(items, |(_, d)| &d.subscriber)
}

#[async_trait]
impl Dispatcher for Inline {
    fn name(&self) -> &str {
        NAME
    }

    async fn dispatch(&self, batch: &Batch) -> Result<Report> {
        Ok(self.dispatch_batch(batch).await)
    }
}
