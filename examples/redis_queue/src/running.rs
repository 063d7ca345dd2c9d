//! A worker on a task of the program's runtime, and the deliveries it
//! ends, to be awaited.

use std::time::Duration;

use thorn::redis::{ShutdownHandle, Worker, WorkerStats};
use thorn::{Config, Observer, Outcome, Report, Status};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::BoxError;

/// Passes on the last attempt of each delivery a worker makes, so that the
/// program awaits them instead of polling the queue.
#[derive(Debug)]
pub(crate) struct Ended(mpsc::UnboundedSender<Outcome>);

/// The other end: the deliveries the worker ended, as they end.
#[derive(Debug)]
pub(crate) struct EndedDeliveries(mpsc::UnboundedReceiver<Outcome>);

impl Ended {
    /// An observer, and where what it sees arrives.
    pub(crate) fn channel() -> (EndedDeliveries, Ended) {
        let (tx, rx) = mpsc::unbounded_channel();
        (EndedDeliveries(rx), Ended(tx))
    }

    fn pass_on(&self, outcome: &Outcome) {
        if outcome.status != Status::Retrying {
            // The receiving end lives as long as the program.
            let _ = self.0.send(outcome.clone());
        }
    }
}

impl Observer for Ended {
    fn on_success(&self, outcome: &Outcome) {
        self.pass_on(outcome);
    }

    fn on_error(&self, outcome: &Outcome) {
        self.pass_on(outcome);
    }

    fn on_timeout(&self, outcome: &Outcome) {
        self.pass_on(outcome);
    }
}

impl EndedDeliveries {
    /// Waits, at most `limit`, until every delivery of `expected` has
    /// ended, printing each as it does; their outcomes.
    pub(crate) async fn wait_for(
        &mut self,
        expected: &Report,
        limit: Duration,
    ) -> Result<Report, BoxError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut ended = Report::default();
        while ended.outcomes.len() < expected.outcomes.len() {
            let Ok(next) = tokio::time::timeout_at(deadline, self.0.recv()).await else {
                let missing = expected.outcomes.len() - ended.outcomes.len();
                return Err(format!(
                    "{missing} of {} deliveries did not end within {limit:?} \
                     (one that keeps failing with a retryable error is retried up to THORN_RETRY_MAX times)",
                    expected.outcomes.len()
                )
                .into());
            };
            let Some(outcome) = next else {
                return Err("the worker's observer is gone".into());
            };
            // Skipped: a delivery of an earlier run still on the queue, or
            // one delivered twice (delivery is at least once).
            if expected.get(outcome.delivery).is_none() || ended.get(outcome.delivery).is_some() {
                continue;
            }
            let (event, url) = (&outcome.event, &outcome.subscriber.url);
            if outcome.status == Status::Delivered {
                println!("delivered {event} to {url}");
            } else {
                let error = outcome.error.as_deref().unwrap_or("no error given");
                println!("failed {event} to {url} after {} attempt(s): {error}", outcome.attempts);
            }
            ended.outcomes.push(outcome);
        }
        Ok(ended)
    }
}

/// A worker running on a task of the program's runtime.
#[derive(Debug)]
pub(crate) struct RunningWorker {
    stop: ShutdownHandle,
    task: JoinHandle<thorn::redis::Result<WorkerStats>>,
}

impl RunningWorker {
    /// Starts a worker on the queue `config` names.
    pub(crate) fn start(config: &Config) -> Result<Self, BoxError> {
        // Short blocking reads: a stop is noticed within 100 ms.
        let worker = Worker::builder(config.clone()).block(Duration::from_millis(100)).build()?;
        let stop = worker.shutdown_handle();
        Ok(RunningWorker { stop, task: tokio::spawn(worker.run()) })
    }

    /// Stops it, waiting at most `limit`: it stops reading, settles the
    /// entries in flight (each acknowledged, or filed as a dead letter),
    /// and prints its counters.
    pub(crate) async fn stop(self, limit: Duration) -> Result<WorkerStats, BoxError> {
        self.stop.shutdown();
        let Ok(joined) = tokio::time::timeout(limit, self.task).await else {
            return Err(format!("the worker did not stop within {limit:?}").into());
        };
        let stats = joined??;
        println!(
            "worker stopped: {} entries settled, {} delivered, {} dead",
            stats.entries, stats.delivered, stats.dead
        );
        Ok(stats)
    }
}
