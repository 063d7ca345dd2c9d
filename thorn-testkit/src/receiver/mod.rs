//! `MockReceiver`: a real local HTTP server that records every request,
//! verifies signatures, and answers as scripted (feature `http`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use std::time::Duration;
//! use thorn_testkit::receiver::{MockReceiver, Reply};
//!
//! let receiver = MockReceiver::start().await?;
//! receiver.script([Reply::status(500), Reply::status(200)]);
//! assert!(receiver.url("/hooks").starts_with("http://127.0.0.1:"));
//! assert_eq!(receiver.wait_for(0, Duration::from_millis(10)).await, 0);
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use thorn_core::Digest;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

mod builder;
mod reply;
mod request;
mod server;

pub use builder::MockReceiverBuilder;
pub use reply::Reply;
use reply::Script;
pub use request::ReceivedRequest;

/// What the handle and the server's connections share.
#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<ReceivedRequest>>,
    changed: Notify,
    /// The smallest count a `wait_for` waits for (`usize::MAX` when none
    /// waits): a request wakes the waiters only once the count reaches it,
    /// not on every request.
    wanted: AtomicUsize,
    connections: AtomicU64,
    tls_failures: AtomicU64,
    script: Mutex<Script>,
    secret: Option<(String, Digest)>,
}

/// Locks, also after a panic elsewhere: every change under these locks is
/// whole (a request pushed, a reply taken), so none is left half-made.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A real HTTP server on a random port of 127.0.0.1, in the model of
/// wiremock: it records every request, verifies signatures when given a
/// secret, answers as scripted (200 when nothing is scripted), and counts
/// the TCP connections it accepted. Stops when dropped.
pub struct MockReceiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
    https: bool,
    task: JoinHandle<()>,
}

impl fmt::Debug for MockReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockReceiver")
            .field("addr", &self.addr)
            .field("https", &self.https)
            .field("requests", &self.len())
            .field("connections", &self.connections())
            .finish()
    }
}

impl Drop for MockReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockReceiver {
    /// Starts a plain HTTP receiver that verifies nothing.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// Starts building a receiver.
    pub fn builder() -> MockReceiverBuilder {
        MockReceiverBuilder::default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The URL of `path` on this receiver (`http://127.0.0.1:PORT/path`, or
    /// `https://` when serving TLS).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{}{slash}{path}", self.addr)
    }

    /// Queues replies for the next requests, whatever their path.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).any.extend(replies);
    }

    /// Queues replies for the next requests to `path` (checked before the
    /// path-less script).
    pub fn script_path(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script)
            .by_path
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    /// The reply once every script is used up (default: 200).
    pub fn otherwise(&self, reply: Reply) {
        lock(&self.shared.script).otherwise = Some(reply);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The requests received on `path`, in arrival order.
    pub fn requests_on(&self, path: &str) -> Vec<ReceivedRequest> {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The `Hook-Delivery` ids of the requests received, in arrival order
    /// (a request without one is skipped).
    pub fn delivery_ids(&self) -> Vec<String> {
        lock(&self.shared.requests)
            .iter()
            .filter_map(|r| r.delivery().map(String::from))
            .collect()
    }

    /// How many requests were received.
    pub fn len(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Whether no request was received.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the requests received (the connection count stays).
    pub fn clear(&self) {
        lock(&self.shared.requests).clear();
    }

    /// How many TCP connections were accepted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many TLS handshakes failed (say, the client did not trust the
    /// certificate).
    pub fn tls_failures(&self) -> u64 {
        self.shared.tls_failures.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests were received, or `timeout`
    /// passes; returns how many there are.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let wait = async {
            loop {
                // Made before the check, so a wake-up between the two is
                // not missed.
                let notified = self.shared.changed.notified();
                self.shared.wanted.fetch_min(n, Ordering::SeqCst);
                if self.len() >= n {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
        self.len()
    }
}
