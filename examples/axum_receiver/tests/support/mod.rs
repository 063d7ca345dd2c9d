//! What the tests share: a plain HTTP/1.1 client and a running copy of the
//! program, each bounded in time.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use thorn::testkit::program::Program;
use tokio::net::TcpStream;

/// The longest any one step of a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// POSTs `body` with `headers` to `path` on `addr`, on a new connection.
pub async fn post(addr: SocketAddr, path: &str, headers: &HeaderMap, body: Bytes) -> Answer {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut request = Request::post(path)
            .header(HOST, addr.to_string())
            .body(Full::new(body))
            .unwrap();
        // The framing headers are the new request's own.
        for (name, value) in headers {
            if ![HOST, CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING].contains(name) {
                request.headers_mut().append(name, value.clone());
            }
        }
        let (parts, body) = sender.send_request(request).await.unwrap().into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("an answer in time")
}

/// This example's program, started with `vars` only.
pub fn start(vars: &[(&str, &str)]) -> Program {
    Program::start(env!("CARGO_BIN_EXE_axum_receiver"), vars).expect("the program starts")
}
