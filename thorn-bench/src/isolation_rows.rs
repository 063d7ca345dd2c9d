//! One bad receiver among healthy ones, through `"default"`: ten
//! subscriptions to `order.*`, nine on a healthy receiver and one on a
//! receiver that hangs (every attempt times out, `THORN_EVENT_TIMEOUT=1s`)
//! or answers 500 (`THORN_RETRY_DELAY=0.2s`); 16 tasks each send one event
//! at a time for a window. The healthy deliveries per second are paired
//! with a round where all ten are healthy; the ratio is the median of the
//! pairs. The window includes the time the breaker needs to open.
//!
//! ```text
//! THORN_BENCH_ONLY="thorn isolation" cargo run --release -p thorn-bench
//! THORN_BENCH_ISOLATION_WINDOW=8 THORN_BENCH_PAIRS=5 …   # seconds per round
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use thorn::{Config, Event, RecipientPolicy, Status, Subscriber, Thorn};
use thorn_testkit::receiver::{MockReceiver, Reply};

use crate::ratio::Ratios;
use crate::{SECRET, data};

/// Tasks sending at once.
const SENDERS: usize = 16;
/// Healthy subscriptions besides the one that may be bad.
const HEALTHY: usize = 9;

/// How the bad receiver behaves.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bad {
    Hangs,
    Fails,
}

impl Bad {
    /// A receiver that behaves so (`with_bad`), or a healthy one.
    pub(crate) async fn receiver(self, with_bad: bool) -> MockReceiver {
        let receiver = MockReceiver::start().await.unwrap();
        if with_bad {
            receiver.otherwise(match self {
                Bad::Hangs => Reply::hang(),
                Bad::Fails => Reply::status(500),
            });
        }
        receiver
    }
}

/// The length of a round (`THORN_BENCH_ISOLATION_WINDOW`, seconds).
fn window() -> Duration {
    Duration::from_secs_f64(
        std::env::var("THORN_BENCH_ISOLATION_WINDOW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8.0),
    )
}

/// Runs `pairs` pairs of rounds for each bad behaviour, a round being
/// `round(bad, with_bad, window, k)` (the healthy rate and the bad
/// receiver's requests; `k` counts rounds from 1), and prints them and
/// the median ratio as `name`'s rows.
pub(crate) async fn paired<F, Fut>(name: &str, pairs: usize, mut round: F)
where
    F: FnMut(Bad, bool, Duration, usize) -> Fut,
    Fut: std::future::Future<Output = (f64, usize)>,
{
    let window = window();
    let mut k = 0;
    for bad in [Bad::Hangs, Bad::Fails] {
        let mut ratios = Ratios::default();
        let mut bad_requests = Vec::new();
        for n in 1..=pairs.max(1) {
            k += 1;
            let (healthy, _) = round(bad, false, window, k).await;
            k += 1;
            let (with_bad, requests) = round(bad, true, window, k).await;
            println!(
                "round {n} {name}, one receiver {bad:?}: healthy {with_bad:>8.0}/s against {healthy:>8.0}/s all healthy; the bad receiver got {requests} requests"
            );
            ratios.push(with_bad, healthy);
            bad_requests.push(requests);
        }
        println!(
            "{name}, one receiver of ten {bad:?}, healthy deliveries / all healthy, {:.0} s windows, paired rounds: {}; bad receiver's requests per round {bad_requests:?}",
            window.as_secs_f64(),
            ratios.summary()
        );
    }
}

/// Prints the isolation rows of `"default"`, `pairs` pairs each.
pub(crate) async fn isolation_paired(receiver: &MockReceiver, pairs: usize) {
    paired("thorn default", pairs, |bad, with_bad, window, _| {
        round_rate(receiver, with_bad, bad, window)
    })
    .await;
}

/// One round: the healthy deliveries per second, and how many requests
/// the bad receiver got (`with_bad` set: it misbehaves as `bad` says).
async fn round_rate(
    healthy: &MockReceiver,
    with_bad: bool,
    bad: Bad,
    window: Duration,
) -> (f64, usize) {
    let other = bad.receiver(with_bad).await;
    let mut config = Config::from_env().unwrap();
    config.dispatcher = "default".into();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config.set_var("THORN_EVENT_TIMEOUT", "1s").unwrap();
    config.set_var("THORN_RETRY_DELAY", "0.2s").unwrap();
    let thorn = Thorn::new(config, &thorn::registry()).unwrap();
    for _ in 0..HEALTHY {
        subscribe(&thorn, &healthy.url("/isolation")).await;
    }
    subscribe(&thorn, &other.url("/isolation")).await;
    let delivered = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + window;
    let tasks: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (thorn, delivered) = (thorn.clone(), Arc::clone(&delivered));
            let other = other.url("/isolation");
            tokio::spawn(async move {
                let mut i = t;
                while Instant::now() < deadline {
                    if let Ok(report) = thorn
                        .send(Event::new("order.created", data(i)).unwrap())
                        .await
                    {
                        let healthy = report
                            .outcomes
                            .iter()
                            .filter(|o| {
                                o.status == Status::Delivered && o.subscriber.url.as_str() != other
                            })
                            .count();
                        // Counted only within the window.
                        if Instant::now() <= deadline {
                            delivered.fetch_add(healthy, Ordering::Relaxed);
                        }
                    }
                    i += SENDERS;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    healthy.clear();
    let rate = delivered.load(Ordering::Relaxed) as f64 / window.as_secs_f64();
    (rate, other.len())
}

/// Subscribes `url` to `order.*`.
pub(crate) async fn subscribe(thorn: &Thorn, url: &str) {
    thorn
        .subscribe(Subscriber::builder("order.*", url, SECRET).build().unwrap())
        .await
        .unwrap();
}
