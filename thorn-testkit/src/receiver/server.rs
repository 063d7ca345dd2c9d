//! The server: accepting connections (TLS when asked), recording each
//! request and answering it as scripted.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use thorn_core::delivery::headers;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::reply::Action;
use super::request::ReceivedRequest;
use super::{Shared, lock};

pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
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

/// A request being answered, counted in the receiver's in-flight count
/// from just before it is recorded until its answer is handed over (or
/// the connection closes, or the handler of a hung request is dropped).
struct Answering<'a>(&'a Shared);

impl<'a> Answering<'a> {
    fn begin(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Answering(shared)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
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
        received_at: Instant::now(),
        signature_ok: None,
    };
    if let Some((secret, digest)) = &shared.secret {
        let hook = received
            .verify_hook_with(shared.signer, secret, *digest)
            .is_ok();
        let standard = received
            .headers
            .contains_key(headers::WEBHOOK_SIGNATURE)
            .then(|| received.verify_standard(secret).is_ok());
        received.signature_ok = Some(hook && standard.unwrap_or(true));
    }
    // Counted before it is recorded, so that a test that waited for the
    // request finds it counted too.
    lock(&shared.expectations).record(&received);
    let _answering = Answering::begin(&shared);
    let reply = lock(&shared.script).next_reply(&received.path);
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
