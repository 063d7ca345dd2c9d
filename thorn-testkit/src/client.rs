//! A plain HTTP/1.1 client for tests (feature `http`): one request on a
//! new connection, bounded in time, its answer read whole.
//!
//! ```no_run
//! # async fn run(addr: std::net::SocketAddr) {
//! use thorn_testkit::client::{Method, request_json};
//! let answer = request_json(addr, Method::POST, "/orders", Some(serde_json::json!({"id": 1}))).await;
//! assert_eq!(answer.status, 201);
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
pub use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one request may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// When it is not JSON (the message shows it).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `Content-Type`, or `""`.
    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Sends `method path` to `addr` with `headers` (framing headers of its
/// own replace any given) and `body`.
///
/// # Panics
///
/// When the server cannot be reached or does not answer within [`WAIT`]:
/// the test fails there.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: impl Into<Bytes>,
) -> Answer {
    let body = body.into();
    let exchange = async {
        let stream = TcpStream::connect(addr).await.expect("the server accepts");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("an HTTP/1.1 handshake");
        tokio::spawn(conn);
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, addr.to_string())
            .body(Full::new(body))
            .expect("a valid request");
        for (name, value) in headers {
            if ![HOST, CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING].contains(name) {
                request.headers_mut().append(name, value.clone());
            }
        }
        let (parts, body) = sender
            .send_request(request)
            .await
            .expect("an answer")
            .into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("the whole body").to_bytes(),
        }
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("an answer in time")
}

/// Sends `method path` with a JSON body if given.
pub async fn request_json(
    addr: SocketAddr,
    method: Method,
    path: &str,
    json: Option<serde_json::Value>,
) -> Answer {
    let mut headers = HeaderMap::new();
    let body = match json {
        Some(value) => {
            headers.insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Bytes::from(value.to_string())
        }
        None => Bytes::new(),
    };
    request(addr, method, path, &headers, body).await
}
