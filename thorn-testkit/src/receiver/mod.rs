//! `MockReceiver`: a real local HTTP server that records every request,
//! verifies signatures, answers as scripted, and checks expectations of
//! how many requests it gets (feature `http`).
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

use thorn_core::{Digest, Signer};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

mod builder;
mod expectation;
mod reply;
mod request;
mod server;

pub use builder::MockReceiverBuilder;
use expectation::Expectations;
pub use expectation::{Expectation, UnmetExpectations};
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
    /// Requests recorded and not yet answered.
    in_flight: AtomicUsize,
    /// The most `in_flight` has been.
    peak_in_flight: AtomicUsize,
    script: Mutex<Script>,
    expectations: Mutex<Expectations>,
    secret: Option<(String, Digest)>,
    /// The scheme `Hook-HMAC` is checked in.
    signer: Signer,
}

/// Locks, also after a panic elsewhere: every change under these locks is
/// whole (a request pushed, a reply taken), so none is left half-made.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A real HTTP server on a random port of 127.0.0.1, in the model of
/// wiremock: it records every request, verifies signatures when given a
/// secret, answers as scripted (200 when nothing is scripted), counts the
/// TCP connections it accepted, and checks [`Expectation`]s. Stops when
/// dropped.
///
/// Expectations are checked by [`verify`](Self::verify), and when the
/// receiver is dropped without their having been checked since the last
/// was added: the drop then panics with every unmet one, unless the thread
/// is already panicking (a second panic would abort the test run).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use thorn_testkit::receiver::{Expectation, MockReceiver};
///
/// let receiver = MockReceiver::start().await?;
/// receiver
///     .expect(Expectation::path("/orders").times(2))
///     .expect(Expectation::event("order.cancelled").times(0));
/// // … the code under test sends its events to receiver.url("/orders") …
/// // Here it sent none: `receiver.verify()` would panic with this message.
/// let unmet = receiver.try_verify().unwrap_err().to_string();
/// assert!(unmet.contains(r#"requests on path "/orders": expected exactly 2, received 0"#));
/// # Ok(()) }
/// ```
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
        // As wiremock does: expectations nobody checked are checked here,
        // but never while unwinding, where a second panic aborts the run.
        if std::thread::panicking() || !lock(&self.shared.expectations).unchecked() {
            return;
        }
        if let Err(unmet) = self.try_verify() {
            panic!("{unmet}");
        }
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

    /// Adds an expectation: it counts the requests that arrive from now on
    /// (a retried delivery once per attempt; [`clear`](Self::clear) does
    /// not reset it), and is checked by [`verify`](Self::verify) or when
    /// the receiver is dropped.
    pub fn expect(&self, expectation: Expectation) -> &Self {
        lock(&self.shared.expectations).add(expectation);
        self
    }

    /// Panics unless every expectation is met, with a message listing each
    /// unmet one (what it counts, the count it wanted, the count it got)
    /// and a summary of the requests recorded. The drop then checks them
    /// again only if one is added meanwhile.
    #[track_caller]
    pub fn verify(&self) {
        if let Err(unmet) = self.try_verify() {
            panic!("{unmet}");
        }
    }

    /// Like [`verify`](Self::verify), returning the unmet expectations
    /// instead of panicking (a program outside a test may report them).
    pub fn try_verify(&self) -> Result<(), UnmetExpectations> {
        let (unmet, total) = lock(&self.shared.expectations).check();
        if unmet.is_empty() {
            return Ok(());
        }
        let requests = lock(&self.shared.requests);
        Err(UnmetExpectations::new(self.addr, unmet, total, &requests))
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

    /// How many requests it is answering now: recorded, and their answer
    /// not yet handed over (a [`Reply::delay`] or [`Reply::hang`] holds
    /// one).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests it was answering at once since it started: with a
    /// [`Reply::delay`] that holds each request, how many a sender had in
    /// flight together. Counts every path; give the sender under test a
    /// receiver of its own to count its requests alone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// use thorn_testkit::receiver::{MockReceiver, Reply};
    ///
    /// let receiver = MockReceiver::start().await?;
    /// receiver.otherwise(Reply::status(200).delay(Duration::from_millis(50)));
    /// // … the code under test sends to receiver.url("/hooks") …
    /// assert_eq!(receiver.peak_in_flight(), 0, "nothing was sent here");
    /// assert_eq!(receiver.in_flight(), 0);
    /// # Ok(()) }
    /// ```
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak_in_flight.load(Ordering::SeqCst)
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
