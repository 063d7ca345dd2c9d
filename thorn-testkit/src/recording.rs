//! The recording backend: keeps every delivery it is given.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use thorn_core::{
    Batch, Config, Delivery, Dispatcher, Error, Outcome, Registry, Report, Result, Status,
    async_trait,
};
use tokio::sync::Notify;

/// The name the recording backend is registered under.
pub const NAME: &str = "recording";

/// A backend that records every delivery and batch it is given and reports
/// them delivered. Clones share one record.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    batches: Mutex<Vec<Batch>>,
    changed: Notify,
    fail_next: AtomicUsize,
}

/// Registers `recorder` as the backend [`NAME`] of `registry`.
pub fn register(registry: &mut Registry, recorder: Recorder) {
    registry.register(NAME, move |_: &Config| Ok(recorder.clone()));
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// One process-wide recorder, for tests that build their Thorns in
    /// several places: register it where it is wanted with
    /// [`register`]`(&mut registry, Recorder::global())`; no registry holds
    /// it unless asked.
    pub fn global() -> Recorder {
        static GLOBAL: OnceLock<Recorder> = OnceLock::new();
        GLOBAL.get_or_init(Recorder::new).clone()
    }

    fn batches_lock(&self) -> std::sync::MutexGuard<'_, Vec<Batch>> {
        self.inner.batches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the next `n` dispatches fail with a retryable error, as a
    /// queue that is down would; they record nothing.
    pub fn fail_next(&self, n: usize) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every batch received, in order.
    pub fn batches(&self) -> Vec<Batch> {
        self.batches_lock().clone()
    }

    /// Every delivery received, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.batches_lock()
            .iter()
            .flat_map(|b| b.deliveries().cloned())
            .collect()
    }

    /// The names of the events received, in order (one per event, not per
    /// delivery).
    pub fn events(&self) -> Vec<String> {
        self.batches_lock()
            .iter()
            .flat_map(|b| b.events.iter().map(|e| e.name.to_string()))
            .collect()
    }

    /// How many deliveries were received.
    pub fn len(&self) -> usize {
        self.batches_lock().iter().map(Batch::delivery_count).sum()
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything received.
    pub fn clear(&self) {
        self.batches_lock().clear();
    }

    /// Waits until at least `n` deliveries were received, or `timeout`
    /// passes; returns how many there are.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let wait = async {
            loop {
                let notified = self.inner.changed.notified();
                if self.len() >= n {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
        self.len()
    }

    /// Panics unless the events received are exactly `names`, in order.
    #[track_caller]
    pub fn assert_events(&self, names: &[&str]) {
        let got = self.events();
        assert_eq!(got, names, "recorded events differ");
    }

    /// Panics unless `url` received exactly `count` deliveries.
    #[track_caller]
    pub fn assert_received(&self, url: &str, count: usize) {
        let got = self
            .deliveries()
            .iter()
            .filter(|d| d.subscriber.url.as_str() == url)
            .count();
        assert_eq!(got, count, "deliveries to {url}");
    }
}

#[async_trait]
impl Dispatcher for Recorder {
    fn name(&self) -> &str {
        NAME
    }

    async fn dispatch(&self, batch: &Batch) -> Result<Report> {
        let failing = self
            .inner
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            let err = Error::dispatch(NAME, true, "recording backend told to fail (fail_next)");
            return Err(err);
        }
        let outcomes = batch
            .deliveries()
            .map(|d| Outcome {
                attempts: 1,
                http_status: Some(200),
                ..Outcome::new(d, Status::Delivered)
            })
            .collect();
        self.batches_lock().push(batch.clone());
        self.inner.changed.notify_waiters();
        Ok(Report { outcomes })
    }
}
