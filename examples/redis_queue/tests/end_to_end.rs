//! The example's program, run end to end against a private redis-server
//! and a `MockReceiver`: what the worker delivered, the dead letter, and
//! its replay under the same delivery id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use thorn::redis::{DeadLetters, RedisOptions};
use thorn::testkit::receiver::{Expectation, MockReceiver, Reply};
use thorn::testkit::redis_server::RedisServer;
use tokio::process::Command;

/// How long one run of the program may take.
const RUN: Duration = Duration::from_secs(90);

/// Runs the program with `vars` (and no other `THORN_*` variable) and
/// `args`; whether it succeeded, its stdout and its stderr.
async fn run(vars: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_redis_queue"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("THORN_")) {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied()).args(args).kill_on_drop(true);
    let out = tokio::time::timeout(RUN, command.output())
        .await
        .expect("the program ends in time")
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

async fn redis() -> RedisServer {
    RedisServer::start().await.expect("redis-server starts (apt-get install redis-server)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_delivery_is_dead_lettered_replayed_and_delivered() {
    let redis = redis().await;
    let receiver = MockReceiver::start().await.unwrap();
    receiver.script_path("/billing", [Reply::status(422)]);
    receiver
        .expect(Expectation::path("/warehouse").times(2))
        // The rejected attempt, then the replay.
        .expect(Expectation::path("/billing").with_event("order.created").times(2))
        .expect(Expectation::event("order.shipped").times(1))
        .expect(Expectation::any().times(4));
    let (url, policy) = (redis.url(), format!("allow_loopback,allow_port={}", receiver.port()));
    let vars = [
        ("THORN_DISPATCHER", "redis"),
        ("THORN_REDIS_URL", url.as_str()),
        ("THORN_RECIPIENT_VALIDATORS", policy.as_str()),
    ];
    let (ok, stdout, stderr) = run(&vars, &[&receiver.url("/")]).await;
    assert!(ok, "{stderr}\n{stdout}");

    receiver.verify();
    let billing = receiver.requests_on("/billing");
    let id = billing[0].delivery().unwrap();
    assert_eq!(billing[1].delivery(), Some(id), "a replay keeps the delivery id");
    assert_eq!(billing[1].json(), Some(serde_json::json!({"order": 1})));
    let dead_line = stdout.lines().find(|l| l.starts_with("dead letter ")).expect(&stdout);
    assert!(
        dead_line.contains(&format!("(delivery {id})")) && dead_line.contains("HTTP 422"),
        "{dead_line}"
    );
    let letter = dead_line.split(':').next().unwrap().trim_start_matches("dead letter ");
    assert!(stdout.contains(&format!("replayed dead letter {letter}\n")), "{stdout}");
    assert!(stdout.ends_with("all 3 deliveries delivered, 1 after a replay\n"), "{stdout}");

    let dead = DeadLetters::new(RedisOptions::default().url(redis.url())).unwrap();
    assert!(dead.is_empty().await.unwrap(), "the replayed letter left the dead letters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_receiver_it_runs_one_of_its_own() {
    let redis = redis().await;
    let url = redis.url();
    let vars = [("THORN_DISPATCHER", "redis"), ("THORN_REDIS_URL", url.as_str())];
    let (ok, stdout, stderr) = run(&vars, &[]).await;
    assert!(ok, "{stderr}\n{stdout}");
    let replayed = stdout.lines().filter(|l| l.starts_with("replayed dead letter ")).count();
    assert_eq!(replayed, 1, "{stdout}");
    assert!(stdout.ends_with("all 3 deliveries delivered, 1 after a replay\n"), "{stdout}");
}

#[tokio::test]
async fn errors_are_told_in_words() {
    let (ok, stdout, stderr) = run(&[("THORN_DISPATCHER", "default")], &[]).await;
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr,
        "redis_queue: this example sends through the Redis queue: run it with THORN_DISPATCHER=redis (not \"default\")\n"
    );

    let bad_url = [("THORN_DISPATCHER", "redis"), ("THORN_REDIS_URL", "http://127.0.0.1:1/")];
    let (ok, _, stderr) = run(&bad_url, &[]).await;
    assert!(!ok);
    assert!(
        stderr.starts_with("redis_queue: ")
            && stderr.contains("invalid setting THORN_REDIS_URL=\"http://127.0.0.1:1/\""),
        "{stderr}"
    );
    assert!(!stderr.contains('{'), "Display, not Debug: {stderr}");
}
