//! What became of each delivery: outcomes, reports and observers.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::breaker::Transition;
use crate::delivery::Delivery;
use crate::event::EventName;
use crate::subscriber::Subscriber;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The receiver answered 2xx.
    Delivered,
    /// Handed to a durable queue; a worker delivers it.
    Queued,
    /// Held by an open buffer; delivered when it is flushed.
    Buffered,
    /// Dropped on purpose (the `"disabled"` backend).
    Dropped,
    /// An attempt failed and another will follow (seen by observers).
    Retrying,
    /// The last attempt timed out.
    TimedOut,
    /// Failed for good: a permanent error, or retries used up.
    Failed,
    /// The receiver answered 410 Gone: the subscription should be removed.
    Gone,
    /// Not attempted: the subscription's circuit is open (its receiver
    /// kept failing), or its receiver asked for a pause (429 with
    /// `Retry-After`). Tried again once the circuit lets a probe through or
    /// the pause ends; the error says when.
    Deferred,
}

impl Status {
    /// Whether the delivery reached the receiver.
    pub const fn is_delivered(self) -> bool {
        matches!(self, Status::Delivered)
    }

    /// Whether the delivery failed (failed, timed out or gone), or was
    /// deferred by an open circuit without reaching its receiver.
    pub const fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::TimedOut | Status::Gone | Status::Deferred
        )
    }
}

/// The outcome of one delivery (or, for observers, of its latest attempt).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The delivery's id.
    pub delivery: Uuid,
    /// The subscription (its id, URL and owner), shared with the delivery.
    pub subscriber: Arc<Subscriber>,
    /// The event's name.
    pub event: EventName,
    /// Where it stands.
    pub status: Status,
    /// The HTTP status of the last response, if any.
    pub http_status: Option<u16>,
    /// How many attempts were made.
    pub attempts: u32,
    /// Time spent on all attempts.
    pub duration: Duration,
    /// The last error, if any.
    pub error: Option<String>,
}

impl Outcome {
    /// An outcome with no attempt made yet.
    pub fn new(delivery: &Delivery, status: Status) -> Self {
        Outcome {
            delivery: delivery.id,
            subscriber: Arc::clone(&delivery.subscriber),
            event: delivery.event.clone(),
            status,
            http_status: None,
            attempts: 0,
            duration: Duration::ZERO,
            error: None,
        }
    }
}

/// Every outcome of a send or a flush.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// One outcome per delivery, in the batch's order.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// How many outcomes have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }

    /// Whether no delivery failed.
    pub fn is_success(&self) -> bool {
        !self.outcomes.iter().any(|o| o.status.is_failure())
    }

    /// Appends another report's outcomes.
    pub fn extend(&mut self, other: Report) {
        self.outcomes.extend(other.outcomes);
    }

    /// The outcome of one delivery.
    pub fn get(&self, delivery: Uuid) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.delivery == delivery)
    }
}

/// Sees every attempt a backend makes. Each method gets the outcome as it
/// stands after that attempt; the default methods do nothing.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// The attempt got a 2xx.
    fn on_success(&self, _outcome: &Outcome) {}
    /// The attempt failed (a status that is not 2xx, a refusal, a connection
    /// error); `outcome.status` says whether it is final.
    fn on_error(&self, _outcome: &Outcome) {}
    /// The attempt timed out.
    fn on_timeout(&self, _outcome: &Outcome) {}
    /// A subscription's circuit opened (its receiver kept failing: its
    /// deliveries are deferred until a probe succeeds) or closed again.
    fn on_circuit(&self, _subscriber: &Subscriber, _transition: Transition) {}
}

/// Tells every observer that `subscriber`'s circuit changed.
pub fn notify_circuit(
    observers: &[SharedObserver],
    subscriber: &Subscriber,
    transition: Transition,
) {
    for o in observers {
        o.on_circuit(subscriber, transition);
    }
}

/// A shared observer.
pub type SharedObserver = Arc<dyn Observer>;

/// How an attempt ended, which decides the [`Observer`] method called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// A 2xx: [`Observer::on_success`].
    Success,
    /// No answer in time: [`Observer::on_timeout`].
    Timeout,
    /// Any other failure, and deliveries that failed before an attempt:
    /// [`Observer::on_error`].
    Error,
}

/// Tells every observer how an attempt ended, with the outcome as it
/// stands: the one place observers are called, by core and by every
/// backend.
pub fn notify(observers: &[SharedObserver], outcome: &Outcome, end: AttemptEnd) {
    for o in observers {
        match end {
            AttemptEnd::Success => o.on_success(outcome),
            AttemptEnd::Timeout => o.on_timeout(outcome),
            AttemptEnd::Error => o.on_error(outcome),
        }
    }
}
