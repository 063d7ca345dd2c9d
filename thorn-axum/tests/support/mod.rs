//! A real listener serving an app, and the testkit's HTTP client to call
//! it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use bytes::Bytes;
use thorn_axum::Owner;
pub use thorn_testkit::client::Answer;
use thorn_testkit::client::{self, HeaderMap, Method};

/// Serves `app` on a loopback port, in the background; its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The test's authentication: `x-owner: NAME` is the owner NAME.
pub fn with_owner_header(app: Router) -> Router {
    async fn owner(mut request: Request, next: Next) -> Response {
        let owner = request
            .headers()
            .get("x-owner")
            .and_then(|v| v.to_str().ok())
            .map(Owner::new);
        if let Some(owner) = owner {
            request.extensions_mut().insert(owner);
        }
        next.run(request).await
    }
    app.layer(middleware::from_fn(owner))
}

/// A client of one server: each request on a new connection (the
/// testkit's client).
#[derive(Clone)]
pub struct Http {
    addr: SocketAddr,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Http { addr }
    }

    /// Sends `method path` with `headers` and `body`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        client::request(self.addr, method, path, &map, body).await
    }

    /// `method path` as `owner` (none: unauthenticated), with a JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        owner: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let mut headers = vec![];
        if let Some(owner) = owner {
            headers.push(("x-owner", owner));
        }
        let body = match body {
            Some(value) => {
                headers.push(("content-type", "application/json"));
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        self.send(method, path, &headers, body).await
    }
}
