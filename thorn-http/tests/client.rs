//! `HttpClient` against a real local receiver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use thorn_core::delivery::headers;
use thorn_core::{Config, Delivery, Digest, EventName, RecipientPolicy, Signatures, Subscriber};
use thorn_http::{HttpClient, TrustedRoots, Verdict};
use thorn_testkit::pki::TestPki;
use thorn_testkit::receiver::{MockReceiver, Reply};

fn delivery(url: &str) -> Delivery {
    Delivery {
        id: uuid::Uuid::new_v4(),
        event: EventName::new("article.created").unwrap(),
        subscriber: Arc::new(
            Subscriber::builder("article.*", url, "s3cret")
                .build()
                .unwrap(),
        ),
        body: Bytes::from_static(br#"{"id": 1, "name": "Ada"}"#),
        timeout: None,
        standard_webhooks: false,
        hmac_signer: thorn_core::Signer::Hmac,
    }
}

fn loopback_config() -> Config {
    let mut c = Config::default();
    c.recipients = RecipientPolicy::allow_loopback_any_port();
    c
}

fn client(config: &Config) -> HttpClient {
    HttpClient::new(config).unwrap()
}

#[tokio::test]
async fn every_header_and_both_signatures() {
    let receiver = MockReceiver::start().await.unwrap();
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let mut d = delivery(&receiver.url("/hook"));
    d.subscriber = Arc::new(
        Subscriber::builder("article.*", receiver.url("/hook"), secret)
            .signatures(Signatures::Both)
            .build()
            .unwrap(),
    );
    let a = client(&loopback_config()).attempt(&d, 1).await;
    assert_eq!(a.verdict, Verdict::Success, "{a:?}");
    assert_eq!(a.status, Some(200));
    let r = &receiver.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    assert_eq!(r.event(), Some("article.created"));
    assert_eq!(r.delivery(), Some(d.id.to_string().as_str()));
    assert_eq!(
        r.header(headers::WEBHOOK_ID),
        Some(d.id.to_string().as_str())
    );
    assert_eq!(
        r.header(headers::HOOK_SUBSCRIPTION),
        Some(d.subscriber.id.to_string().as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let ua = r.header("user-agent").unwrap();
    assert!(
        ua.starts_with("thorn/") && ua.len() > headers::USER_AGENT.len(),
        "{ua}"
    );
    assert_eq!(r.body, d.body);
    r.verify_hook(secret, Digest::Sha256).unwrap();
    r.verify_standard(secret).unwrap();
}

#[tokio::test]
async fn hook_hmac_matches_the_check_value() {
    let receiver = MockReceiver::start().await.unwrap();
    let a = client(&loopback_config())
        .attempt(&delivery(&receiver.url("/")), 1)
        .await;
    assert!(a.is_success(), "{a:?}");
    let r = &receiver.requests()[0];
    assert_eq!(
        r.header(headers::HOOK_HMAC),
        Some("O9SV12RuA0alhpGfc2plwlt4HGyunFlfkZcbuDsuzJc=")
    );
    assert!(r.header(headers::WEBHOOK_SIGNATURE).is_none());
}

#[tokio::test]
async fn statuses_are_classified_with_retry_after() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.script([
        Reply::status(503).header("Retry-After", "7"),
        Reply::status(429),
        Reply::status(408),
        Reply::status(410),
        Reply::status(404),
        Reply::status(204),
        Reply::close(),
    ]);
    let c = client(&loopback_config());
    let d = delivery(&receiver.url("/"));
    let a = c.attempt(&d, 1).await;
    assert_eq!(
        (a.verdict.clone(), a.status, a.retry_after),
        (Verdict::Retryable, Some(503), Some(Duration::from_secs(7)))
    );
    assert_eq!(c.attempt(&d, 2).await.verdict, Verdict::Retryable);
    assert_eq!(c.attempt(&d, 3).await.verdict, Verdict::Retryable);
    let gone = c.attempt(&d, 4).await;
    assert_eq!((gone.verdict, gone.status), (Verdict::Gone, Some(410)));
    let missing = c.attempt(&d, 5).await;
    assert_eq!(
        (missing.verdict, missing.status),
        (Verdict::Permanent, Some(404))
    );
    assert!(missing.error.unwrap().contains("404"));
    assert_eq!(c.attempt(&d, 6).await.verdict, Verdict::Success);
    let closed = c.attempt(&d, 7).await;
    assert_eq!(closed.verdict, Verdict::Retryable, "{closed:?}");
    assert_eq!(closed.status, None);
    assert!(closed.error.is_some());
}

#[tokio::test]
async fn silent_receiver_times_out() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.otherwise(Reply::hang());
    let mut config = loopback_config();
    config.event_timeout = Duration::from_millis(300);
    let a = client(&config)
        .attempt(&delivery(&receiver.url("/")), 1)
        .await;
    assert!(a.timed_out, "{a:?}");
    assert_eq!(a.verdict, Verdict::Retryable);
    // The delivery's own timeout wins over the config's.
    let mut d = delivery(&receiver.url("/"));
    d.timeout = Some(Duration::from_millis(100));
    let mut long = loopback_config();
    long.event_timeout = Duration::from_secs(600);
    let a = client(&long).attempt(&d, 1).await;
    assert!(a.timed_out, "{a:?}");
}

#[tokio::test]
async fn policy_refuses_before_connecting() {
    let receiver = MockReceiver::start().await.unwrap();
    let port = receiver.port();
    // Any port, but the default address rules: loopback must be refused
    // by address, not by port.
    let mut any_port = Config::default();
    any_port.recipients = RecipientPolicy::parse("allow_any_port").unwrap();
    let c = client(&any_port);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let a = c.attempt(&delivery(&url), 1).await;
        assert!(a.refused, "{url}: {a:?}");
        assert_eq!(a.verdict, Verdict::Permanent, "{url}");
        assert!(!a.timed_out, "{url}");
        let e = a.error.unwrap();
        assert!(e.contains("THORN_RECIPIENT_VALIDATORS"), "{url}: {e}");
    }
    // The default policy: the port is refused first, naming its setting.
    let a = client(&Config::default())
        .attempt(&delivery(&format!("http://127.0.0.1:{port}/")), 1)
        .await;
    assert!(a.refused);
    assert!(a.error.unwrap().contains(&format!("allow_port={port}")));
    assert_eq!(receiver.connections(), 0, "nothing reached the receiver");

    // Allowed when configured.
    let a = client(&loopback_config())
        .attempt(&delivery(&receiver.url("/")), 1)
        .await;
    assert!(a.is_success(), "{a:?}");
    assert_eq!(receiver.connections(), 1);
}

