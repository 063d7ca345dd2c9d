//! `thorn worker` as a process: its metrics scraped over HTTP, its log
//! level from `RUST_LOG`, and the roots it trusts (`--ca-file`,
//! `THORN_TLS_NATIVE_ROOTS`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../thorn-redis/tests/common/mod.rs"]
mod common;
mod support;

use std::time::Duration;

use common::{queue, subscribe, thorn as producer};
use serde_json::json;
use support::{TempDir, start, thorn};
use thorn_core::Event;
use thorn_testkit::client::{HeaderMap, Method, request};
use thorn_testkit::pki::TestPki;
use thorn_testkit::receiver::{MockReceiver, Reply};

const LOOPBACK: (&str, &str) = (
    "THORN_RECIPIENT_VALIDATORS",
    "allow_loopback,allow_any_port",
);

/// The address a `serving metrics` log line names.
fn served_at(line: &str) -> String {
    let at = line.find("127.0.0.1:").expect("the line names the address");
    let port: String = line[at + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    format!("127.0.0.1:{port}")
}

/// The body of `GET /metrics` at `addr`.
async fn scrape(addr: &str) -> String {
    let answer = request(
        addr.parse().unwrap(),
        Method::GET,
        "/metrics",
        &HeaderMap::new(),
        "",
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// The value of the sample `series` (name and labels as exported).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_100_deliveries_of_which_10_fail() {
    let (redis, receiver, config) = queue().await;
    receiver.script_path("/bad", std::iter::repeat_n(Reply::status(500), 10));
    let producer = producer(config);
    subscribe(&producer, "ok.*", receiver.url("/ok")).await;
    subscribe(&producer, "bad.*", receiver.url("/bad")).await;
    for n in 0..100 {
        let name = if n % 10 == 0 { "bad.thing" } else { "ok.thing" };
        producer
            .send(Event::new(name, json!({ "n": n })).unwrap())
            .await
            .unwrap();
    }
    let url = redis.url();
    // Port 0: the worker binds a free port and names it.
    let mut worker = start(
        &[
            "worker",
            "--metrics-addr",
            "127.0.0.1:0",
            "--set",
            "THORN_RETRY=false",
        ],
        &[("THORN_REDIS_URL", &url), LOOPBACK],
    );
    let said = worker.stderr_until("serving metrics").await.unwrap();
    let addr = served_at(said.lines().last().unwrap());
    assert_eq!(receiver.wait_for(100, Duration::from_secs(20)).await, 100);
    // An attempt is counted after its answer arrives, a dead letter once it
    // is settled: scrape until both ends are counted.
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(&addr).await;
        let delivered = sample(&text, "thorn_deliveries_total{status=\"delivered\"}");
        let dead = sample(&text, "thorn_dead_lettered_total");
        if delivered == Some(90.0) && dead == Some(10.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (series, value) in [
        ("thorn_attempts_total{class=\"2xx\"}", 90.0),
        ("thorn_attempts_total{class=\"5xx\"}", 10.0),
        ("thorn_deliveries_total{status=\"delivered\"}", 90.0),
        ("thorn_deliveries_total{status=\"failed\"}", 10.0),
        ("thorn_retries_total", 0.0),
        ("thorn_dead_lettered_total", 10.0),
        ("thorn_attempt_duration_seconds_count", 100.0),
        ("thorn_delivery_latency_seconds_count", 90.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(
        text.contains("thorn_queue_depth{queue=\"default\"}"),
        "{text}"
    );
    // Histograms, which add up across workers, with the buckets the
    // README lists: every attempt is within the last bucket before +Inf.
    for name in [
        "thorn_attempt_duration_seconds",
        "thorn_delivery_latency_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} histogram")),
            "{name} in:\n{text}"
        );
    }
    for (series, value) in [
        ("thorn_attempt_duration_seconds_bucket{le=\"30\"}", 100.0),
        ("thorn_attempt_duration_seconds_bucket{le=\"+Inf\"}", 100.0),
        ("thorn_delivery_latency_seconds_bucket{le=\"+Inf\"}", 90.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(
        text.contains("thorn_attempt_duration_seconds_bucket{le=\"0.005\"}")
            && text.contains("thorn_delivery_latency_seconds_bucket{le=\"3600\"}"),
        "{text}"
    );
    worker.terminate().unwrap();
    let (ok, stderr) = worker.exit().await.unwrap();
    assert!(ok, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_sets_what_the_worker_says() {
    let (redis, _receiver, _config) = queue().await;
    let url = redis.url();
    let mut logs = Vec::new();
    for level in [None, Some("debug")] {
        let mut vars = vec![("THORN_REDIS_URL", url.as_str())];
        if let Some(level) = level {
            vars.push(("RUST_LOG", level));
        }
        let mut worker = start(&["worker", "--log-format", "json"], &vars);
        worker.stderr_until("thorn worker started").await.unwrap();
        worker.terminate().unwrap();
        let (ok, stderr) = worker.exit().await.unwrap();
        assert!(ok, "{stderr}");
        let levels: Vec<String> = stderr
            .lines()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                v["level"].as_str().unwrap().to_owned()
            })
            .collect();
        logs.push(levels);
    }
    let has = |levels: &[String], level: &str| levels.iter().any(|l| l == level);
    assert!(
        has(&logs[0], "INFO") && !has(&logs[0], "DEBUG"),
        "default info: {:?}",
        logs[0]
    );
    assert!(has(&logs[1], "DEBUG"), "RUST_LOG=debug: {:?}", logs[1]);

    let bad = thorn(&["queue", "stats"], &[("RUST_LOG", "thorn=loud")]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("invalid RUST_LOG"), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_only_when_given() {
    let pki = TestPki::new();
    let receiver = MockReceiver::builder()
        .tls(pki.chain.clone(), pki.key.clone())
        .start()
        .await
        .unwrap();
    let (redis, _plain, config) = queue().await;
    let producer = producer(config);
    subscribe(&producer, "secure.*", receiver.url("/tls")).await;
    assert!(receiver.url("/tls").starts_with("https://"));
    let dir = TempDir::new("worker-ca");
    let ca = dir.file("ca.pem", &pki.ca_pem);
    let url = redis.url();
    let vars = [("THORN_REDIS_URL", url.as_str()), LOOPBACK];

    // Without the CA: the certificate is refused, and the delivery is dead.
    producer
        .send(Event::new("secure.a", json!({})).unwrap())
        .await
        .unwrap();
    let mut worker = start(&["worker", "--set", "THORN_RETRY=false"], &vars);
    worker
        .stderr_until("moved to the dead letters")
        .await
        .unwrap();
    worker.terminate().unwrap();
    assert!(worker.exit().await.unwrap().0);
    assert!(receiver.is_empty());
    let dead = thorn(&["dead", "list", "--json"], &vars).await.json_lines();
    assert_eq!(dead.len(), 1);
    let error = dead[0]["error"].as_str().unwrap();
    assert!(error.contains("certificate"), "{error}");

    // With --ca-file: the replayed delivery arrives.
    thorn(&["dead", "replay", "--all"], &vars).await.ok();
    let worker = start(&["worker", "--ca-file", &ca], &vars);
    assert_eq!(receiver.wait_for(1, Duration::from_secs(20)).await, 1);
    worker.terminate().unwrap();
    assert!(worker.exit().await.unwrap().0);

    // With the system's store, pointed at the CA by SSL_CERT_FILE.
    producer
        .send(Event::new("secure.b", json!({})).unwrap())
        .await
        .unwrap();
    let mut native = vars.to_vec();
    native.extend([
        ("THORN_TLS_NATIVE_ROOTS", "true"),
        ("SSL_CERT_FILE", ca.as_str()),
    ]);
    let worker = start(&["worker"], &native);
    assert_eq!(receiver.wait_for(2, Duration::from_secs(20)).await, 2);
    worker.terminate().unwrap();
    assert!(worker.exit().await.unwrap().0);

    let missing = thorn(&["worker", "--ca-file", "/nonexistent/ca.pem"], &vars).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("--ca-file") || missing.stderr.contains("THORN_CA_FILE"),
        "{missing:?}"
    );
}
