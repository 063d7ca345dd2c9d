//! The example as a user runs it: the binary started with its settings,
//! called over HTTP with API keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use thorn::testkit::program::Program;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `method url` with `key` (if any) and a JSON body; the status and body.
async fn call(method: &str, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(key) = key {
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
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
