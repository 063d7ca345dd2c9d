//! `thorn send` delivers to `thorn listen`, which prints the delivery and
//! a signature verdict of `ok` under the scheme each subscription uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{TempDir, start, thorn};
use thorn_testkit::receiver::{MockReceiver, Reply};

const LOOPBACK: (&str, &str) = (
    "THORN_RECIPIENT_VALIDATORS",
    "allow_loopback,allow_any_port",
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_prints_what_send_sends_with_verdicts() {
    let mut listen = start(
        &["listen", "--port", "0", "--secret", "s3cret"],
        &[("RUST_LOG", "warn")],
    );
    let first = listen.line().await.unwrap();
    let url = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let dir = TempDir::new("listen");
    let subscribers = dir.file(
        "subs.json",
        serde_json::json!([
            {"id": "3f1c1b0e-2a64-4a3e-9a53-6a8e2c1f0a01", "event": "order.*", "url": format!("{url}plain"), "secret": "s3cret"},
            {"id": "3f1c1b0e-2a64-4a3e-9a53-6a8e2c1f0a02", "event": "order.*", "url": format!("{url}compat"), "secret": "s3cret",
             "signer": "compat", "digest": "sha512"},
        ])
        .to_string(),
    );
    let sent = thorn(
        &[
            "send",
            "order.created",
            "--data",
            r#"{"id": 7, "total": 12.5}"#,
            "--subscribers",
            &subscribers,
            "--json",
        ],
        &[LOOPBACK],
    )
    .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let report = sent.json_lines();
    assert_eq!(report.len(), 2, "{report:?}");
    for line in &report {
        assert_eq!(line["status"], "delivered", "{line}");
        assert_eq!(line["attempts"], 1, "{line}");
    }

    let mut seen = Vec::new();
    for _ in 0..2 {
        let head = listen.line().await.unwrap();
        let hook = listen.line().await.unwrap();
        let standard = listen.line().await.unwrap();
        let mut body = Vec::new();
        while body.last().map(String::as_str) != Some("  }") {
            body.push(listen.line().await.unwrap());
        }
        seen.push((head, hook, standard, body));
    }
    seen.sort();
    let delivery_of = |path: &str| {
        report
            .iter()
            .find(|l| l["url"].as_str().unwrap().ends_with(path))
            .map(|l| l["delivery"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (head, hook, standard, body) = &seen[0];
    assert_eq!(
        head,
        &format!(
            "POST /compat event=order.created delivery={} subscription=3f1c1b0e-2a64-4a3e-9a53-6a8e2c1f0a02",
            delivery_of("/compat")
        )
    );
    assert_eq!(hook, "  hook-hmac: ok (compat sha512)");
    assert_eq!(
        standard, "  standard-webhooks: not sent",
        "a delivery without those headers is no failure"
    );
    assert_eq!(
        body,
        &["  {", "    \"id\": 7,", "    \"total\": 12.5", "  }"]
    );
    let (head, hook, ..) = &seen[1];
    assert!(
        head.starts_with("POST /plain event=order.created delivery="),
        "{head}"
    );
    assert!(head.contains(&delivery_of("/plain")), "{head}");
    assert_eq!(hook, "  hook-hmac: ok (hmac sha256)");

    listen.terminate().unwrap();
    let (ok, stderr) = listen.exit().await.unwrap();
    assert!(ok, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_says_mismatch_and_answers_the_status_asked_for() {
    let mut listen = start(
        &[
            "listen",
            "--port",
            "0",
            "--secret",
            "not-the-secret",
            "--status",
            "503",
        ],
        &[],
    );
    let url = listen.line().await.unwrap().replace("listening on ", "");
    let dir = TempDir::new("listen-mismatch");
    let subscribers = dir.file(
        "subs.json",
        serde_json::json!([{"event": "a.b", "url": url, "secret": "s3cret"}]).to_string(),
    );
    let sent = thorn(
        &[
            "send",
            "a.b",
            "--subscribers",
            &subscribers,
            "--set",
            "THORN_RETRY=false",
        ],
        &[LOOPBACK],
    )
    .await;
    assert_eq!(
        sent.code, 1,
        "a failed delivery fails the command: {sent:?}"
    );
    assert!(
        sent.stdout.contains("Failed") && sent.stdout.contains("http=503"),
        "{sent:?}"
    );
    let _head = listen.line().await.unwrap();
    assert!(
        listen
            .line()
            .await
            .unwrap()
            .starts_with("  hook-hmac: mismatch")
    );
}

#[tokio::test]
async fn send_refuses_bad_input_with_usage_errors() {
    for (args, says) in [
        (vec!["send", "bad..name"], "EVENT"),
        (vec!["send", "a.b", "--data", "{nope"], "--data: not JSON"),
        (
            vec!["send", "a.b", "--data", "@/nonexistent/file.json"],
            "cannot read",
        ),
        (vec!["send", "a.b", "--dispatcher", "nope"], "nope"),
    ] {
        let out = thorn(&args, &[]).await;
        assert_ne!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains(says), "{args:?}: {out:?}");
    }
}

/// A delivery's time is its whole time, the waits between its attempts
/// included, beside its last attempt's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_shows_the_whole_time_of_a_retried_delivery() {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.otherwise(Reply::status(503));
    let dir = TempDir::new("send-time");
    let subscribers = dir.file(
        "subs.json",
        serde_json::json!([{"event": "a.b", "url": receiver.url("/down"), "secret": "s3cret"}])
            .to_string(),
    );
    // Three attempts (the in-process most), waits of at least 100 ms and
    // 200 ms between them.
    let args = [
        "send",
        "a.b",
        "--subscribers",
        &subscribers,
        "--set",
        "THORN_RETRY_DELAY=200ms",
    ];
    let sent = thorn(&[&args[..], &["--json"]].concat(), &[LOOPBACK]).await;
    assert_eq!(sent.code, 1, "{sent:?}");
    let line = &sent.json_lines()[0];
    assert_eq!(line["attempts"], 3, "{line}");
    let time = line["time_ms"].as_u64().expect("time_ms");
    let last = line["last_attempt_ms"].as_u64().expect("last_attempt_ms");
    assert!(time >= 300, "the waits are part of the time: {line}");
    assert!(last < time, "{line}");

    let text = thorn(&args, &[LOOPBACK]).await;
    assert_eq!(text.code, 1, "{text:?}");
    let time = text
        .stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("time="))
        .expect("time=");
    let seconds: f64 = time
        .strip_suffix('s')
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("time in seconds: {text:?}"));
    assert!(seconds >= 0.3, "{text:?}");
    assert!(text.stdout.contains(" last_attempt="), "{text:?}");
    assert_eq!(receiver.len(), 6);
}
