//! A token in a subscriber's URL never leaves the process: not in the
//! worker's log or metrics, a dead letter's error (listed, shown, as
//! JSON), nor in `thorn send`'s errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../thorn-redis/tests/common/mod.rs"]
mod common;
mod support;

use common::{queue, subscribe, thorn as producer};
use serde_json::json;
use support::{TempDir, start, thorn};
use thorn_core::Event;
use thorn_testkit::client::{HeaderMap, Method, request};

const TOKEN: &str = "SeCrEtToKeN";

fn no_token(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "{what} shows the token:\n{text}");
}

/// The metrics the worker whose `serving metrics` line is in `said`
/// serves.
async fn scrape(said: &str) -> String {
    let line = said.lines().last().unwrap();
    let at = line.find("127.0.0.1:").unwrap();
    let port: String = line[at + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let answer = request(addr, Method::GET, "/metrics", &HeaderMap::new(), "").await;
    String::from_utf8_lossy(&answer.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_a_url_is_in_no_log_error_metric_or_dead_letter() {
    let (redis, receiver, config) = queue().await;
    let url = redis.url();
    let producer = producer(config.clone());
    // Sent with loopback allowed; the worker, run without that, refuses
    // the receiver at the attempt: a refusal error in a dead letter.
    let target = format!("{}?token={TOKEN}", receiver.url("/hooks"));
    subscribe(&producer, "order.*", &target).await;
    producer
        .send(Event::new("order.created", json!({"id": 1})).unwrap())
        .await
        .unwrap();
    let mut worker = start(
        &["worker", "--metrics-addr", "127.0.0.1:0"],
        &[("THORN_REDIS_URL", &url)],
    );
    let serving = worker.stderr_until("serving metrics").await.unwrap();
    let warned = worker
        .stderr_until("delivery moved to the dead letters")
        .await
        .unwrap();
    assert!(warned.contains("/hooks"), "{warned}");
    // The attempt is counted before its delivery is filed and warned of.
    let metrics = scrape(&serving).await;
    assert!(metrics.contains("thorn_refused_total 1"), "{metrics}");
    no_token("the metrics", &metrics);
    worker.terminate().unwrap();
    let (ok, stderr) = worker.exit().await.unwrap();
    assert!(ok, "{stderr}");
    no_token("the worker's log", &format!("{serving}{warned}{stderr}"));
    assert!(receiver.is_empty());

    let vars = [("THORN_REDIS_URL", url.as_str())];
    let listed = thorn(&["dead", "list", "--json"], &vars).await.ok();
    assert!(listed.contains("is refused"), "{listed}");
    no_token("dead list --json", &listed);
    no_token("dead list", &thorn(&["dead", "list"], &vars).await.ok());
    let id =
        serde_json::from_str::<serde_json::Value>(listed.lines().next().unwrap()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let shown = thorn(&["dead", "show", &id], &vars).await.ok();
    assert!(shown.contains("is refused"), "{shown}");
    no_token("dead show", &shown);
    no_token(
        "dead show --json",
        &thorn(&["dead", "show", &id, "--json"], &vars).await.ok(),
    );

    // A worker whose attempts reach the receiver (loopback allowed) and
    // get a 404: the log names the URL without its query.
    receiver.otherwise(thorn_testkit::receiver::Reply::status(404));
    let loopback = [
        ("THORN_REDIS_URL", url.as_str()),
        (
            "THORN_RECIPIENT_VALIDATORS",
            "allow_loopback,allow_any_port",
        ),
    ];
    producer
        .send(Event::new("order.updated", json!({"id": 2})).unwrap())
        .await
        .unwrap();
    let mut worker = start(&["worker"], &loopback);
    let warned = worker
        .stderr_until("delivery moved to the dead letters")
        .await
        .unwrap();
    worker.terminate().unwrap();
    let (ok, stderr) = worker.exit().await.unwrap();
    assert!(ok, "{stderr}");
    assert_eq!(receiver.len(), 1, "the receiver was reached");
    no_token("the worker's log", &format!("{warned}{stderr}"));
}

/// `thorn send order.created` over a subscriptions file holding one
/// subscription to `url`.
async fn send_to(dir: &TempDir, name: &str, url: &str) -> support::Run {
    let file = dir.file(
        name,
        json!([{"event": "order.*", "url": url, "secret": "k"}]).to_string(),
    );
    let out = thorn(
        &[
            "send",
            "order.created",
            "--data",
            "{}",
            "--subscribers",
            &file,
        ],
        &[],
    )
    .await;
    assert_ne!(out.code, 0, "{out:?}");
    no_token("thorn send", &format!("{}{}", out.stdout, out.stderr));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thorn_send_names_a_refused_url_without_its_token() {
    let dir = TempDir::new("tokens");
    let refused = format!("http://127.0.0.1:9/hooks?token={TOKEN}");
    let out = send_to(&dir, "refused.json", &refused).await;
    assert!(out.stderr.contains("127.0.0.1:9/hooks"), "{out:?}");
    let bad = format!("ftp://u:pw@example.com/x?token={TOKEN}");
    let out = send_to(&dir, "bad.json", &bad).await;
    assert!(out.stderr.contains("ftp://example.com/x"), "{out:?}");
    assert!(!out.stderr.contains("pw@"), "{out:?}");
}
