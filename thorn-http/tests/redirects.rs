//! Redirects against real local receivers: which statuses are followed, to
//! which origins, and what each hop carries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use thorn_core::delivery::headers;
use thorn_core::{
    Config, Delivery, Digest, EventName, RecipientPolicy, RedirectPolicy, Signatures, Subscriber,
};
use thorn_http::{Attempt, HttpClient, Verdict};
use thorn_testkit::receiver::{MockReceiver, ReceivedRequest, Reply};

/// A Standard Webhooks secret, so that both signature headers are sent.
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const BODY: &[u8] = br#"{"id": 1, "name": "Ada"}"#;

fn delivery(url: &str) -> Delivery {
    Delivery {
        id: uuid::Uuid::new_v4(),
        event: EventName::new("article.created").unwrap(),
        subscriber: Arc::new(
            Subscriber::builder("article.*", url, SECRET)
                .signatures(Signatures::Both)
                .build()
                .unwrap(),
        ),
        body: Bytes::from_static(BODY),
        timeout: None,
        standard_webhooks: false,
        hmac_signer: thorn_core::Signer::Hmac,
    }
}

/// One attempt to `url` with loopback allowed and `redirects` set.
async fn attempt(redirects: RedirectPolicy, url: &str) -> Attempt {
    let mut config = Config::default();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    config.allow_redirects = redirects;
    HttpClient::new(&config)
        .unwrap()
        .attempt(&delivery(url), 1)
        .await
}

/// `http://127.0.0.1:PORT`: the receiver's origin as a redirect error
/// names it.
fn origin(receiver: &MockReceiver) -> String {
    format!("http://{}", receiver.addr())
}

fn redirect(status: u16, location: impl Into<String>) -> Reply {
    Reply::status(status).header("Location", location)
}

fn assert_signed_post(r: &ReceivedRequest) {
    assert_eq!(r.method, "POST", "{r:?}");
    assert_eq!(r.body, BODY, "{r:?}");
    r.verify_hook(SECRET, Digest::Sha256).unwrap();
    r.verify_standard(SECRET).unwrap();
}

fn assert_unsigned(r: &ReceivedRequest) {
    assert_eq!(r.header(headers::HOOK_HMAC), None, "{r:?}");
    assert_eq!(r.header(headers::WEBHOOK_SIGNATURE), None, "{r:?}");
}

#[tokio::test]
async fn a_redirect_is_not_followed_by_default() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.script_path("/old", [redirect(307, "/new")]);
    let a = attempt(RedirectPolicy::default(), &receiver.url("/old")).await;
    assert_eq!(
        (a.verdict.clone(), a.status),
        (Verdict::Permanent, Some(307)),
        "{a:?}"
    );
    let e = a.error.unwrap();
    assert!(e.contains("THORN_ALLOW_REDIRECTS=true"), "{e}");
    assert!(receiver.requests_on("/new").is_empty());
    assert_eq!(receiver.len(), 1);
}

#[tokio::test]
async fn another_origin_gets_nothing_unless_any_origin() {
    let first = MockReceiver::start().await.unwrap();
    let other = MockReceiver::start().await.unwrap();
    first.otherwise(redirect(307, other.url("/elsewhere")));
    for mode in [RedirectPolicy::Never, RedirectPolicy::SameOrigin] {
        let a = attempt(mode, &first.url("/hook")).await;
        assert_eq!(
            (a.verdict.clone(), a.status, a.refused),
            (Verdict::Permanent, Some(307), false),
            "{mode:?}: {a:?}"
        );
        let e = a.error.unwrap();
        assert!(e.contains(&origin(&other)), "{mode:?}: {e}");
        assert!(
            e.contains("THORN_ALLOW_REDIRECTS=any_origin"),
            "{mode:?}: {e}"
        );
    }
    assert_eq!(first.len(), 2);
    assert_eq!(
        other.connections(),
        0,
        "the other origin was never contacted"
    );
}

