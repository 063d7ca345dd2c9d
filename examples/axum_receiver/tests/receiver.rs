//! A real Thorn (the `"default"` backend, loopback allowed) delivers to the
//! receiver running on a loopback port: signed deliveries are accepted
//! and processed once; a wrong secret, a tampered body, another scheme,
//! missing Standard Webhooks headers and a stale timestamp are refused with
//! 401; a captured delivery posted again is not processed again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::SystemTime;

use axum::http::{HeaderValue, StatusCode};
use axum_receiver::{PATH, Received, Settings, StandardHeaders, WORK_QUEUE, router};
use serde_json::json;
use support::{WAIT, post};
use thorn::delivery::headers;
use thorn::testkit::receiver::{MockReceiver, ReceivedRequest};
use thorn::{
    Config, Event, RecipientPolicy, Secret, Signatures, Signer, Status, Subscriber, Thorn,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The receiver, serving on a loopback port in this test's runtime.
struct Running {
    addr: SocketAddr,
    processing: mpsc::Receiver<Received>,
}

impl Running {
    async fn start(settings: Settings) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (work, processing) = mpsc::channel(WORK_QUEUE);
        let app = router(settings, work);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Running { addr, processing }
    }

    fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// The deliveries handed over so far. The handler hands a delivery over
    /// before it answers, so after an answer nothing is still on its way.
    fn processed(&mut self) -> Vec<Received> {
        std::iter::from_fn(|| self.processing.try_recv().ok()).collect()
    }
}

fn settings(secret: &Secret, signer: Signer, standard: StandardHeaders) -> Settings {
    Settings {
        signer,
        standard,
        ..Settings::new(secret.clone())
    }
}

/// A Thorn allowed to send to loopback on `port`, with `subscription`;
/// retries off, so that each outcome is the receiver's first answer.
async fn sender(port: u16, subscription: thorn::SubscriberBuilder) -> Thorn {
    let policy = RecipientPolicy::parse(&format!("allow_loopback,allow_port={port}")).unwrap();
    let config = Config::builder()
        .recipients(policy)
        .retry(thorn::RetryPolicy::never())
        .build()
        .unwrap();
    let thorn = Thorn::new(config, &thorn::registry()).unwrap();
    thorn
        .subscribe(subscription.build().unwrap())
        .await
        .unwrap();
    thorn
}

fn subscription(url: &str, secret: &str, signer: Signer) -> thorn::SubscriberBuilder {
    Subscriber::builder("order.*", url, secret)
        .signer(signer)
        .signatures(Signatures::Both)
}

fn order(id: u64) -> Event {
    Event::new("order.created", json!({"id": id, "item": "book"})).unwrap()
}

