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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thorn_core::delivery::headers;
use thorn_core::signing::{self, VerifyError};
use thorn_core::{Digest, Secret};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    delay: Option<Duration>,
    action: Action,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Answer,
    Close,
    Hang,
}

impl Reply {
    /// Answers with `status` and an empty body.
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: None,
            action: Action::Answer,
        }
    }

    /// Closes the connection without answering.
    pub fn close() -> Self {
        Reply {
            action: Action::Close,
            ..Reply::status(200)
        }
    }

    /// Never answers (until the receiver is dropped).
    pub fn hang() -> Self {
        Reply {
            action: Action::Hang,
            ..Reply::status(200)
        }
    }

    /// Adds a response header (such as `Retry-After` or `Location`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the response body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Waits `delay` before answering (or closing).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path: String,
    /// The HTTP version.
    pub version: Version,
    /// Every header.
    pub headers: HeaderMap,
    /// The body, as received.
    pub body: Bytes,
    /// Which TCP connection it came on (1 for the first accepted).
    pub connection: u64,
    /// Whether the signature(s) verified under the receiver's secret, when
    /// one was given ([`MockReceiverBuilder::secret`]): `Hook-HMAC`, and
    /// the Standard Webhooks headers when present.
    pub signature_ok: Option<bool>,
}

impl ReceivedRequest {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Hook-Event` header.
    pub fn event(&self) -> Option<&str> {
        self.header(headers::HOOK_EVENT)
    }

    /// The `Hook-Delivery` header.
    pub fn delivery(&self) -> Option<&str> {
        self.header(headers::HOOK_DELIVERY)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        let text = String::from_utf8_lossy(&self.body);
        text.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode_form(k), decode_form(v))
            })
            .collect()
    }

    /// Verifies `Hook-HMAC` under `secret` with `digest`.
    pub fn verify_hook(&self, secret: &str, digest: Digest) -> Result<(), VerifyError> {
        let header = self
            .header(headers::HOOK_HMAC)
            .ok_or(VerifyError::Malformed("no Hook-HMAC header"))?;
        signing::verify_hook_signature(secret.as_bytes(), digest, &self.body, header)
    }

    /// Verifies the Standard Webhooks headers under `secret` (a `whsec_`
    /// secret is base64-decoded, as senders do).
    pub fn verify_standard(&self, secret: &str) -> Result<(), VerifyError> {
        let secret = Secret::new(secret).map_err(|_| {
            VerifyError::Malformed("the secret is not a valid Standard Webhooks secret")
        })?;
        let key = secret.standard_key();
        let get = |name: &'static str| {
            self.header(name)
                .ok_or(VerifyError::Malformed("a webhook-* header is missing"))
        };
        signing::verify_standard(
            &[key],
            get(headers::WEBHOOK_ID)?,
            get(headers::WEBHOOK_TIMESTAMP)?,
            get(headers::WEBHOOK_SIGNATURE)?,
            &self.body,
            SystemTime::now(),
        )
    }
}

fn decode_form(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

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

#[derive(Default)]
struct Script {
    by_path: HashMap<String, VecDeque<Reply>>,
    any: VecDeque<Reply>,
    otherwise: Option<Reply>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn next_reply(&self, path: &str) -> Reply {
        let mut s = lock(&self.script);
        if let Some(r) = s.by_path.get_mut(path).and_then(VecDeque::pop_front) {
            return r;
        }
        if let Some(r) = s.any.pop_front() {
            return r;
        }
        s.otherwise.clone().unwrap_or_else(|| Reply::status(200))
    }
}

/// Builds a [`MockReceiver`].
#[derive(Default)]
#[must_use]
pub struct MockReceiverBuilder {
    secret: Option<(String, Digest)>,
    tls: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl fmt::Debug for MockReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockReceiverBuilder")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl MockReceiverBuilder {
    /// Verifies every request's signatures under `secret` and `digest`,
    /// recording the result in [`ReceivedRequest::signature_ok`].
    pub fn secret(mut self, secret: impl Into<String>, digest: Digest) -> Self {
        self.secret = Some((secret.into(), digest));
        self
    }

    /// Serves HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate
    /// chain (DER, leaf first) and private key (PKCS#8 DER).
    pub fn tls(mut self, chain: Vec<Vec<u8>>, pkcs8_key: Vec<u8>) -> Self {
        let chain = chain.into_iter().map(CertificateDer::from).collect();
        let key = PrivateKeyDer::Pkcs8(pkcs8_key.into());
        self.tls = Some((chain, key));
        self
    }

    /// Binds a random port of 127.0.0.1 and starts serving.
    pub async fn start(self) -> std::io::Result<MockReceiver> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let acceptor = match self.tls {
            None => None,
            Some((chain, key)) => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
                    .map_err(std::io::Error::other)?;
                config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                Some(TlsAcceptor::from(Arc::new(config)))
            }
        };
        let https = acceptor.is_some();
        let shared = Arc::new(Shared {
            secret: self.secret,
            wanted: AtomicUsize::new(usize::MAX),
            ..Shared::default()
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), acceptor));
        Ok(MockReceiver {
            shared,
            addr,
            https,
            task,
        })
    }
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

async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    // Dropping the set (when this task is aborted) ends every connection.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, _)) = accepted else {
            tokio::task::yield_now().await;
            continue;
        };
        let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve_connection(TokioIo::new(stream), shared, id).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => serve_connection(TokioIo::new(s), shared, id).await,
                    Err(e) => {
                        tracing::debug!(error = %e, "mock receiver: TLS handshake failed");
                        shared.tls_failures.fetch_add(1, Ordering::SeqCst);
                        shared.changed.notify_waiters();
                    }
                },
            }
        });
    }
}

async fn serve_connection<I>(io: TokioIo<I>, shared: Arc<Shared>, id: u64)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(Arc::clone(&shared), id, req));
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service)
        .await
    {
        tracing::debug!(error = %e, "mock receiver: connection ended with an error");
    }
}

/// The error that makes hyper close the connection without answering.
#[derive(Debug)]
struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("closed without answering, as scripted")
    }
}

impl std::error::Error for CloseConnection {}

async fn handle(
    shared: Arc<Shared>,
    connection: u64,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(CloseConnection),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let mut received = ReceivedRequest {
        method: parts.method,
        path,
        version: parts.version,
        headers: parts.headers,
        body,
        connection,
        signature_ok: None,
    };
    if let Some((secret, digest)) = &shared.secret {
        let hook = received.verify_hook(secret, *digest).is_ok();
        let standard = received
            .headers
            .contains_key(headers::WEBHOOK_SIGNATURE)
            .then(|| received.verify_standard(secret).is_ok());
        received.signature_ok = Some(hook && standard.unwrap_or(true));
    }
    let reply = shared.next_reply(&received.path);
    let count = {
        let mut requests = lock(&shared.requests);
        requests.push(received);
        requests.len()
    };
    if count >= shared.wanted.load(Ordering::SeqCst) {
        // Every waiter wakes and states its count again.
        shared.wanted.store(usize::MAX, Ordering::SeqCst);
        shared.changed.notify_waiters();
    }
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    match reply.action {
        Action::Close => return Err(CloseConnection),
        Action::Hang => std::future::pending::<()>().await,
        Action::Answer => {}
    }
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            response.headers_mut().append(k, v);
        }
    }
    Ok(response)
}
