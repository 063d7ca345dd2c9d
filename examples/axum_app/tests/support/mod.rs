//! What the tests share: a plain HTTP/1.1 client and a running copy of the
//! program, each bounded in time.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, Method, Request, StatusCode};
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

/// Sends `method` to `path` on `addr` with a JSON body if given, on a new
/// connection.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    json: Option<serde_json::Value>,
) -> Answer {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, addr.to_string());
        let body = match json {
            Some(value) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder.body(Full::new(body)).unwrap();
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

/// POSTs `json` to `/orders`.
pub async fn post_order(addr: SocketAddr, json: serde_json::Value) -> Answer {
    request(addr, Method::POST, "/orders", Some(json)).await
}

/// GETs `path`.
pub async fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, Method::GET, path, None).await
}

/// This example's program, started with `vars` only.
pub fn start(vars: &[(&str, &str)]) -> Program {
    Program::start(env!("CARGO_BIN_EXE_axum_app"), vars).expect("the program starts")
}
