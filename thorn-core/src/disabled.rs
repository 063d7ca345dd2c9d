//! The `"disabled"` backend: sends nothing and counts what it dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::delivery::Batch;
use crate::dispatcher::Dispatcher;
use crate::error::Result;
use crate::report::{Outcome, Report, Status};

/// The name of the backend that sends nothing.
pub const NAME: &str = "disabled";

/// Drops every delivery, for development and tests; [`dropped`](Self::dropped)
/// says how many.
#[derive(Debug, Default)]
pub struct Disabled {
    dropped: AtomicU64,
}

impl Disabled {
    /// How many deliveries were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl Dispatcher for Disabled {
    fn name(&self) -> &str {
        NAME
    }

    async fn dispatch(&self, batch: &Batch) -> Result<Report> {
        let outcomes: Vec<Outcome> = batch
            .deliveries()
            .map(|d| Outcome::new(d, Status::Dropped))
            .collect();
        self.dropped
            .fetch_add(outcomes.len() as u64, Ordering::Relaxed);
        tracing::debug!(
            dropped = outcomes.len(),
            "thorn dispatcher disabled: deliveries dropped"
        );
        Ok(Report { outcomes })
    }
}
