//! Sends that arrive together are enqueued together: while one `XADD` is
//! on the wire, the single deliveries that other `send`s hand over wait,
//! and go in the next `XADD` as one *loose* entry (deliveries of separate
//! sends: the worker gives each its own lane, in no order among them).
//! A send that finds nothing on the wire goes at once, alone, so merging
//! adds no wait; under load one command carries many deliveries, which
//! saves Redis and the worker a command, a stream entry and an
//! acknowledgement per delivery.
//!
//! Each send still returns only once its delivery is in the stream; if the
//! write fails, every send it carried gets the error (and keeps its
//! events).

use std::sync::{Arc, Mutex};

use thorn_core::Delivery;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::entry::EntryEncoder;
use crate::error::{Error, Result};
use crate::keys::FIELD;
use crate::options::Connection;
use crate::producer::MAX_DELIVERIES_PER_ENTRY;

/// The batch id of a loose entry: deliveries of separate sends.
pub const LOOSE: Uuid = Uuid::max();

/// The sends waiting for the next write, and whether one is on the wire.
#[derive(Default)]
struct Waiting {
    busy: bool,
    deliveries: Vec<Delivery>,
    senders: Vec<oneshot::Sender<Result<()>>>,
}

/// Merges concurrent single-delivery sends to one stream.
pub(crate) struct Merger {
    stream: String,
    conn: Connection,
    waiting: Mutex<Waiting>,
}

impl Merger {
    pub(crate) fn new(stream: String, conn: Connection) -> Arc<Self> {
        Arc::new(Merger {
            stream,
            conn,
            waiting: Mutex::new(Waiting::default()),
        })
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enqueues `delivery`; returns once it is in the stream.
    pub(crate) async fn send(self: &Arc<Self>, delivery: &Delivery, entry: Vec<u8>) -> Result<()> {
        let receiver = {
            let mut waiting = self.waiting();
            if waiting.busy {
                let (tx, rx) = oneshot::channel();
                waiting.deliveries.push(delivery.clone());
                waiting.senders.push(tx);
                Some(rx)
            } else {
                waiting.busy = true;
                None
            }
        };
        match receiver {
            Some(rx) => match rx.await {
                Ok(result) => result,
                // The writer's task was dropped with the write unfinished:
                // whether it landed is unknown; the caller may send again.
                Err(_) => Err(self.conn.err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "the write carrying this send was dropped",
                )))),
            },
            None => {
                let result = self.write(vec![entry]).await;
                // Whatever came meanwhile goes next, on a task of its own,
                // so that this send returns now.
                let this = Arc::clone(self);
                if !this.take_turn() {
                    tokio::spawn(async move { this.drain().await });
                }
                result
            }
        }
    }

    /// Ends a turn: `true` when nothing waits (the next send writes at
    /// once), else the caller writes what waits.
    fn take_turn(&self) -> bool {
        let mut waiting = self.waiting();
        if waiting.deliveries.is_empty() {
            waiting.busy = false;
            return true;
        }
        false
    }

    /// Writes what waits until nothing does.
    async fn drain(self: Arc<Self>) {
        loop {
            let (deliveries, senders) = {
                let mut waiting = self.waiting();
                if waiting.deliveries.is_empty() {
                    waiting.busy = false;
                    return;
                }
                (
                    std::mem::take(&mut waiting.deliveries),
                    std::mem::take(&mut waiting.senders),
                )
            };
            let entries = loose_entries(&deliveries);
            let result = self.write(entries).await;
            for tx in senders {
                let _ = tx.send(result.as_ref().map(|_| ()).map_err(share));
            }
        }
    }

    /// Adds `entries` to the stream.
    async fn write(&self, entries: Vec<Vec<u8>>) -> Result<()> {
        write(&self.conn, &self.stream, &entries).await
    }
}

/// Adds `entries` to `stream`: one command, or one transaction around
/// several (all or none).
pub(crate) async fn write(conn: &Connection, stream: &str, entries: &[Vec<u8>]) -> Result<()> {
    let mut c = conn.get().await?;
    let xadd = |e: &[u8]| {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(stream).arg("*").arg(FIELD).arg(e);
        cmd
    };
    let written = if let [entry] = entries {
        xadd(entry).query_async::<()>(&mut c).await
    } else {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for e in entries {
            pipe.add_command(xadd(e)).ignore();
        }
        pipe.query_async::<()>(&mut c).await
    };
    written.map_err(|e| conn.err(e))
}

/// Encodes deliveries of separate sends as loose entries.
fn loose_entries(deliveries: &[Delivery]) -> Vec<Vec<u8>> {
    deliveries
        .chunks(MAX_DELIVERIES_PER_ENTRY)
        .map(|chunk| {
            let mut enc = EntryEncoder::new();
            enc.set_batch(Some(LOOSE));
            for d in chunk {
                enc.push(d, 0);
            }
            enc.to_vec()
        })
        .collect()
}

/// The error of a write, for each send it carried.
fn share(e: &Error) -> Error {
    match e {
        Error::Redis { url, source } => Error::Redis {
            url: url.clone(),
            source: source.clone(),
        },
        other => Error::redis(
            "",
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "enqueueing failed",
                other.to_string(),
            )),
        ),
    }
}
