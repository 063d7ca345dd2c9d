//! The state of a queue, for operators: lengths, pending entries per
//! consumer, retries due, dead letters; and the gauges a worker keeps of
//! them.

mod gauges;
mod stats;

pub use gauges::{DEAD, DELAYED, DEPTH, PENDING, QueueGauges};
pub use stats::{ConsumerStats, Queue, QueueStats};
