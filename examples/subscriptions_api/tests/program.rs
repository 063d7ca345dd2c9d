//! The example as a user runs it: the binary started with its settings,
//! called over HTTP with API keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use thorn::testkit::client::{HeaderMap, Method, request};
use thorn::testkit::program::Program;

/// `method url` with `key` (if any) and a JSON body; the status and body.
async fn call(method: &str, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    let body = match body {
        Some(b) => {
            headers.insert("content-type", "application/json".parse().unwrap());
            b.to_string()
        }
        None => String::new(),
    };
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let answer = request(
        host.parse().unwrap(),
        method,
        &format!("/{path}"),
        &headers,
        body,
    )
    .await;
    (
        answer.status.as_u16(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_by_api_key_over_the_real_binary() {
    let mut program = Program::start(
        env!("CARGO_BIN_EXE_subscriptions_api"),
        &[
            ("SUBSCRIPTIONS_API_ADDR", "127.0.0.1:0"),
            ("SUBSCRIPTIONS_API_KEYS", "key-alice-1=alice,key-bob-22=bob"),
            ("THORN_DISPATCHER", "disabled"),
        ],
    )
    .unwrap();
    let line = program.line().await.unwrap();
    let base = line.strip_prefix("listening on ").expect(&line).to_owned();
    assert!(base.ends_with("/hooks"), "{base}");

    let (status, body) = call(
        "POST",
        &format!("{base}/"),
        Some("key-alice-1"),
        Some(json!({"event": "order.*", "url": "https://hooks.example.com/orders"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(
        call("GET", &format!("{base}/{id}"), Some("key-alice-1"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call("GET", &format!("{base}/{id}"), Some("key-bob-22"), None)
            .await
            .0,
        404
    );
    assert_eq!(call("GET", &base, None, None).await.0, 401);
    assert_eq!(call("GET", &base, Some("not-a-key"), None).await.0, 401);
    let (status, body) = call("GET", &format!("{base}/openapi.json"), None, None).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"openapi\":\"3.1"), "{body}");
    let (status, body) = call(
        "POST",
        &format!("{base}/{id}/test"),
        Some("key-alice-1"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "dropped"
    );

    program.terminate().unwrap();
    let (ok, stderr) = program.exit().await.unwrap();
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn bad_keys_are_refused_at_start() {
    let program = Program::start(
        env!("CARGO_BIN_EXE_subscriptions_api"),
        &[("SUBSCRIPTIONS_API_KEYS", "short=alice")],
    )
    .unwrap();
    let (ok, stderr) = program.exit().await.unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("SUBSCRIPTIONS_API_KEYS") && stderr.contains("shorter than 8"),
        "{stderr}"
    );
}
