#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod dead;
pub mod entry;
mod error;
pub mod keys;
mod lanes;
pub mod merge;
mod options;
pub mod producer;
pub mod queue;
mod scripts;
pub mod settings;
pub mod store;
pub mod worker;

pub use dead::{DeadLetter, DeadLetters};
pub use error::{Error, Result};
pub use options::RedisOptions;
pub use producer::{MAX_DELIVERIES_PER_ENTRY, NAME, RedisDispatcher, register};
pub use settings::SETTINGS;
pub use store::{RedisStore, into_core};
pub use worker::{
    ENTRIES_PER_DELIVERY_SLOT, MAX_HANDOVERS, ShutdownHandle, Worker, WorkerBuilder, WorkerMonitor,
    WorkerStats,
};
