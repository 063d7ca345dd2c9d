//! `Verified<T>` over real HTTP: deliveries from a real Thorn verify under
//! either signer and with Standard Webhooks; tampered, stale, replayed,
//! unsigned and oversized ones are refused without saying which check
//! failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};
use support::{Http, serve};
use thorn::delivery::headers;
use thorn::{
    Config, Delivery, EventName, RecipientPolicy, Secret, Signatures, Signer, Subscriber, Thorn,
};
use thorn_axum::{Verified, WebhookReceiver};
use thorn_testkit::client::{Method, StatusCode};

/// What the handler saw.
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

#[derive(Clone)]
struct AppState {
    receiver: WebhookReceiver,
    seen: Seen,
}

impl axum::extract::FromRef<AppState> for WebhookReceiver {
    fn from_ref(state: &AppState) -> Self {
        state.receiver.clone()
    }
}

async fn receive(State(state): State<AppState>, hook: Verified<Value>) -> StatusCode {
    state
        .seen
        .lock()
        .unwrap()
        .push((hook.delivery, hook.event, hook.payload));
    StatusCode::NO_CONTENT
}

async fn app(receiver: WebhookReceiver) -> (Http, String, Seen) {
    let seen = Seen::default();
    let router = axum::Router::new()
        .route("/in", post(receive))
        .with_state(AppState {
            receiver,
            seen: Arc::clone(&seen),
        });
    let addr = serve(router).await;
    (Http::new(addr), format!("http://{addr}/in"), seen)
}

fn thorn() -> Thorn {
    let mut config = Config::default();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config.retry = config.retry.with_max_retries(0);
    Thorn::new(config, &thorn::registry()).unwrap()
}

const KEY: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_from_thorn_verify_under_every_scheme() {
    let (_http, url, seen) = app(WebhookReceiver::new(Secret::new(KEY).unwrap())).await;
    let thorn = thorn();
    for (signer, signatures) in [
        (Signer::Hmac, Signatures::Hook),
        (Signer::Compat, Signatures::Hook),
        (Signer::Hmac, Signatures::Both),
    ] {
        let sub = Subscriber::builder("order.*", &url, KEY)
            .signer(signer)
            .signatures(signatures)
            .build()
            .unwrap();
        let event = thorn::Event::new("order.created", json!({"id": 7}))
            .unwrap()
            .only_to(sub);
        let report = thorn.send(event).await.unwrap();
        assert_eq!(report.outcomes[0].http_status, Some(204), "{report:?}");
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|(_, event, payload)| event == "order.created" && payload == &json!({"id": 7}))
    );
}

/// A delivery of `body` to `url`'s subscription, signed now as Thorn signs.
fn signed(
    url: &str,
    body: &'static [u8],
    standard: bool,
    secret: &str,
) -> (Vec<(String, String)>, Bytes) {
    signed_at(SystemTime::now(), url, body, standard, secret)
}

/// [`signed`] with the timestamp `at`.
fn signed_at(
    at: SystemTime,
    url: &str,
    body: &'static [u8],
    standard: bool,
    secret: &str,
) -> (Vec<(String, String)>, Bytes) {
    let signatures = if standard {
        Signatures::Both
    } else {
        Signatures::Hook
    };
    let sub = Subscriber::builder("a.*", url, secret)
        .signatures(signatures)
        .build()
        .unwrap();
    let delivery = Delivery {
        id: thorn::delivery::new_id(SystemTime::now()),
        event: EventName::new("a.b").unwrap(),
        subscriber: Arc::new(sub),
        body: Bytes::from_static(body),
        timeout: None,
        standard_webhooks: false,
        hmac_signer: Signer::Hmac,
    };
    let sig = delivery.sign(at);
    let mut h = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (headers::HOOK_HMAC.to_owned(), sig.hook_hmac),
        (headers::HOOK_DELIVERY.to_owned(), delivery.id.to_string()),
        (headers::HOOK_EVENT.to_owned(), "a.b".to_owned()),
    ];
    if let Some((ts, header)) = sig.standard {
        h.push((headers::WEBHOOK_ID.to_owned(), delivery.id.to_string()));
        h.push((headers::WEBHOOK_TIMESTAMP.to_owned(), ts.to_string()));
        h.push((headers::WEBHOOK_SIGNATURE.to_owned(), header));
    }
    (h, delivery.body)
}

