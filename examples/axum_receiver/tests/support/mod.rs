//! What the tests share: requests through the testkit's client, and a
//! running copy of the program.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
pub use thorn::testkit::client::Answer;
use thorn::testkit::client::request;
use thorn::testkit::program::Program;

/// The longest any one step of a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// POSTs `body` with `headers` to `path` on `addr`, on a new connection.
pub async fn post(addr: SocketAddr, path: &str, headers: &HeaderMap, body: Bytes) -> Answer {
    request(addr, Method::POST, path, headers, body).await
}

/// This example's program, started with `vars` only.
pub fn start(vars: &[(&str, &str)]) -> Program {
    Program::start(env!("CARGO_BIN_EXE_axum_receiver"), vars).expect("the program starts")
}
