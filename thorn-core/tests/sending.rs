//! `Thorn::send`, the registry, and static subscriptions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use thorn_core::{
    Batch, Config, ContentType, Dispatcher, Event, Registry, Report, Result, Status, Subscriber,
    Thorn, disabled::Disabled,
};
use thorn_testkit::recording::{self, Recorder};

fn recording_thorn(config: Config) -> (Thorn, Recorder) {
    let recorder = Recorder::new();
    let mut registry = Registry::new();
    recording::register(&mut registry, recorder.clone());
    let mut config = config;
    config.dispatcher = recording::NAME.into();
    (Thorn::new(config, &registry).unwrap(), recorder)
}

fn sub(pattern: &str, host: &str) -> Subscriber {
    Subscriber::builder(pattern, format!("https://{host}/hook"), "k")
        .build()
        .unwrap()
}

#[tokio::test]
async fn body_is_encoded_once_per_content_type() {
    let (thorn, recorder) = recording_thorn(Config::default());
    for host in ["j1.example.com", "j2.example.com"] {
        thorn.subscribe(sub("a.*", host)).await.unwrap();
    }
    for host in ["f1.example.com", "f2.example.com"] {
        let s = Subscriber::builder("a.*", format!("https://{host}/"), "k")
            .content_type(ContentType::Form)
            .build()
            .unwrap();
        thorn.subscribe(s).await.unwrap();
    }
    thorn
        .send(Event::new("a.b", json!({"id": 7})).unwrap())
        .await
        .unwrap();
    let ds = recorder.deliveries();
    assert_eq!(ds.len(), 4);
    let json: Vec<_> = ds
        .iter()
        .filter(|d| d.subscriber.content_type == ContentType::Json)
        .collect();
    let form: Vec<_> = ds
        .iter()
        .filter(|d| d.subscriber.content_type == ContentType::Form)
        .collect();
    assert_eq!(&json[0].body[..], br#"{"id":7}"#);
    assert_eq!(&form[0].body[..], b"id=7");
    // Shared bytes, not copies.
    assert_eq!(json[0].body.as_ptr(), json[1].body.as_ptr());
    assert_eq!(form[0].body.as_ptr(), form[1].body.as_ptr());
    // Every delivery has its own id.
    let ids: std::collections::HashSet<_> = ds.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 4);
}

#[tokio::test]
async fn sender_extra_subscribers_and_envelope() {
    let config = Config::builder()
        .envelope(true)
        .standard_webhooks(true)
        .build()
        .unwrap();
    let (thorn, recorder) = recording_thorn(config);
    let mine = Subscriber::builder("a.*", "https://mine.example.com/", "k")
        .owner("u1")
        .build()
        .unwrap();
    let theirs = Subscriber::builder("a.*", "https://theirs.example.com/", "k")
        .owner("u2")
        .build()
        .unwrap();
    thorn.subscribe(mine).await.unwrap();
    thorn.subscribe(theirs).await.unwrap();
    let extra = sub("never.matches", "extra.example.com");
    let event = Event::new("a.b", json!({"x": 1}))
        .unwrap()
        .sender("u1")
        .reference("ref-1")
        .also_to(extra);
    let report = thorn.send(event).await.unwrap();
    assert_eq!(report.outcomes.len(), 2);
    recorder.assert_received("https://mine.example.com/", 1);
    recorder.assert_received("https://theirs.example.com/", 0);
    recorder.assert_received("https://extra.example.com/hook", 1);
    let d = &recorder.deliveries()[0];
    assert!(d.sends_standard());
    let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
    assert_eq!(
        body,
        json!({"event": "a.b", "ref": "ref-1", "sender": "u1", "data": {"x": 1}})
    );
}

#[tokio::test]
async fn unencodable_payload_fails_only_that_delivery() {
    let (thorn, recorder) = recording_thorn(Config::default());
    thorn.subscribe(sub("a.*", "j.example.com")).await.unwrap();
    let form = Subscriber::builder("a.*", "https://f.example.com/", "k")
        .content_type(ContentType::Form)
        .build()
        .unwrap();
    let form_id = form.id;
    thorn.subscribe(form).await.unwrap();
    let nested = || Event::new("a.b", json!({"deep": [1, 2]})).unwrap();

    let report = thorn.send(nested()).await.unwrap();
    let failed = report
        .outcomes
        .iter()
        .find(|o| o.subscriber.id == form_id)
        .unwrap();
    assert_eq!(failed.status, Status::Failed);
    assert!(
        failed.error.as_deref().unwrap().contains("\"deep\""),
        "{failed:?}"
    );
    assert_eq!(report.count(Status::Delivered), 1);
    assert_eq!(recorder.deliveries().len(), 1, "the JSON subscriber got it");

    // Inside a buffer scope the failure is reported by the send itself.
    let (sent, flushed) = thorn.buffer_events(thorn.send(nested())).await;
    let sent = sent.unwrap();
    assert_eq!(
        (sent.count(Status::Failed), sent.count(Status::Buffered)),
        (1, 1)
    );
    assert_eq!(flushed.unwrap().count(Status::Delivered), 1);
    assert_eq!(recorder.deliveries().len(), 2);
    assert!(
        recorder
            .deliveries()
            .iter()
            .all(|d| d.subscriber.content_type == ContentType::Json)
    );
}

