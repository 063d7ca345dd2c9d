//! Reading a queue's numbers.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::streams::{StreamInfoConsumersReply, StreamPendingReply};

use crate::error::{Result, is_no_group};
use crate::keys::{GROUP, Keys};
use crate::options::{Connection, RedisOptions};

/// The numbers of one queue at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Entries in the stream: waiting for a worker or being worked on.
    pub length: u64,
    /// Entries handed to a worker and not settled yet.
    pub pending: u64,
    /// Each consumer of the group, with its pending entries and how long
    /// since it last read.
    pub consumers: Vec<ConsumerStats>,
    /// Retries whose time has come (a worker moves them back soon).
    pub delayed_due: u64,
    /// Retries waiting for their time.
    pub delayed_later: u64,
    /// Dead letters.
    pub dead: u64,
    /// How long ago the oldest pending entry was enqueued.
    pub oldest_pending: Option<Duration>,
    /// Deliveries the workers delivered since the queue was made (a
    /// counter: compare two readings for a rate).
    pub delivered: u64,
}

impl QueueStats {
    /// Retries, due or not.
    pub fn delayed(&self) -> u64 {
        self.delayed_due + self.delayed_later
    }
}

/// One consumer of the queue's group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// The consumer's name (a worker's `--consumer-name`).
    pub name: String,
    /// Entries it holds unsettled.
    pub pending: u64,
    /// Since it last read from the stream.
    pub idle: Duration,
}

/// A handle on one queue to read its numbers.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> thorn_redis::Result<()> {
/// use thorn_redis::{RedisOptions, queue::Queue};
/// let stats = Queue::new(&RedisOptions::default())?.stats().await?;
/// println!("{} waiting, {} dead", stats.length, stats.dead);
/// # Ok(()) }
/// ```
pub struct Queue {
    keys: Keys,
    conn: Connection,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// The queue `options` names. Does not connect yet.
    pub fn new(options: &RedisOptions) -> Result<Self> {
        Ok(Queue {
            keys: options.keys(),
            conn: options.connection(options.response_timeout)?,
        })
    }

    /// The queue's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Reads the numbers: one pipeline, then the group's pending summary
    /// and consumers (none before a worker made the group).
    pub async fn stats(&self) -> Result<QueueStats> {
        let mut conn = self.conn.get().await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let now_ms = now.as_millis() as u64;
        let (length, dead, due, later, delivered): (u64, u64, u64, u64, Option<u64>) =
            redis::pipe()
                .cmd("XLEN")
                .arg(&self.keys.stream)
                .cmd("XLEN")
                .arg(&self.keys.dead)
                .cmd("ZCOUNT")
                .arg(&self.keys.delayed)
                .arg("-inf")
                .arg(now_ms)
                .cmd("ZCOUNT")
                .arg(&self.keys.delayed)
                .arg(format!("({now_ms}"))
                .arg("+inf")
                .cmd("HGET")
                .arg(&self.keys.stats)
                .arg("delivered")
                .query_async(&mut conn)
                .await
                .map_err(|e| self.conn.err(e))?;
        let mut stats = QueueStats {
            length,
            dead,
            delayed_due: due,
            delayed_later: later,
            delivered: delivered.unwrap_or_default(),
            ..QueueStats::default()
        };
        let pending: StreamPendingReply = match redis::cmd("XPENDING")
            .arg(&self.keys.stream)
            .arg(GROUP)
            .query_async(&mut conn)
            .await
        {
            Ok(reply) => reply,
            Err(e) if is_no_group(&e) => return Ok(stats),
            Err(e) => return Err(self.conn.err(e)),
        };
        if let StreamPendingReply::Data(data) = pending {
            stats.pending = data.count as u64;
            stats.oldest_pending =
                entry_ms(&data.start_id).map(|at| Duration::from_millis(now_ms.saturating_sub(at)));
        }
        let consumers: StreamInfoConsumersReply = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&self.keys.stream)
            .arg(GROUP)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.conn.err(e))?;
        stats.consumers = consumers
            .consumers
            .into_iter()
            .map(|c| ConsumerStats {
                name: c.name,
                pending: c.pending as u64,
                idle: Duration::from_millis(c.idle as u64),
            })
            .collect();
        Ok(stats)
    }
}

/// The time (Unix ms) in a stream entry id `ms-seq`.
fn entry_ms(id: &str) -> Option<u64> {
    id.split_once('-').and_then(|(ms, _)| ms.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::entry_ms;

    #[test]
    fn entry_ids_carry_their_time() {
        assert_eq!(entry_ms("1700000000123-4"), Some(1_700_000_000_123));
        assert_eq!(entry_ms("nope"), None);
    }
}
