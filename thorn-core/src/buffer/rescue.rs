//! Rescuing events: those of a scope dropped before it ended, or of a flush
//! dropped before it finished, go back to their Thorn and are flushed in the
//! background; those of a failed flush are held for the next one.

use std::sync::Arc;

use super::held::Held;
use crate::delivery::{Batch, PreparedEvent};
use crate::dispatcher::BoxFuture;
use crate::error::Result;
use crate::report::Report;

/// Where events that could not be delivered in their scope go: the owning
/// Thorn's list of held events.
pub(crate) trait Rescue: Send + Sync {
    /// The owning Thorn's held events.
    fn held(&self) -> &Held;
    /// Flushes everything the owning Thorn holds.
    fn flush(self: Arc<Self>) -> BoxFuture<'static, Result<Report>>;
}

/// Keeps `events` and starts a flush in the background (their scope is
/// gone, so nobody else would flush them soon).
pub(super) fn rescue(owner: Arc<dyn Rescue>, events: Vec<PreparedEvent>) {
    owner.held().hold(events);
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let under_way = BackgroundFlush::start(Arc::clone(&owner));
        rt.spawn(async move {
            let _under_way = under_way;
            if let Err(e) = owner.flush().await {
                tracing::warn!(error = %e, "thorn background flush of a dropped scope failed; events stay held");
            }
        });
    }
}

/// Counts a background flush as under way until dropped (also when the
/// runtime drops the task unfinished).
struct BackgroundFlush(Arc<dyn Rescue>);

impl BackgroundFlush {
    fn start(owner: Arc<dyn Rescue>) -> Self {
        owner.held().background_started();
        BackgroundFlush(owner)
    }
}

impl Drop for BackgroundFlush {
    fn drop(&mut self) {
        self.0.held().background_ended();
    }
}

/// A batch being flushed: if the flush future is dropped before it ends,
/// the events go back to their Thorn.
pub(crate) struct InFlight {
    batch: Batch,
    owner: Arc<dyn Rescue>,
    settled: bool,
}

impl InFlight {
    /// `batch`, on its way to the backend, owned by `owner`.
    pub(crate) fn new(batch: Batch, owner: Arc<dyn Rescue>) -> Self {
        InFlight {
            batch,
            owner,
            settled: false,
        }
    }

    /// The batch being flushed.
    pub(crate) fn batch(&self) -> &Batch {
        &self.batch
    }

    /// The backend took the batch: nothing goes back.
    pub(crate) fn settle(mut self) {
        self.settled = true;
    }

    /// The flush failed: hand the events back at once.
    pub(crate) fn give_back(mut self) {
        self.settled = true;
        let events = std::mem::take(&mut self.batch.events);
        self.owner.held().hold(events);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.settled && !self.batch.events.is_empty() {
            let events = std::mem::take(&mut self.batch.events);
            rescue(Arc::clone(&self.owner), events);
        }
    }
}
