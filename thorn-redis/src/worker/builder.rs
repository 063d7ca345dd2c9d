//! Building a worker: its settings, checked, and its connections.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thorn_core::Config;
use thorn_http::{AttemptRecorder, HttpClient};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::held::HELD_PER_DELIVERY_SLOT;
use super::shutdown::ShutdownHandle;
use super::stats::Counters;
use super::{Shared, Worker};
use crate::entry;
use crate::error::{Error, Result};
use crate::lanes::Lanes;
use crate::options::RedisOptions;

/// What the ack deadline must exceed beyond one attempt's timeout.
pub const ACK_MARGIN: Duration = Duration::from_secs(1);

/// Entries a worker holds (read, not yet settled) per delivery it may have
/// in flight: more entries than deliveries keep the HTTP side busy while
/// finished entries wait to be settled. The held entries bound what a
/// killed worker leaves to be delivered again.
pub const ENTRIES_PER_DELIVERY_SLOT: usize = 4;

/// Builds a [`Worker`].
#[must_use]
pub struct WorkerBuilder {
    pub(super) config: Config,
    pub(super) options: Option<RedisOptions>,
    pub(super) consumer: Option<String>,
    pub(super) ack_deadline: Option<Duration>,
    pub(super) block: Duration,
    pub(super) http: Option<HttpClient>,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("options", &self.options)
            .field("consumer", &self.consumer)
            .field("ack_deadline", &self.ack_deadline)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// Another server or queue than the config's.
    pub fn options(mut self, options: RedisOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// This worker's name in the consumer group (default
    /// `worker-<pid>-<random>`). Names must be unique among live workers.
    pub fn consumer_name(mut self, name: impl Into<String>) -> Self {
        self.consumer = Some(name.into());
        self
    }

    /// How long an entry may stay unacknowledged (and unrefreshed) before
    /// another worker reclaims it. Default: 30 s, or the event timeout plus
    /// [`ACK_MARGIN`] when that is longer.
    pub fn ack_deadline(mut self, deadline: Duration) -> Self {
        self.ack_deadline = Some(deadline);
        self
    }

    /// The longest a read blocks waiting for entries (default 1 s); also
    /// bounds how late a shutdown is noticed.
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block.clamp(Duration::from_millis(10), Duration::from_secs(30));
        self
    }

    /// The HTTP client (default: a new one from the config).
    pub fn http_client(mut self, client: HttpClient) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the settings and builds; does not connect yet.
    ///
    /// The ack deadline must be at least the event timeout plus
    /// [`ACK_MARGIN`]: a live worker refreshes its entries every third of
    /// the deadline, and the margin keeps a worker that stalls for one
    /// attempt's length from losing its entries to another.
    pub fn build(self) -> Result<Worker> {
        let min_deadline = self.config.event_timeout + ACK_MARGIN;
        let ack_deadline = self
            .ack_deadline
            .unwrap_or_else(|| Duration::from_secs(30).max(min_deadline));
        if ack_deadline < min_deadline {
            return Err(Error::Setting {
                name: "ack_deadline",
                reason: format!(
                    "{ack_deadline:?} is shorter than the longest delivery attempt: THORN_EVENT_TIMEOUT ({:?}) plus {ACK_MARGIN:?}; \
                     give at least {min_deadline:?}",
                    self.config.event_timeout
                ),
            });
        }
        let shutdown_grace = self.config.get(&crate::settings::SHUTDOWN_GRACE)?;
        let http = match self.http {
            Some(h) => h,
            None => HttpClient::new(&self.config)?,
        };
        let consumer = self.consumer.unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().simple().to_string();
            format!("worker-{}-{}", std::process::id(), &id[..8])
        });
        if consumer.is_empty() {
            return Err(Error::Setting {
                name: "consumer_name",
                reason: "the consumer name is empty".into(),
            });
        }
        let options = match self.options {
            Some(options) => options,
            None => RedisOptions::from_config(&self.config)?,
        };
        let conn = options.connection(options.response_timeout)?;
        // A blocking read holds its connection: give it one of its own.
        let reader = options.connection(self.block + options.response_timeout)?;
        let concurrency = self.config.concurrency.max(1);
        let (settle_tx, settle_rx) = mpsc::unbounded_channel();
        let shutdown = ShutdownHandle::default();
        let slot_count =
            u32::try_from(concurrency * ENTRIES_PER_DELIVERY_SLOT).unwrap_or(u32::MAX >> 4);
        let held_count = u32::try_from(concurrency)
            .unwrap_or(u32::MAX)
            .saturating_mul(HELD_PER_DELIVERY_SLOT)
            .min(u32::MAX >> 4);
        Ok(Worker {
            shared: Arc::new(Shared {
                circuits: super::circuits::SharedCircuits::new(
                    &options.keys(),
                    self.config.breaker,
                ),
                pace: thorn_http::Pace::with_share(
                    u32::try_from(concurrency / 4).unwrap_or(u32::MAX),
                ),
                held_slots: Arc::new(Semaphore::new(held_count as usize)),
                held_count,
                leases: super::held::Leases::default(),
                held_tasks: Mutex::new(JoinSet::new()),
                keys: options.keys(),
                options,
                consumer,
                ack_deadline,
                shutdown_grace,
                block: self.block,
                http,
                conn,
                reader,
                slots: Arc::new(Semaphore::new(slot_count as usize)),
                slot_count,
                deliveries: Arc::new(Semaphore::new(concurrency)),
                lanes: Lanes::default(),
                in_flight: Mutex::new(HashSet::new()),
                next_due: AtomicU64::new(0),
                promote: Notify::new(),
                counters: Counters::default(),
                settle_tx,
                settle_rx: Mutex::new(Some(settle_rx)),
                stopping: shutdown.0.clone(),
                subscribers: entry::SubscriberCache::default(),
                recorder: AttemptRecorder::new(&self.config),
                config: self.config,
            }),
            shutdown,
        })
    }
}