#[tokio::test]
async fn no_match_sends_nothing() {
    let (thorn, recorder) = recording_thorn(Config::default());
    thorn.subscribe(sub("a.*", "j.example.com")).await.unwrap();
    let r = thorn
        .send(Event::new("b.c", json!({})).unwrap())
        .await
        .unwrap();
    assert!(r.outcomes.is_empty());
    assert!(recorder.batches().is_empty());
}

#[tokio::test]
async fn disabled_drops_and_counts() {
    let disabled = Arc::new(Disabled::default());
    let thorn = Thorn::builder()
        .dispatcher(disabled.clone())
        .build()
        .unwrap();
    thorn.subscribe(sub("*", "a.example.com")).await.unwrap();
    thorn.subscribe(sub("*", "b.example.com")).await.unwrap();
    let r = thorn
        .send(Event::new("x", json!({})).unwrap())
        .await
        .unwrap();
    assert_eq!(r.count(Status::Dropped), 2);
    thorn
        .send(Event::new("y", json!({})).unwrap())
        .await
        .unwrap();
    assert_eq!(disabled.dropped(), 4);
}

#[test]
fn unknown_dispatcher_lists_known_names() {
    let config = Config::builder().dispatcher("rabbit").build().unwrap();
    let mut registry = Registry::new();
    recording::register(&mut registry, Recorder::new());
    let err = Thorn::new(config, &registry).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"rabbit\""), "{msg}");
    assert!(msg.contains("disabled, recording"), "{msg}");
    assert!(err.is_invalid_input());
}

#[derive(Debug)]
struct Custom {
    label: String,
}

#[thorn_core::async_trait]
impl Dispatcher for Custom {
    fn name(&self) -> &str {
        "custom"
    }
    async fn dispatch(&self, batch: &Batch) -> Result<Report> {
        let outcomes = batch
            .deliveries()
            .map(|d| thorn_core::Outcome {
                error: Some(self.label.clone()),
                ..thorn_core::Outcome::new(d, Status::Queued)
            })
            .collect();
        Ok(Report { outcomes })
    }
}

#[tokio::test]
async fn custom_backend_chosen_by_env_name() {
    let mut registry = Registry::new();
    registry.register("custom", |c: &Config| {
        Ok(Custom {
            label: format!("chunk={}", c.chunk_size),
        })
    });
    let vars: HashMap<&str, &str> =
        [("THORN_DISPATCHER", "custom"), ("THORN_CHUNKSIZE", "7")].into();
    let config = Config::from_vars(vars).unwrap();
    let thorn = Thorn::new(config, &registry).unwrap();
    assert_eq!(thorn.dispatcher().name(), "custom");
    thorn.subscribe(sub("*", "a.example.com")).await.unwrap();
    let r = thorn
        .send(Event::new("x", json!({})).unwrap())
        .await
        .unwrap();
    assert_eq!(r.count(Status::Queued), 1);
    assert_eq!(r.outcomes[0].error.as_deref(), Some("chunk=7"));
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("thorn-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn static_subscriptions_from_file() {
    let path = temp_file(
        "subs.json",
        r#"{"subscribers": [
            {"event": "article.*", "url": "https://a.example.com/", "secret": "k1"},
            {"event": "*.deleted", "url": "https://b.example.com/", "secret": "k2",
             "digest": "sha512", "content_type": "application/x-www-form-urlencoded", "owner": "u1"}
        ]}"#,
    );
    let config = Config::builder().subscribers_file(&path).build().unwrap();
    let (thorn, recorder) = recording_thorn(config);
    thorn
        .send(Event::new("article.deleted", json!({"id": 1})).unwrap())
        .await
        .unwrap();
    assert_eq!(recorder.len(), 2);
    let form = recorder
        .deliveries()
        .into_iter()
        .find(|d| d.subscriber.url.as_str() == "https://b.example.com/")
        .unwrap();
    assert_eq!(form.subscriber.digest, thorn_core::Digest::Sha512);
    assert_eq!(&form.body[..], b"id=1");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_subscriptions_file_may_say_pattern_for_event() {
    let subs = thorn_core::store::parse_subscribers(
        r#"[{"pattern": "order.*", "url": "https://a.example.com/", "secret": "k"},
            {"event": "invoice.*", "url": "https://b.example.com/", "secret": "k"}]"#,
    )
    .unwrap();
    let patterns: Vec<&str> = subs.iter().map(|s| s.pattern.as_str()).collect();
    assert_eq!(patterns, ["order.*", "invoice.*"]);

    // Neither: the error names both, and the fields every entry needs.
    let err = thorn_core::store::parse_subscribers(
        r#"[{"url": "https://a.example.com/", "secret": "k"}]"#,
    )
    .unwrap_err();
    assert!(
        err.contains("subscription 1")
            && err.contains("missing field `event`")
            && err.contains("\"event\" (or \"pattern\"), \"url\" and \"secret\""),
        "{err}"
    );
}

