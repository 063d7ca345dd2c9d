//! Dead letters: deliveries that failed for good, kept with their last
//! error to be inspected, replayed or purged.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis::AsyncCommands;
use redis::streams::{StreamId, StreamRangeReply};
use thorn_core::Delivery;

use crate::entry::{self, QueuedDelivery};
use crate::error::Result;
use crate::keys::{FIELD, Keys};
use crate::options::{Connection, RedisOptions};
use crate::scripts;

/// One dead letter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetter {
    /// Its id in the dead-letter stream.
    pub id: String,
    /// The delivery (same id as on every attempt), or `None` when the
    /// entry it came from could not be decoded.
    pub delivery: Option<Delivery>,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// The last HTTP status, if the receiver answered.
    pub http_status: Option<u16>,
    /// When it was moved here.
    pub failed_at: SystemTime,
}

/// The dead letters of one queue.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> thorn_redis::Result<()> {
/// use thorn_redis::{DeadLetters, RedisOptions};
/// let dead = DeadLetters::new(RedisOptions::default())?;
/// for letter in dead.list(100).await? {
///     println!("{} {:?}: {}", letter.id, letter.delivery.map(|d| d.subscriber.url.clone()), letter.error);
/// }
/// dead.replay_all().await?;
/// # Ok(()) }
/// ```
pub struct DeadLetters {
    keys: Keys,
    conn: Connection,
}

impl fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetters")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// The dead letters of the queue `options` names. Does not connect yet.
    pub fn new(options: RedisOptions) -> Result<Self> {
        Ok(DeadLetters {
            keys: options.keys(),
            conn: options.connection(options.response_timeout)?,
        })
    }

    /// How many there are.
    pub async fn len(&self) -> Result<usize> {
        let mut conn = self.conn.get().await?;
        conn.xlen(&self.keys.dead)
            .await
            .map_err(|e| self.conn.err(e))
    }

    /// Whether there are none.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// The oldest `count` dead letters.
    pub async fn list(&self, count: usize) -> Result<Vec<DeadLetter>> {
        self.range("-", "+", count).await
    }

    /// Up to `count` dead letters after the one whose id is `after` (from
    /// the oldest with `None`), oldest first: a page of a long list.
    pub async fn page(&self, after: Option<&str>, count: usize) -> Result<Vec<DeadLetter>> {
        match after {
            Some(id) => self.range(&format!("({id}"), "+", count).await,
            None => self.range("-", "+", count).await,
        }
    }

    /// The dead letter `id`.
    pub async fn get(&self, id: &str) -> Result<Option<DeadLetter>> {
        Ok(self.range(id, id, 1).await?.into_iter().next())
    }

    async fn range(&self, start: &str, end: &str, count: usize) -> Result<Vec<DeadLetter>> {
        let mut conn = self.conn.get().await?;
        let reply: StreamRangeReply = conn
            .xrange_count(&self.keys.dead, start, end, count)
            .await
            .map_err(|e| self.conn.err(e))?;
        Ok(reply.ids.into_iter().map(parse).collect())
    }

    /// Moves the dead letter `id` back to the queue with its attempts reset
    /// (same delivery id); whether it was there.
    pub async fn replay(&self, id: &str) -> Result<bool> {
        let mut conn = self.conn.get().await?;
        let reply: StreamRangeReply = conn
            .xrange_count(&self.keys.dead, id, id, 1)
            .await
            .map_err(|e| self.conn.err(e))?;
        let Some(mut found) = reply.ids.into_iter().next() else {
            return Ok(false);
        };
        let blob = take_blob(&mut found);
        let fresh = match entry::decode(&blob) {
            Ok(items) => {
                let mut enc = entry::EntryEncoder::new();
                for q in &items {
                    enc.push(&q.delivery, 0);
                }
                enc.to_vec()
            }
            // Replayed as it is: a worker files it again.
            Err(_) => blob.to_vec(),
        };
        let moved: Option<String> = scripts::REPLAY
            .key(&self.keys.dead)
            .key(&self.keys.stream)
            .arg(id)
            .arg(fresh)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.conn.err(e))?;
        Ok(moved.is_some())
    }

    /// Replays every dead letter there is now; how many.
    pub async fn replay_all(&self) -> Result<usize> {
        let mut n = 0;
        let total = self.len().await?;
        let mut cursor = String::from("-");
        // Bounded by the count at the start: letters added meanwhile wait.
        while n < total {
            let page = self.range(&cursor, "+", 100).await?;
            let Some(last) = page.last() else { break };
            cursor = format!("({}", last.id);
            for letter in &page {
                if self.replay(&letter.id).await? {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Deletes the dead letter `id`; whether it was there.
    pub async fn purge(&self, id: &str) -> Result<bool> {
        let mut conn = self.conn.get().await?;
        let n: usize = conn
            .xdel(&self.keys.dead, &[id])
            .await
            .map_err(|e| self.conn.err(e))?;
        Ok(n > 0)
    }

    /// Deletes every dead letter; how many there were.
    pub async fn purge_all(&self) -> Result<usize> {
        let mut conn = self.conn.get().await?;
        let (n, _): (usize, i64) = redis::pipe()
            .atomic()
            .xlen(&self.keys.dead)
            .del(&self.keys.dead)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.conn.err(e))?;
        Ok(n)
    }
}

fn take_blob(id: &mut StreamId) -> Bytes {
    match id.map.remove(FIELD) {
        Some(redis::Value::BulkString(b)) => Bytes::from(b),
        _ => Bytes::new(),
    }
}

fn text(id: &StreamId, field: &str) -> String {
    match id.map.get(field) {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

fn parse(mut sid: StreamId) -> DeadLetter {
    let blob = take_blob(&mut sid);
    let decoded: Option<QueuedDelivery> =
        entry::decode(&blob).ok().and_then(|v| v.into_iter().next());
    let at_ms = text(&sid, "at").parse::<u64>().unwrap_or(0);
    DeadLetter {
        attempts: decoded.as_ref().map_or(0, |q| q.attempts),
        delivery: decoded.map(|q| q.delivery),
        error: text(&sid, "error"),
        http_status: text(&sid, "status").parse().ok(),
        failed_at: UNIX_EPOCH + Duration::from_millis(at_ms),
        id: sid.id,
    }
}
