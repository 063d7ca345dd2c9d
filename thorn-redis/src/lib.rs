//! The `"redis"` backend of Thorn: a durable queue on Redis Streams.
//!
//! Producers ([`RedisDispatcher`], registered as `"redis"`) enqueue each
//! send as one stream entry, and a flushed buffer as one entry per
//! `THORN_CHUNKSIZE` events, in one transaction. Workers ([`Worker`], or the
//! `thorn-worker` binary) read through a consumer group, deliver with
//! `thorn-http`, and settle each entry atomically: acknowledged, retried
//! later from a delayed set, or moved to the [`DeadLetters`]. A
//! [`RedisStore`] keeps subscriptions in Redis for producers and workers to
//! share.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> thorn_core::Result<()> {
//! use thorn_core::{Config, Event, Registry, Status, Subscriber, Thorn};
//!
//! let mut registry = Registry::new();
//! thorn_redis::register(&mut registry);
//! let config = Config::builder().dispatcher(thorn_redis::NAME).redis_url("redis://127.0.0.1:6379/").build()?;
//! let thorn = Thorn::new(config, &registry)?;
//! thorn.subscribe(Subscriber::builder("article.*", "https://example.com/hooks", "s3cret").build()?).await?;
//! let report = thorn.send(Event::new("article.created", serde_json::json!({"id": 1}))?).await?;
//! assert_eq!(report.count(Status::Queued), 1);
//! # Ok(()) }
//! ```
//!
//! Keys are hash-tagged per queue: `thorn:{queue}:stream` (entries),
//! `thorn:{queue}:delayed` (retries, scored by due time) and
//! `thorn:{queue}:dead` (dead letters). Every state change of an entry is
//! one Lua script (see `src/scripts/`).
//!
//! Delivery is at least once: a worker that dies mid-entry leaves it
//! pending, and another worker reclaims it after the ack deadline and
//! delivers it again; receivers deduplicate by `Hook-Delivery`.
#![forbid(unsafe_code)]

pub mod dead;
pub mod entry;
mod error;
pub mod keys;
mod lanes;
mod options;
pub mod producer;
mod scripts;
pub mod store;
pub mod worker;

pub use dead::{DeadLetter, DeadLetters};
pub use error::{Error, Result};
pub use options::RedisOptions;
pub use producer::{MAX_DELIVERIES_PER_ENTRY, NAME, RedisDispatcher, register};
pub use store::{RedisStore, into_core};
pub use worker::{ENTRIES_PER_DELIVERY_SLOT, ShutdownHandle, Worker, WorkerBuilder, WorkerStats};
