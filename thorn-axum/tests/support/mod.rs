//! A real listener serving an app, and a real HTTP client to call it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thorn_axum::Owner;

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

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A client of one server.
#[derive(Clone)]
pub struct Http {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Http {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends `method path` with `headers` and `body`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
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
