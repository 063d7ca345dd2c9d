//! Redis going away under a running worker: the worker backs off as
//! documented (100 ms doubling to 5 s), logs the outage once when it starts
//! and once when it ends, and delivers again once Redis is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{RunningWorker, WAIT, queue, subscribe, thorn};
use serde_json::json;
use thorn_core::Event;
use tracing::field::{Field, Visit};
use tracing::{Event as LogEvent, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The read loop's backoff steps, as nominal (before jitter) and the wait
/// drawn from it: each wait lies in the upper half of its step, and the
/// steps double from 100 ms.
const STEPS_MS: [u64; 4] = [100, 200, 400, 800];

/// The worker's outage log events: level, the `during` field, and the
/// `wait_ms` of a backoff step (0 for the others).
#[derive(Debug, Default, Clone)]
struct OutageLog(Arc<Mutex<Vec<(Level, String, u64)>>>);

impl OutageLog {
    fn of_reads(&self) -> Vec<(Level, u64)> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|(_, during, _)| during == "reading the queue")
            .map(|(level, _, wait)| (*level, *wait))
            .collect()
    }

    fn count(&self, level: Level) -> usize {
        self.of_reads().iter().filter(|(l, _)| *l == level).count()
    }

    /// The backoff waits of the read loop, in order.
    fn waits(&self) -> Vec<u64> {
        self.of_reads()
            .into_iter()
            .filter(|(l, _)| *l == Level::DEBUG)
            .map(|(_, wait)| wait)
            .collect()
    }
}

#[derive(Default)]
struct Fields {
    during: String,
    wait_ms: u64,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "during" {
            self.during = value.to_owned();
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "wait_ms" {
            self.wait_ms = value;
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for OutageLog {
    fn on_event(&self, event: &LogEvent<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "thorn_redis::worker::outage" {
            return;
        }
        // Only the steps among the debug events: "still failing" is not one.
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        if level == Level::DEBUG && fields.wait_ms == 0 {
            return;
        }
        self.0
            .lock()
            .unwrap()
            .push((level, fields.during, fields.wait_ms));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_backs_off_while_redis_is_down_and_delivers_once_it_is_back() {
    // This file holds one test: the global subscriber sees only its worker.
    let log = OutageLog::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log.clone()))
        .unwrap();
    let (redis, receiver, config) = queue().await;
    let worker = RunningWorker::with_config(config.clone());
    let before = thorn(config.clone());
    subscribe(&before, "up.*", receiver.url("/up")).await;
    before
        .send(Event::new("up.before", json!({})).unwrap())
        .await
        .unwrap();
    assert_eq!(receiver.wait_for(1, WAIT).await, 1, "the worker reads");

    redis.stop();
    // Each failed read is followed by one backoff step: wait for a few.
    let failed = STEPS_MS.len() as u64 + 1;
    let stats = worker
        .monitor
        .wait_until(WAIT, |s| s.read_errors >= failed)
        .await;
    assert!(stats.read_errors >= failed, "{stats:?}");
    let waits = log.waits();
    assert!(waits.len() >= STEPS_MS.len(), "{waits:?}");
    for (wait, step) in waits.iter().zip(STEPS_MS) {
        assert!(
            (step / 2..=step).contains(wait),
            "waits {waits:?}: the backoff does not double from 100 ms"
        );
    }
    assert_eq!(log.count(Level::WARN), 1, "the outage is logged once");
    assert_eq!(log.count(Level::INFO), 0, "the outage is not over");

    redis.restart().await.unwrap();
    // A new client: the old one's connection may meet the old socket once.
    let after = thorn(config);
    subscribe(&after, "up.*", receiver.url("/up")).await;
    after
        .send(Event::new("up.after", json!({})).unwrap())
        .await
        .unwrap();
    assert_eq!(
        receiver.wait_for(2, WAIT).await,
        2,
        "the worker delivers again"
    );
    assert_eq!(receiver.requests()[1].event(), Some("up.after"));
    worker.stop().await;
    assert_eq!(log.count(Level::WARN), 1, "one outage");
    assert_eq!(log.count(Level::INFO), 1, "its end is logged once");
}
