//! What the tests share: requests through the testkit's client, and a
//! running copy of the program.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::Method;
pub use thorn::testkit::client::Answer;
use thorn::testkit::client::request_json;
use thorn::testkit::program::Program;

/// The longest any one step of a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// POSTs `json` to `/orders`.
pub async fn post_order(addr: SocketAddr, json: serde_json::Value) -> Answer {
    request_json(addr, Method::POST, "/orders", Some(json)).await
}

/// GETs `path`.
pub async fn get(addr: SocketAddr, path: &str) -> Answer {
    request_json(addr, Method::GET, path, None).await
}

/// This example's program, started with `vars` only.
pub fn start(vars: &[(&str, &str)]) -> Program {
    Program::start(env!("CARGO_BIN_EXE_axum_app"), vars).expect("the program starts")
}