#[tokio::test]
async fn tls_checks_certificates_and_trusts_added_roots() {
    let pki = TestPki::new();
    let receiver = MockReceiver::builder()
        .tls(pki.chain.clone(), pki.key.clone())
        .start()
        .await
        .unwrap();
    let d = delivery(&receiver.url("/secure"));
    assert!(d.subscriber.url.as_str().starts_with("https://"));

    let untrusted = client(&loopback_config()).attempt(&d, 1).await;
    assert_eq!(untrusted.verdict, Verdict::Permanent, "{untrusted:?}");
    let e = untrusted.error.unwrap();
    assert!(e.contains("TLS") && e.contains("certificate"), "{e}");
    assert!(receiver.is_empty());

    let mut config = loopback_config();
    config
        .extensions
        .insert(TrustedRoots::new().add_der(pki.ca_der.clone()));
    let trusted = client(&config).attempt(&d, 1).await;
    assert!(trusted.is_success(), "{trusted:?}");
    let r = &receiver.requests()[0];
    assert_eq!(r.version, http::Version::HTTP_2, "ALPN picks HTTP/2");
    r.verify_hook("s3cret", Digest::Sha256).unwrap();
}

#[tokio::test]
async fn a_ca_file_is_trusted_and_a_bad_one_is_named() {
    let pki = TestPki::new();
    let receiver = MockReceiver::builder()
        .tls(pki.chain.clone(), pki.key.clone())
        .start()
        .await
        .unwrap();
    let d = delivery(&receiver.url("/secure"));
    let dir = std::env::temp_dir().join(format!("thorn-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("ca.pem");
    // Two certificates in one file: another CA first, then the receiver's.
    std::fs::write(&pem, format!("{}{}", TestPki::new().ca_pem, pki.ca_pem)).unwrap();
    let mut config = Config::from_vars([("THORN_CA_FILE", pem.display().to_string())]).unwrap();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    let trusted = client(&config).attempt(&d, 1).await;
    assert!(trusted.is_success(), "{trusted:?}");

    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for (path, says) in [
        (
            empty.display().to_string(),
            "holds no `-----BEGIN CERTIFICATE-----` block",
        ),
        (
            dir.join("missing.pem").display().to_string(),
            "cannot read it",
        ),
    ] {
        let config = Config::from_vars([("THORN_CA_FILE", path.clone())]).unwrap();
        let e = HttpClient::new(&config).unwrap_err().to_string();
        assert!(
            e.contains("THORN_CA_FILE") && e.contains(&path) && e.contains(says),
            "{e}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn keep_alive_reuses_connections() {
    let receiver = MockReceiver::start().await.unwrap();
    let c = client(&loopback_config());
    let d = delivery(&receiver.url("/"));
    for n in 1..=200 {
        assert!(c.attempt(&d, n).await.is_success());
    }
    assert_eq!(receiver.len(), 200);
    assert_eq!(
        receiver.connections(),
        1,
        "sequential attempts share one connection"
    );
}
