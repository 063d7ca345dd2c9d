//! The program itself, configured from the environment: it keeps the
//! user's recipient policy and adds its local receiver, announces an
//! order, stops cleanly on SIGTERM, and tells errors in plain words.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use axum::http::StatusCode;
use serde_json::json;
use support::{post_order, start};
use thorn::testkit::receiver::MockReceiver;
use thorn::{Digest, Secret};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announces_an_order_and_stops_on_sigterm() {
    let secret = Secret::generate();
    let receiver = MockReceiver::builder()
        .secret(secret.expose(), Digest::Sha256)
        .start()
        .await
        .unwrap();
    let hook_url = receiver.url("/hooks");
    let mut program = start(&[
        ("AXUM_APP_ADDR", "127.0.0.1:0"),
        ("AXUM_APP_HOOK_URL", &hook_url),
        ("AXUM_APP_HOOK_SECRET", secret.expose()),
        ("THORN_RECIPIENT_VALIDATORS", "allow_cidr=10.9.0.0/16"),
    ]);
    assert_eq!(program.line().await.unwrap(), "dispatcher: default");
    assert_eq!(
        program.line().await.unwrap(),
        format!(
            "recipients: allow_loopback,allow_port={},allow_cidr=10.9.0.0/16",
            receiver.port()
        ),
        "the user's setting, plus the local receiver"
    );
    assert_eq!(
        program.line().await.unwrap(),
        format!("order.* goes to {hook_url}")
    );
    let listening = program.line().await.unwrap();
    let addr: SocketAddr = listening
        .strip_prefix("listening on http://")
        .expect("where it listens")
        .parse()
        .unwrap();

    let answer = post_order(addr, json!({"item": "pen", "quantity": 3})).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(
        program.line().await.unwrap(),
        "order 1: order.created delivered 1, queued 0, failed 0"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].signature_ok, Some(true));
    assert_eq!(requests[0].json(), Some(answer.json()));

    program.terminate().unwrap();
    assert_eq!(
        program.line().await.unwrap(),
        "stopped; 0 held deliveries handed over at shutdown"
    );
    let (ok, stderr) = program.exit().await.unwrap();
    assert!(ok, "{stderr}");
}

/// What the program printed to stderr when it failed to start with `vars`.
async fn failure(vars: &[(&str, &str)]) -> String {
    let (ok, stderr) = start(vars).exit().await.unwrap();
    assert!(!ok, "{stderr}");
    // Display, never Debug: no struct or variant syntax.
    assert!(
        !stderr.contains(" { ") && !stderr.contains("Some("),
        "{stderr}"
    );
    stderr.trim().to_owned()
}

#[tokio::test]
async fn errors_are_told_in_plain_words() {
    let secret = ("AXUM_APP_HOOK_SECRET", "s3cret");
    let e = failure(&[secret, ("THORN_RETRY_MAX", "lots")]).await;
    assert!(
        e.starts_with("axum_app: invalid setting THORN_RETRY_MAX=\"lots\": "),
        "{e}"
    );
    // The user's policy is kept: https_only refuses the plain-http receiver,
    // and the refusal says what would allow it.
    let e = failure(&[secret, ("THORN_RECIPIENT_VALIDATORS", "https_only")]).await;
    assert!(e.starts_with("axum_app: "), "{e}");
    assert!(e.contains("http://127.0.0.1:3001/hooks"), "{e}");
    let e = failure(&[]).await;
    assert!(
        e.starts_with("axum_app: AXUM_APP_HOOK_SECRET: is unset"),
        "{e}"
    );
}