#[tokio::test]
async fn any_origin_follows_without_signatures() {
    let first = MockReceiver::start().await.unwrap();
    let other = MockReceiver::start().await.unwrap();
    first.script_path("/hook", [redirect(307, other.url("/elsewhere"))]);
    // Back to the first origin: the chain has left it once, so it stays
    // unsigned.
    other.script_path("/elsewhere", [redirect(308, first.url("/back"))]);
    let a = attempt(RedirectPolicy::AnyOrigin, &first.url("/hook")).await;
    assert_eq!(
        (a.verdict.clone(), a.status),
        (Verdict::Success, Some(200)),
        "{a:?}"
    );

    let signed = &first.requests_on("/hook")[0];
    assert_signed_post(signed);
    let moved = other.requests_on("/elsewhere");
    assert_eq!(moved.len(), 1);
    let back = first.requests_on("/back");
    assert_eq!(back.len(), 1);
    for r in [&moved[0], &back[0]] {
        assert_eq!(r.method, "POST", "{r:?}");
        assert_eq!(r.body, BODY, "{r:?}");
        assert_eq!(r.delivery(), signed.delivery(), "{r:?}");
        assert_unsigned(r);
    }
}

#[tokio::test]
async fn see_other_turns_the_post_into_a_get_without_body() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.script_path("/hook", [redirect(303, "/status")]);
    let a = attempt(RedirectPolicy::SameOrigin, &receiver.url("/hook")).await;
    assert_eq!(
        (a.verdict.clone(), a.status),
        (Verdict::Success, Some(200)),
        "{a:?}"
    );
    assert_signed_post(&receiver.requests_on("/hook")[0]);
    let got = receiver.requests_on("/status");
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "GET", "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
    assert_eq!(r.header("content-type"), None, "{r:?}");
    assert_unsigned(r);
}

#[tokio::test]
async fn moved_and_found_are_refused_for_a_post() {
    let receiver = MockReceiver::start().await.unwrap();
    for status in [301, 302] {
        receiver.script_path("/hook", [redirect(status, "/new")]);
        let a = attempt(RedirectPolicy::AnyOrigin, &receiver.url("/hook")).await;
        assert_eq!(
            (a.verdict.clone(), a.status),
            (Verdict::Permanent, Some(status)),
            "{a:?}"
        );
        let e = a.error.unwrap();
        for part in [
            status.to_string(),
            receiver.url("/new"),
            "307".into(),
            "308".into(),
        ] {
            assert!(e.contains(&part), "{status}: {part} not in {e}");
        }
    }
    assert!(receiver.requests_on("/new").is_empty());
}

#[tokio::test]
async fn temporary_and_permanent_redirects_keep_post_body_and_signatures() {
    let receiver = MockReceiver::start().await.unwrap();
    for mode in [RedirectPolicy::SameOrigin, RedirectPolicy::AnyOrigin] {
        for status in [307, 308] {
            receiver.clear();
            receiver.script_path("/old", [redirect(status, "/new")]);
            let a = attempt(mode, &receiver.url("/old")).await;
            assert_eq!(a.verdict, Verdict::Success, "{mode:?} {status}: {a:?}");
            let new = receiver.requests_on("/new");
            assert_eq!(new.len(), 1, "{mode:?} {status}");
            assert_signed_post(&new[0]);
        }
    }
}

#[tokio::test]
async fn every_hop_is_checked_against_the_recipient_policy() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.script_path(
        "/hook",
        [redirect(307, "http://169.254.169.254/latest/meta-data/")],
    );
    let a = attempt(RedirectPolicy::AnyOrigin, &receiver.url("/hook")).await;
    assert_eq!(
        (a.verdict.clone(), a.status, a.refused),
        (Verdict::Permanent, Some(307), true),
        "{a:?}"
    );
    assert!(
        a.error.unwrap().contains("THORN_RECIPIENT_VALIDATORS"),
        "the refusal names its setting"
    );
}

#[tokio::test]
async fn a_redirect_loop_ends_as_a_permanent_failure() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.otherwise(redirect(307, "/loop"));
    let a = attempt(RedirectPolicy::SameOrigin, &receiver.url("/loop")).await;
    assert_eq!(
        (a.verdict.clone(), a.status),
        (Verdict::Permanent, Some(307)),
        "{a:?}"
    );
    assert!(a.error.unwrap().contains("redirects"));
    assert_eq!(receiver.len(), 6, "the request and five redirects");
}