/// A delivery as Thorn made it, captured by a mock receiver.
async fn captured(secret: &Secret) -> ReceivedRequest {
    let mock = MockReceiver::start().await.unwrap();
    let sub = subscription(&mock.url(PATH), secret.expose(), Signer::Hmac);
    let report = sender(mock.port(), sub).await.send(order(7)).await.unwrap();
    assert_eq!(report.count(Status::Delivered), 1);
    mock.requests().remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_of_either_scheme_are_accepted_and_processed_once() {
    for signer in [Signer::Hmac, Signer::Compat] {
        let secret = Secret::generate();
        let mut receiver =
            Running::start(settings(&secret, signer, StandardHeaders::Required)).await;
        let sub = subscription(&receiver.url(), secret.expose(), signer);
        let thorn = sender(receiver.addr.port(), sub).await;
        let mut sent = Vec::new();
        for id in 1..=2 {
            let report = thorn.send(order(id)).await.unwrap();
            assert_eq!(report.count(Status::Delivered), 1, "{signer}: {report:?}");
            assert_eq!(report.outcomes[0].http_status, Some(202));
            sent.push(report.outcomes[0].delivery.to_string());
        }
        let processed = receiver.processed();
        let ids: Vec<&str> = processed.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids, sent,
            "{signer}: each delivery processed once, in order"
        );
        assert!(processed.iter().all(|r| r.event == "order.created"));
        let body: serde_json::Value = serde_json::from_slice(&processed[1].body).unwrap();
        assert_eq!(body, json!({"id": 2, "item": "book"}));

        // The other scheme, with the right secret, does not pass.
        let other = match signer {
            Signer::Hmac => Signer::Compat,
            Signer::Compat => Signer::Hmac,
        };
        let sub = subscription(&receiver.url(), secret.expose(), other);
        let report = sender(receiver.addr.port(), sub)
            .await
            .send(order(3))
            .await
            .unwrap();
        assert_eq!(report.count(Status::Failed), 1, "{report:?}");
        assert_eq!(report.outcomes[0].http_status, Some(401));
        assert!(receiver.processed().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_or_a_tampered_body_is_refused_with_401() {
    let secret = Secret::generate();
    let mut receiver =
        Running::start(settings(&secret, Signer::Hmac, StandardHeaders::Required)).await;
    let wrong = Secret::generate();
    let sub = subscription(&receiver.url(), wrong.expose(), Signer::Hmac);
    let report = sender(receiver.addr.port(), sub)
        .await
        .send(order(1))
        .await
        .unwrap();
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.status, Status::Failed, "{report:?}");
    assert_eq!((outcome.http_status, outcome.attempts), (Some(401), 1));

    let request = captured(&secret).await;
    let mut body = request.body.to_vec();
    body[2] ^= 1;
    let answer = post(receiver.addr, PATH, &request.headers, body.into()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    assert_eq!(answer.json()["title"], "unverified delivery");
    assert!(receiver.processed().is_empty());
    // The same request, untouched, passes: only the change was refused.
    let answer = post(receiver.addr, PATH, &request.headers, request.body.clone()).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(receiver.processed().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_posted_again_is_not_processed_again() {
    let secret = Secret::generate();
    let mut receiver =
        Running::start(settings(&secret, Signer::Hmac, StandardHeaders::Required)).await;
    let request = captured(&secret).await;
    let id = request.delivery().unwrap().to_owned();

    let first = post(receiver.addr, PATH, &request.headers, request.body.clone()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.json(), json!({"id": id, "status": "accepted"}));
    let replay = post(receiver.addr, PATH, &request.headers, request.body.clone()).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.json(), json!({"id": id, "status": "duplicate"}));
    let processed = receiver.processed();
    assert_eq!(processed.len(), 1);
    assert_eq!(processed[0].id, id);

    // A fresh Hook-Delivery does not make it new: the signed webhook-id
    // still names the delivery.
    let mut renamed = request.headers.clone();
    let fresh = HeaderValue::from_static("00000000-0000-4000-8000-000000000000");
    renamed.insert(headers::HOOK_DELIVERY, fresh);
    let answer = post(receiver.addr, PATH, &renamed, request.body.clone()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["title"], "unverified delivery");
    assert!(receiver.processed().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_standard_webhooks_timestamp_is_refused() {
    let secret = Secret::generate();
    let mut receiver =
        Running::start(settings(&secret, Signer::Hmac, StandardHeaders::Required)).await;
    let request = captured(&secret).await;
    let id = request.header(headers::WEBHOOK_ID).unwrap().to_owned();
    // The captured request, timestamped `ts` and signed for it with the
    // right key: only the time can make it fail.
    let at = |ts: i64| {
        let mut h = request.headers.clone();
        let sig = thorn::signing::standard_signature(secret.standard_key(), &id, ts, &request.body);
        h.insert(headers::WEBHOOK_TIMESTAMP, ts.into());
        h.insert(headers::WEBHOOK_SIGNATURE, sig.parse().unwrap());
        h
    };
    let now = thorn::signing::unix_seconds(SystemTime::now());
    let tolerance = thorn::signing::TIMESTAMP_TOLERANCE.as_secs() as i64;

    for stale in [now - tolerance - 60, now + tolerance + 60] {
        let answer = post(receiver.addr, PATH, &at(stale), request.body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json()["title"], "unverified delivery");
    }
    assert!(receiver.processed().is_empty());
    let answer = post(receiver.addr, PATH, &at(now - 60), request.body.clone()).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(receiver.processed().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_headers_are_required_unless_set_optional() {
    let secret = Secret::generate();
    for (standard, expected) in [
        (StandardHeaders::Required, Some(401)),
        (StandardHeaders::Optional, Some(202)),
    ] {
        let mut receiver = Running::start(settings(&secret, Signer::Hmac, standard)).await;
        let sub = Subscriber::builder("order.*", receiver.url(), secret.expose());
        let report = sender(receiver.addr.port(), sub)
            .await
            .send(order(1))
            .await
            .unwrap();
        assert_eq!(report.outcomes[0].http_status, expected, "{standard:?}");
        let processed = receiver.processed().len();
        assert_eq!(processed, usize::from(expected == Some(202)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_without_waiting_for_processing_and_503_once_the_queue_is_full() {
    // Nothing takes work from the queue here: every answer that came back
    // came without the delivery being processed.
    let secret = Secret::generate();
    let receiver = Running::start(settings(&secret, Signer::Hmac, StandardHeaders::Required)).await;
    let sub = subscription(&receiver.url(), secret.expose(), Signer::Hmac);
    let thorn = sender(receiver.addr.port(), sub).await;
    let flush = thorn.buffer_events(async {
        for id in 0..=WORK_QUEUE as u64 {
            thorn.send(order(id)).await.unwrap();
        }
    });
    let ((), flushed) = tokio::time::timeout(WAIT, flush)
        .await
        .expect("answered in time");
    let report = flushed.unwrap();
    assert_eq!(report.count(Status::Delivered), WORK_QUEUE);
    let refused: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| !o.status.is_delivered())
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].http_status, Some(503));
}