#[test]
fn a_subscriptions_file_keeps_limits_and_refuses_bad_ones() {
    let subs = thorn_core::store::parse_subscribers(
        r#"[{"event": "a.*", "url": "https://a.example.com/", "secret": "k",
             "rate_limit": {"per_second": 10, "burst": 20}, "max_in_flight": 4, "ordered": true}]"#,
    )
    .unwrap();
    let limit = subs[0].rate_limit.unwrap();
    assert_eq!((limit.per_second, limit.burst), (10, 20));
    assert_eq!(subs[0].max_in_flight, Some(4));
    assert!(subs[0].ordered);

    for bad in [
        r#""max_in_flight": 0"#,
        r#""rate_limit": {"per_second": 0, "burst": 1}"#,
    ] {
        let text = format!(
            r#"[{{"event": "a.*", "url": "https://a.example.com/", "secret": "k", {bad}}}]"#
        );
        let err = thorn_core::store::parse_subscribers(&text).unwrap_err();
        assert!(
            err.contains("subscription 1") && err.contains("at least 1"),
            "{err}"
        );
    }
}

#[test]
fn bad_subscriptions_file_names_file_and_entry() {
    let path = temp_file(
        "bad.json",
        r#"[{"event": "a", "url": "https://a.example.com/", "secret": "k"},
            {"event": "a..b", "url": "https://b.example.com/", "secret": "k"}]"#,
    );
    let config = Config::builder().subscribers_file(&path).build().unwrap();
    let err = Thorn::new(config, &Registry::new()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bad.json") && msg.contains("subscription 2") && msg.contains("a..b"),
        "{msg}"
    );
    std::fs::remove_file(path).unwrap();
    let config = Config::builder()
        .subscribers_file("/nonexistent/thorn.json")
        .build()
        .unwrap();
    let err = Thorn::new(config, &Registry::new()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/thorn.json"), "{err}");
}

#[tokio::test]
async fn a_refused_url_is_refused_when_subscribed() {
    let (thorn, recorder) = recording_thorn(Config::default());
    for (url, advice) in [
        ("http://10.0.0.1/", "allow_cidr=10.0.0.1/32"),
        ("http://127.0.0.1:18081/", "allow_loopback,allow_port=18081"),
        ("https://example.com:8443/", "allow_port=8443"),
        ("http://localhost/", "allow_loopback"),
    ] {
        let err = thorn
            .subscribe(Subscriber::builder("a.*", url, "k").build().unwrap())
            .await
            .unwrap_err();
        assert!(err.is_refused(), "{url}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("THORN_RECIPIENT_VALIDATORS={advice}")),
            "{url}: {text}"
        );
    }
    // A name on an allowed port is checked when it is resolved, not now.
    thorn
        .subscribe(
            Subscriber::builder("a.*", "https://example.com/", "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let report = thorn
        .send(Event::new("a.b", json!({})).unwrap())
        .await
        .unwrap();
    assert_eq!(report.outcomes.len(), 1, "only the allowed one was kept");
    assert_eq!(recorder.deliveries().len(), 1);
}

#[tokio::test]
async fn a_refused_url_in_the_subscriptions_file_fails_the_start() {
    let dir = std::env::temp_dir().join(format!("thorn-subs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("subs.json");
    std::fs::write(
        &path,
        r#"[{"event": "a.*", "url": "https://example.com/", "secret": "k"},
            {"event": "a.*", "url": "http://169.254.169.254/", "secret": "k"}]"#,
    )
    .unwrap();
    let config = Config::builder().subscribers_file(&path).build().unwrap();
    let err = Thorn::builder().config(config).build().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("subscription 2") && text.contains("169.254.169.254"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
