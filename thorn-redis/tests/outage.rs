//! Redis going away under a running worker: the worker backs off as
//! documented (100 ms doubling to 5 s), logs the outage once when it starts
//! and once when it ends, and delivers again once Redis is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{RunningWorker, WAIT, queue, subscribe, thorn};
use serde_json::json;
use thorn_core::Event;
use tracing::field::{Field, Visit};
use tracing::{Event as LogEvent, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// How long Redis stays down.
const OUTAGE: Duration = Duration::from_secs(3);

/// The most failed reads a worker may make over [`OUTAGE`] and until it
/// reads again: with the jitter, backoff steps of at least 50, 100, 200,
/// 400, 800 and 1600 ms fit in it after the first failure, and each of the
/// worker's two connections fails once more after Redis is back (its last
/// reconnect failed while Redis was down). Retried every 100 ms, the reads
/// would be about 30.
const MOST_FAILED_READS: u64 = 12;

/// The level and the `during` field of the worker's outage log events.
#[derive(Debug, Default, Clone)]
struct OutageLog(Arc<Mutex<Vec<(Level, String)>>>);

impl OutageLog {
    fn count(&self, level: Level) -> usize {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|(l, during)| *l == level && during == "reading the queue")
            .count()
    }
}

struct During(String);

impl Visit for During {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "during" {
            self.0 = value.to_owned();
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for OutageLog {
    fn on_event(&self, event: &LogEvent<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "thorn_redis::worker::outage" {
            return;
        }
        let mut during = During(String::new());
        event.record(&mut during);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), during.0));
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
    // Bounded wait until the worker has met Redis down.
    for _ in 0..500 {
        if worker.monitor.stats().read_errors > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(worker.monitor.stats().read_errors > 0, "a read failed");
    // Only to let the outage last.
    tokio::time::sleep(OUTAGE).await;
    let during = worker.monitor.stats().read_errors;
    assert!(
        during <= MOST_FAILED_READS,
        "{during} failed reads in {OUTAGE:?}: the backoff does not grow"
    );
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
    let stats = worker.stop().await;
    assert!(
        stats.read_errors <= MOST_FAILED_READS,
        "{} failed reads in all",
        stats.read_errors
    );
    assert_eq!(log.count(Level::WARN), 1, "one outage");
    assert_eq!(log.count(Level::INFO), 1, "its end is logged once");
}