async fn post_with(http: &Http, h: &[(String, String)], body: Bytes) -> support::Answer {
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    http.send(Method::POST, "/in", &h, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_replayed_stale_unsigned_and_oversized_are_refused() {
    let receiver = WebhookReceiver::new(Secret::new(KEY).unwrap()).max_body(1024);
    let (http, url, seen) = app(receiver).await;

    let (h, body) = signed(&url, br#"{"n": 1}"#, true, KEY);
    assert_eq!(
        post_with(&http, &h, body.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    let replay = post_with(&http, &h, body).await;
    assert_eq!(
        replay.status,
        StatusCode::OK,
        "a replay is answered as done: {replay:?}"
    );
    assert_eq!(replay.json()["status"], "duplicate");

    let (h, _) = signed(&url, br#"{"n": 2}"#, true, KEY);
    let tampered = post_with(&http, &h, Bytes::from_static(br#"{"n": 3}"#)).await;
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
    assert_eq!(tampered.content_type(), "application/problem+json");
    let untrusted = tampered.json();

    let (mut h, body) = signed(&url, br#"{"n": 4}"#, true, KEY);
    let old = (thorn::signing::unix_seconds(SystemTime::now()) - 600).to_string();
    for (k, v) in h.iter_mut() {
        if k == headers::WEBHOOK_TIMESTAMP {
            *v = old.clone();
        }
    }
    let stale = post_with(&http, &h, body).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "stale");
    // Every refusal reads the same: nothing says which check failed.
    assert_eq!(stale.json(), untrusted);

    let (h, body) = signed(&url, br#"{"n": 5}"#, false, "another key");
    let wrong = post_with(&http, &h, body).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "wrong key");
    assert_eq!(wrong.json(), untrusted);

    let unsigned = http
        .send(
            Method::POST,
            "/in",
            &[("content-type", "application/json")],
            r#"{"n": 6}"#,
        )
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);

    let (h, _) = signed(&url, br#"{"n": 7}"#, false, KEY);
    let big = Bytes::from(vec![b' '; 2048]);
    assert_eq!(
        post_with(&http, &h, big).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    assert_eq!(seen.lock().unwrap().len(), 1, "only the first got through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_per_subscription_and_during_rotation() {
    let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    // The key of the subscription the delivery names, current then old.
    let lookup = move |subscription: Option<&str>| match subscription {
        Some(_) => vec![Secret::new(KEY).unwrap(), Secret::new(old).unwrap()],
        None => vec![],
    };
    let (http, url, _seen) =
        app(WebhookReceiver::new(lookup).tolerance(Duration::from_secs(60))).await;
    let (mut h, body) = signed(&url, br#"{"n": 1}"#, true, old);
    h.push((
        headers::HOOK_SUBSCRIPTION.to_owned(),
        "3f1c1b0e-2a64-4a3e-9a53-6a8e2c1f0a01".to_owned(),
    ));
    assert_eq!(
        post_with(&http, &h, body).await.status,
        StatusCode::NO_CONTENT,
        "the old key still verifies"
    );

    let (h, body) = signed(&url, br#"{"n": 2}"#, true, KEY);
    assert_eq!(
        post_with(&http, &h, body).await.status,
        StatusCode::UNAUTHORIZED,
        "no subscription named: no keys"
    );
}

/// A delivery stamped ahead of the receiver's clock stays valid for more
/// than one tolerance from when it is first seen: its id is remembered
/// until its own timestamp leaves the window. The clock is the one given
/// to `check`, so time passes without waiting.
#[test]
fn a_replay_with_a_timestamp_ahead_is_refused_until_it_goes_stale() {
    let receiver = WebhookReceiver::new(Secret::new(KEY).unwrap());
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let (h, body) = signed_at(
        start + Duration::from_secs(295),
        "https://example.com/in",
        br#"{"n": 1}"#,
        true,
        KEY,
    );
    let mut map = axum::http::HeaderMap::new();
    for (k, v) in &h {
        map.append(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let at = |secs: u64| start + Duration::from_secs(secs);
    assert!(receiver.check(&map, &body, at(0)).is_ok(), "first seen");
    for secs in [5, 299, 306, 500, 595] {
        assert!(
            matches!(
                receiver.check(&map, &body, at(secs)),
                Err(thorn_axum::Rejection::Duplicate(_))
            ),
            "a replay at +{secs} s is a duplicate"
        );
    }
    assert!(
        matches!(
            receiver.check(&map, &body, at(596)),
            Err(thorn_axum::Rejection::Refused(_))
        ),
        "once its timestamp is out of the window it is refused as stale"
    );
}
