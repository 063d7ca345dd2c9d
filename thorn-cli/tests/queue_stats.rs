//! `thorn queue stats` says what the test put in the queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../thorn-redis/tests/common/mod.rs"]
mod common;
mod support;

use common::{grouped, hand_new_entries_to, send_one};
use support::{start, thorn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_what_is_in_the_queue() {
    let (redis, _receiver, _config, producer, keys, mut c) = grouped().await;
    let url = redis.url();
    let vars = [("THORN_REDIS_URL", url.as_str())];
    for _ in 0..5 {
        send_one(&producer, "tick.a").await;
    }
    hand_new_entries_to(&mut c, &keys.stream, "alice").await;
    for _ in 0..2 {
        send_one(&producer, "tick.b").await;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let _: () = redis::pipe()
        .cmd("ZADD")
        .arg(&keys.delayed)
        .arg(now_ms - 1000)
        .arg("due-1")
        .cmd("ZADD")
        .arg(&keys.delayed)
        .arg(now_ms - 5)
        .arg("due-2")
        .cmd("ZADD")
        .arg(&keys.delayed)
        .arg(now_ms + 3_600_000)
        .arg("later-1")
        .cmd("XADD")
        .arg(&keys.dead)
        .arg("*")
        .arg("d")
        .arg("x")
        .cmd("XADD")
        .arg(&keys.dead)
        .arg("*")
        .arg("d")
        .arg("y")
        .cmd("XADD")
        .arg(&keys.dead)
        .arg("*")
        .arg("d")
        .arg("z")
        .cmd("HSET")
        .arg(&keys.stats)
        .arg("delivered")
        .arg(17)
        .query_async(&mut c)
        .await
        .unwrap();

    let look = thorn(&["queue", "stats", "--json"], &vars)
        .await
        .json_lines();
    assert_eq!(look.len(), 1);
    let s = &look[0];
    assert_eq!(s["queue"], "default");
    assert_eq!(s["length"], 7);
    assert_eq!(s["pending"], 5);
    assert_eq!(s["consumers"].as_array().unwrap().len(), 1);
    assert_eq!(s["consumers"][0]["name"], "alice");
    assert_eq!(s["consumers"][0]["pending"], 5);
    assert_eq!(s["delayed_due"], 2);
    assert_eq!(s["delayed_later"], 1);
    assert_eq!(s["dead"], 3);
    assert_eq!(s["delivered"], 17);
    assert!(s["oldest_pending_ms"].as_u64().is_some(), "{s}");
    assert!(
        s["deliveries_per_second"].is_null(),
        "no rate on the first look"
    );

    let text = thorn(&["queue", "stats"], &vars).await.ok();
    for says in [
        "queue default",
        "  stream length   7",
        "  pending         5",
        "    alice  pending 5",
        "  delayed         2 due now, 1 later",
        "  dead            3",
        "  delivered       17",
    ] {
        assert!(text.contains(says), "{says:?} in:\n{text}");
    }

    // Watching: the second look, 3 s on, says how fast deliveries went
    // meanwhile (the test adds 10 right after the first look).
    let mut watch = start(
        &["queue", "stats", "--json", "--watch", "3", "--count", "2"],
        &vars,
    );
    let first: serde_json::Value = serde_json::from_str(&watch.line().await.unwrap()).unwrap();
    assert_eq!(first["delivered"], 17);
    let _: i64 = redis::cmd("HINCRBY")
        .arg(&keys.stats)
        .arg("delivered")
        .arg(10)
        .query_async(&mut c)
        .await
        .unwrap();
    let second: serde_json::Value = serde_json::from_str(&watch.line().await.unwrap()).unwrap();
    assert_eq!(second["delivered"], 27);
    let rate = second["deliveries_per_second"].as_f64().unwrap();
    assert!(
        rate > 0.0 && rate <= 10.0 / 3.0,
        "10 deliveries over at least 3 s: {rate}"
    );
    let (ok, stderr) = watch.exit().await.unwrap();
    assert!(ok, "--count 2 ends it: {stderr}");
}

#[tokio::test]
async fn an_unreachable_redis_fails_with_its_address() {
    // A port nothing listens on: below 1024, where no test's server (all
    // on ports the system hands out, 32768 and up) can be meanwhile.
    let port = 1;
    let url = format!("redis://127.0.0.1:{port}");
    let out = thorn(
        &["queue", "stats"],
        &[
            ("THORN_REDIS_URL", url.as_str()),
            ("THORN_EVENT_TIMEOUT", "1"),
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(&format!("127.0.0.1:{port}")), "{out:?}");
}
