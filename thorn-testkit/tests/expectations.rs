//! `MockReceiver`'s expectations against real requests: met ones pass,
//! unmet ones panic listing what was expected and received, and a receiver
//! dropped unchecked checks them itself (but not while already panicking).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use thorn_testkit::receiver::{Expectation, MockReceiver, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// POSTs `{}` to `path` with `Hook-Event: event` (when given) over a fresh
/// connection; the status the receiver answered.
async fn post(receiver: &MockReceiver, path: &str, event: Option<&str>) -> u16 {
    let exchange = async {
        let mut stream = TcpStream::connect(receiver.addr()).await.unwrap();
        let hook = event
            .map(|e| format!("Hook-Event: {e}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{hook}Content-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            receiver.addr()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response[9..12].parse().unwrap()
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .expect("the receiver answers")
}

/// The message a panic carried.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[tokio::test]
async fn met_expectations_pass_verify_and_the_drop() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver
        .expect(Expectation::path("/orders").times(2))
        .expect(Expectation::event("order.created").times(1))
        .expect(Expectation::event("order.cancelled").at_least(1))
        .expect(
            Expectation::path("/orders")
                .with_event("order.cancelled")
                .at_most(1),
        )
        .expect(Expectation::path("/billing").times(0))
        .expect(Expectation::any().times(3));
    post(&receiver, "/orders", Some("order.created")).await;
    post(&receiver, "/orders", Some("order.cancelled")).await;
    post(&receiver, "/audit", None).await;
    receiver.verify();
    drop(receiver);
}

#[tokio::test]
async fn an_unmet_expectation_panics_with_expected_and_received_counts() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver
        .expect(Expectation::path("/orders").times(2))
        .expect(Expectation::event("order.created").times(1))
        .expect(Expectation::event("order.cancelled").times(0));
    post(&receiver, "/orders", Some("order.cancelled")).await;
    let panicked = catch_unwind(AssertUnwindSafe(|| receiver.verify())).unwrap_err();
    let message = panic_message(panicked);
    let addr = receiver.addr();
    assert!(
        message.starts_with(&format!(
            "MockReceiver on {addr}: 3 of 3 expectations unmet\n"
        )),
        "{message}"
    );
    for line in [
        r#"  - requests on path "/orders": expected exactly 2, received 1"#,
        r#"  - requests of event "order.created": expected exactly 1, received 0"#,
        r#"  - requests of event "order.cancelled": expected exactly 0, received 1"#,
        "requests recorded: 1",
        r#"  - 1 × /orders, event "order.cancelled""#,
    ] {
        assert!(
            message.lines().any(|l| l == line),
            "no line {line:?} in:\n{message}"
        );
    }
    let err = receiver.try_verify().unwrap_err();
    assert_eq!(
        err.to_string(),
        message,
        "try_verify says what verify panics with"
    );
    assert_eq!(err.unmet().map(|(_, n)| n).collect::<Vec<_>>(), [1, 0, 1]);
    // Verified: the drop does not panic again.
    drop(receiver);
}

#[tokio::test]
async fn a_receiver_dropped_unverified_checks_its_expectations() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.expect(Expectation::event("order.created").times(2));
    post(&receiver, "/orders", Some("order.created")).await;
    let panicked = catch_unwind(AssertUnwindSafe(move || drop(receiver))).unwrap_err();
    let message = panic_message(panicked);
    assert!(
        message.contains(r#"requests of event "order.created": expected exactly 2, received 1"#),
        "{message}"
    );

    // Verified, then another expectation added: the drop checks again.
    let receiver = MockReceiver::start().await.unwrap();
    receiver.expect(Expectation::any().times(0));
    receiver.verify();
    receiver.expect(Expectation::path("/late").times(1));
    let panicked = catch_unwind(AssertUnwindSafe(move || drop(receiver))).unwrap_err();
    assert!(
        panic_message(panicked)
            .contains(r#"requests on path "/late": expected exactly 1, received 0"#)
    );
}

#[tokio::test]
async fn a_receiver_dropped_while_panicking_keeps_the_first_panic() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.expect(Expectation::path("/never").times(1));
    // A second panic from the drop would abort the whole test run.
    let panicked = catch_unwind(AssertUnwindSafe(move || {
        let _receiver = receiver;
        panic!("the test's own failure");
    }))
    .unwrap_err();
    assert_eq!(panic_message(panicked), "the test's own failure");
}

#[tokio::test]
async fn counts_start_at_expect_and_include_every_attempt_whatever_the_reply() {
    let receiver = MockReceiver::start().await.unwrap();
    post(&receiver, "/hooks", Some("job.done")).await;
    receiver.expect(Expectation::event("job.done").times(2));
    receiver.script([Reply::status(500)]);
    assert_eq!(post(&receiver, "/hooks", Some("job.done")).await, 500);
    receiver.clear();
    assert_eq!(post(&receiver, "/hooks", Some("job.done")).await, 200);
    receiver.verify();
    assert_eq!(
        receiver.len(),
        1,
        "clear forgot the requests, not the counts"
    );
}
