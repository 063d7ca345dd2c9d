//! Shared helpers of the Redis backend's integration tests: a private
//! redis-server, configs, and a worker that runs in the test's runtime.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use thorn_core::{Config, RecipientPolicy, Registry, RetryPolicy, Thorn};
use thorn_redis::{ShutdownHandle, Worker, WorkerMonitor, WorkerStats};
use thorn_testkit::redis_server::RedisServer;
use tokio::task::JoinHandle;

/// How long a test waits for deliveries.
pub const WAIT: Duration = Duration::from_secs(20);

pub async fn redis() -> RedisServer {
    RedisServer::start()
        .await
        .expect("redis-server starts (apt-get install redis-server)")
}

/// A config for the queue on `redis`: loopback receivers allowed, a short
/// timeout, and retries 50 ms apart at first.
pub fn config(redis: &RedisServer) -> Config {
    let mut c = Config::default();
    c.dispatcher = thorn_redis::NAME.into();
    c.redis_url = Some(redis.url());
    c.recipients = RecipientPolicy::allow_loopback_any_port();
    c.event_timeout = Duration::from_secs(2);
    c.retry = RetryPolicy::default()
        .with_delays(Duration::from_millis(50), Duration::from_secs(1))
        .with_max_retries(2);
    c
}

pub fn thorn(config: Config) -> Thorn {
    let mut registry = Registry::new();
    thorn_redis::register(&mut registry);
    Thorn::new(config, &registry).expect("thorn builds")
}

pub async fn conn(redis: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A worker running on a task of the test's runtime; stopped on drop.
pub struct RunningWorker {
    pub monitor: WorkerMonitor,
    stop: ShutdownHandle,
    task: Option<JoinHandle<thorn_redis::Result<WorkerStats>>>,
}

impl RunningWorker {
    pub fn start(worker: Worker) -> Self {
        let stop = worker.shutdown_handle();
        let monitor = worker.monitor();
        let task = tokio::spawn(worker.run());
        RunningWorker {
            monitor,
            stop,
            task: Some(task),
        }
    }

    pub fn with_config(config: Config) -> Self {
        Self::start(
            Worker::builder(config)
                .block(Duration::from_millis(200))
                .build()
                .expect("worker builds"),
        )
    }

    /// Stops the worker and waits until it has settled everything.
    pub async fn stop(mut self) -> WorkerStats {
        self.stop.shutdown();
        let task = self.task.take().expect("running");
        tokio::time::timeout(WAIT, task)
            .await
            .expect("worker stops in time")
            .unwrap()
            .unwrap()
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        self.stop.shutdown();
    }
}

/// Subscribes `url` to `pattern`, with the secret `k`.
pub async fn subscribe(thorn: &Thorn, pattern: &str, url: impl AsRef<str>) {
    let sub = thorn_core::Subscriber::builder(pattern, url, "k")
        .build()
        .expect("subscriber builds");
    thorn.subscribe(sub).await.expect("subscribe");
}
