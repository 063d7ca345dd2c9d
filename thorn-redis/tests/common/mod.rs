//! Shared helpers of the Redis backend's integration tests: a private
//! redis-server, configs, and a worker that runs in the test's runtime.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use thorn_core::{Config, RecipientPolicy, Registry, RetryPolicy, Thorn};
use thorn_redis::keys::Keys;
use thorn_redis::{RedisOptions, ShutdownHandle, Worker, WorkerMonitor, WorkerStats};
use thorn_testkit::receiver::MockReceiver;
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
    c.set_var("THORN_REDIS_URL", redis.url()).unwrap();
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

    /// A worker named `name` in the consumer group, from `config`.
    pub fn named(config: Config, name: &str) -> Self {
        Self::start(
            Worker::builder(config)
                .consumer_name(name)
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

/// Hands the stream's new entries (up to 100) to the consumer `name`, as
/// a read whose worker never sees the reply.
pub async fn hand_new_entries_to(c: &mut MultiplexedConnection, stream: &str, name: &str) {
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("thorn")
        .arg(name)
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query_async(c)
        .await
        .unwrap();
}

/// Makes `consumer` hold the pending entry `id`, as if it had been handed
/// over `handovers` times and had idled for `idle_ms`.
pub async fn claim_as(
    c: &mut MultiplexedConnection,
    stream: &str,
    consumer: &str,
    id: &str,
    idle_ms: u64,
    handovers: usize,
) {
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(stream)
        .arg("thorn")
        .arg(consumer)
        .arg(0)
        .arg(id)
        .arg("IDLE")
        .arg(idle_ms)
        .arg("RETRYCOUNT")
        .arg(handovers)
        .query_async(c)
        .await
        .unwrap();
}

/// Sends an event `name` with empty data; the id of its one delivery.
pub async fn send_one(thorn: &Thorn, name: &str) -> uuid::Uuid {
    let event = thorn_core::Event::new(name, serde_json::json!({})).unwrap();
    thorn.send(event).await.unwrap().outcomes[0].delivery
}

/// The ids of the entries in `stream`, oldest first.
pub async fn stream_ids(c: &mut MultiplexedConnection, stream: &str) -> Vec<String> {
    let reply: redis::streams::StreamRangeReply = c.xrange_all(stream).await.unwrap();
    reply.ids.into_iter().map(|e| e.id).collect()
}

/// A private Redis, a receiver, and a config for the queue on that Redis.
pub async fn queue() -> (RedisServer, MockReceiver, Config) {
    let redis = redis().await;
    let receiver = MockReceiver::start().await.unwrap();
    let config = config(&redis);
    (redis, receiver, config)
}

/// A queue whose consumer group exists before any worker runs: the Redis,
/// a receiver subscribed to `tick.*`, the config, the Thorn, the queue's
/// keys, and a connection to poke at the stream.
pub async fn grouped() -> (
    RedisServer,
    MockReceiver,
    Config,
    Thorn,
    Keys,
    MultiplexedConnection,
) {
    let (redis, receiver, config) = queue().await;
    let thorn = thorn(config.clone());
    subscribe(&thorn, "tick.*", receiver.url("/t")).await;
    let keys = RedisOptions::from_config(&config).unwrap().keys();
    let mut c = conn(&redis).await;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&keys.stream)
        .arg("thorn")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut c)
        .await
        .unwrap();
    (redis, receiver, config, thorn, keys, c)
}
