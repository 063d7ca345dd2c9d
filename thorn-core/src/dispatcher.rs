//! The `Dispatcher` trait: what every backend implements.

use std::future::Future;
use std::pin::Pin;

use crate::delivery::Batch;
use crate::error::Result;
use crate::report::Report;

/// A boxed, `Send` future, so that traits with async methods stay
/// object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A backend that takes prepared deliveries and sees them delivered: now
/// (`"default"`), later through a durable queue, or not at all
/// (`"disabled"`). Implement it with [`async_trait`](crate::async_trait).
///
/// The batch is lent, not given: when `dispatch` fails, the caller still
/// holds every event and keeps it for the next flush. A backend returns an
/// error only when it took none of the batch (or, for a queue, when it
/// cannot tell); per-delivery failures belong in the [`Report`].
///
/// ```
/// use thorn_core::{Batch, Dispatcher, Report, Result, async_trait};
///
/// #[derive(Debug)]
/// struct Printer;
///
/// #[async_trait]
/// impl Dispatcher for Printer {
///     fn name(&self) -> &str {
///         "printer"
///     }
///     async fn dispatch(&self, batch: &Batch) -> Result<Report> {
///         for d in batch.deliveries() {
///             println!("{} -> {}", d.event, d.subscriber.url);
///         }
///         Ok(Report::default())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Dispatcher: Send + Sync + std::fmt::Debug {
    /// The name it is registered under.
    fn name(&self) -> &str;

    /// Takes responsibility for every delivery of `batch`: events in order,
    /// and one subscription's deliveries in the order of the batch.
    async fn dispatch(&self, batch: &Batch) -> Result<Report>;
}

/// A shared backend is a backend, so a factory may hand out one instance.
#[async_trait::async_trait]
impl<D: Dispatcher + ?Sized> Dispatcher for std::sync::Arc<D> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn dispatch(&self, batch: &Batch) -> Result<Report> {
        (**self).dispatch(batch).await
    }
}
