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
//! **Each subscription's health is kept in this process**, shared by every
//! clone of [`Inline`] (so by every `send` of one [`Thorn`](thorn_core::Thorn)).
//! It costs nothing where it is not needed: a delivery to a subscription
//! without limits of its own, while no circuit is open and no receiver
//! asked for a pause, takes no lock and reads no clock for it.
//!
//! - *Circuit breaker* ([`Circuits`]): after its receiver kept failing, a
//!   subscription's deliveries are answered [`Status::Deferred`] at once,
//!   without an attempt, until a probe goes through and succeeds.
//! - *Rate limit* ([`Subscriber::rate_limit`](thorn_core::Subscriber::rate_limit)):
//!   before each attempt the delivery takes the subscription's next slot
//!   ([`Pace`]) and waits for it, so the caller's `send` takes longer; it
//!   is never failed for the limit. The limit holds across concurrent
//!   sends of the process, not across processes.
//! - *Cap in flight* ([`Subscriber::max_in_flight`](thorn_core::Subscriber::max_in_flight)):
//!   at most that many attempts to the subscription at once in the
//!   process; the others wait their turn, first come first served.
//! - *A receiver's pause*: a 429 with `Retry-After` pauses its
//!   subscription until then (at most the breaker's longest cool-down):
//!   later deliveries to it, in any send, are answered
//!   [`Status::Deferred`] at once without a request, and the delivery that
//!   got the 429 too when the pause is longer than [`MAX_DELAY`] (else it
//!   waits the pause out and tries again). Other subscriptions go on. A
//!   pause is no circuit opening: observers hear of no transition and
//!   `thorn_circuit_openings_total` does not count it.
//! - *Strict order* ([`Subscriber::ordered`](thorn_core::Subscriber::ordered)):
//!   one send's deliveries to the subscription at a time, in the order
//!   the sends reached it: a later send's deliveries wait until the
//!   earlier ones have ended, all their in-process attempts included.
//!   Without it, one batch's events still go in order (its lane), but
//!   concurrent sends interleave and a retried delivery may be overtaken.
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

use thorn_core::breaker::{Admission, now_ms};
use thorn_core::{
    Batch, Config, Delivery, Dispatcher, Outcome, Registry, Report, Result, RetryPolicy, Status,
    async_trait,
};
use thorn_http::{AttemptRecorder, Circuits, HttpClient, Pace, Turn, group_by_subscription};
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

/// The `"default"` backend. Cheap to clone; clones share the HTTP client,
/// the metrics, the circuits and the pace of the subscriptions.
#[derive(Clone, Debug)]
pub struct Inline {
    client: HttpClient,
    retry: RetryPolicy,
    concurrency: usize,
    recorder: AttemptRecorder,
    circuits: Arc<Circuits>,
    pace: Arc<Pace>,
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
            pace: Arc::new(Pace::new()),
        }
    }

    /// The subscriptions' circuits and pauses, kept in this process.
    pub fn circuits(&self) -> &Circuits {
        &self.circuits
    }

    /// The subscriptions' rate limits, caps in flight and turns, kept in
    /// this process.
    pub fn pace(&self) -> &Pace {
        &self.pace
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
    /// the in-process limit; an ordered subscription's delivery first
    /// waits for its turn.
    pub async fn deliver(&self, delivery: &Delivery) -> Outcome {
        let _turn = self.pace.turn(&delivery.subscriber).await;
        self.deliver_in_turn(delivery).await
    }

    /// Delivers one delivery whose turn, if its subscription is ordered,
    /// the caller holds.
    async fn deliver_in_turn(&self, delivery: &Delivery) -> Outcome {
        let span = self.recorder.span(delivery);
        self.attempts(delivery).instrument(span).await
    }

    async fn attempts(&self, delivery: &Delivery) -> Outcome {
        let mut outcome = Outcome::new(delivery, Status::Retrying);
        let max = self.max_attempts();
        let subscriber = &delivery.subscriber;
        let id = subscriber.id;
        // Read once: a subscription without limits of its own never
        // reaches the pace.
        let paced = subscriber.rate_limit.is_some() || subscriber.max_in_flight.is_some();
        for n in 1..=max {
            // A pause or an open circuit answers at once: no attempt, no
            // wait.
            if let Some(until) = self.circuits.paused_now(id) {
                self.recorder.defer_paused(&mut outcome, until);
                break;
            }
            if let Admission::Defer { until } = self.circuits.admit_now(id) {
                self.recorder.defer(&mut outcome, until);
                break;
            }
            let attempt = if paced {
                // The place first, then the slot: a slot is taken only when
                // the attempt can go, so waiting for a place never bunches
                // attempts closer than the rate allows.
                let _place = self.pace.in_flight(subscriber).await;
                if !self.pace.wait_for_slot(subscriber).await.is_zero() {
                    // The receiver may have asked for a pause meanwhile.
                    if let Some(until) = self.circuits.paused_now(id) {
                        self.recorder.defer_paused(&mut outcome, until);
                        break;
                    }
                }
                self.client.attempt(delivery, n).await
            } else {
                self.client.attempt(delivery, n).await
            };
            if let Some(transition) = self.circuits.record_attempt(id, &attempt) {
                self.recorder
                    .circuit(subscriber, transition, self.circuits.open());
            }
            let paused = self.circuits.pause_for(id, &attempt);
            if let Some(until) = paused {
                self.recorder.paused(subscriber, until);
            }
            if self.recorder.record(&mut outcome, &attempt, n, n < max) != Status::Retrying {
                break;
            }
            let mut delay = self.retry.delay(n, attempt.retry_after).min(MAX_DELAY);
            if let Some(until) = paused {
                let pause = Duration::from_millis(until.saturating_sub(now_ms()));
                if pause > MAX_DELAY {
                    // Longer than the caller is kept waiting: answered now,
                    // as the next send's delivery would be.
                    self.recorder.defer_paused(&mut outcome, until);
                    break;
                }
                delay = delay.max(pause);
            }
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
                        // An ordered subscription's lane keeps its turn
                        // throughout: another send's deliveries to it go
                        // before or after this batch's, not between them.
                        let _turn = this.turn(lane).await;
                        for (i, d) in lane {
                            out.push((*i, this.deliver_in_turn(d).await));
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

impl Inline {
    /// The turn of `lane`'s subscription, when it is ordered.
    async fn turn(&self, lane: &Lane) -> Option<Turn> {
        match lane.first() {
            Some((_, d)) => Some(self.pace.turn(&d.subscriber).await),
            None => None,
        }
    }
}

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
