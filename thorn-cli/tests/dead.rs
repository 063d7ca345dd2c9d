//! `thorn dead`: a dead letter listed, shown, replayed, then received with
//! its original delivery id; filters; purging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../thorn-redis/tests/common/mod.rs"]
mod common;
mod support;

use common::{RunningWorker, WAIT, queue, subscribe, thorn as producer};
use serde_json::json;
use support::thorn;
use thorn_core::Event;
use thorn_testkit::receiver::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_shown_replayed_and_received_with_its_id() {
    let (redis, receiver, config) = queue().await;
    let url = redis.url();
    let vars = [("THORN_REDIS_URL", url.as_str())];
    receiver.otherwise(Reply::status(500));
    let producer = producer(config.clone());
    subscribe(&producer, "order.*", receiver.url("/orders")).await;
    let report = producer
        .send(Event::new("order.created", json!({"id": 42, "items": ["tea"]})).unwrap())
        .await
        .unwrap();
    let delivery = report.outcomes[0].delivery.to_string();
    let worker = RunningWorker::with_config(config.clone());
    // The first attempt and two retries, then the dead letters.
    assert_eq!(receiver.wait_for(3, WAIT).await, 3);
    assert_eq!(worker.stop().await.dead, 1);

    let listed = thorn(&["dead", "list", "--json"], &vars).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    let letters = listed.json_lines();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter["delivery"], delivery.as_str());
    assert_eq!(letter["event"], "order.created");
    assert_eq!(letter["attempts"], 3);
    assert_eq!(letter["http_status"], 500);
    let id = letter["id"].as_str().unwrap().to_owned();

    let text = thorn(&["dead", "list"], &vars).await.ok();
    assert!(text.starts_with(&format!("{id} ")), "{text}");
    assert!(
        text.contains("order.created") && text.contains("attempts=3"),
        "{text}"
    );
    assert!(
        text.contains(&format!("delivery={delivery}")),
        "the delivery id, which receivers see: {text}"
    );
    let none = thorn(&["dead", "list", "--event", "invoice.*"], &vars)
        .await
        .ok();
    assert_eq!(none.trim(), "no dead letters match the filters");

    for (filter, n) in [
        (vec!["--event", "order.*"], 1),
        (vec!["--event", "invoice.*"], 0),
        (vec!["--since", "1h"], 1),
        (
            vec!["--subscription", "00000000-0000-0000-0000-000000000000"],
            0,
        ),
    ] {
        let mut args = vec!["dead", "list", "--json"];
        args.extend(&filter);
        let out = thorn(&args, &vars).await;
        assert_eq!(out.json_lines().len(), n, "{filter:?}: {out:?}");
    }

    let shown = thorn(&["dead", "show", &id], &vars).await.ok();
    for says in [
        format!("dead letter   {id}"),
        format!("delivery      {delivery}"),
        "event         order.created".into(),
        "http status   500".into(),
        "    \"id\": 42,".into(),
        "      \"tea\"".into(),
    ] {
        assert!(shown.contains(&says), "{says:?} in:\n{shown}");
    }
    let missing = thorn(&["dead", "show", "1-1"], &vars).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("no dead letter 1-1"), "{missing:?}");

    receiver.otherwise(Reply::status(200));
    let worker = RunningWorker::with_config(config.clone());
    let replayed = thorn(&["dead", "replay", &id], &vars).await.ok();
    assert_eq!(replayed.trim(), "replayed 1");
    assert_eq!(receiver.wait_for(4, WAIT).await, 4);
    let last = receiver.requests().pop().unwrap();
    assert_eq!(
        last.delivery(),
        Some(delivery.as_str()),
        "the original delivery id"
    );
    assert_eq!(worker.stop().await.delivered, 1);
    let again = thorn(&["dead", "replay", &id], &vars).await;
    assert_eq!(again.code, 1, "a replayed letter is gone: {again:?}");
    assert!(
        again.stdout.contains(&format!("not found: {id}")),
        "{again:?}"
    );
    assert_eq!(
        thorn(&["dead", "list"], &vars).await.ok().trim(),
        "no dead letters"
    );
    assert!(
        thorn(&["dead", "list", "--json"], &vars)
            .await
            .ok()
            .is_empty(),
        "--json prints no line for no letter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_purge_all_follow_the_filters() {
    let (redis, receiver, config) = queue().await;
    let url = redis.url();
    let vars = [("THORN_REDIS_URL", url.as_str())];
    receiver.otherwise(Reply::status(410));
    let producer = producer(config.clone());
    subscribe(&producer, "*", receiver.url("/gone")).await;
    for (n, name) in ["a.one", "b.two", "a.three"].into_iter().enumerate() {
        producer
            .send(Event::new(name, json!({"n": n})).unwrap())
            .await
            .unwrap();
    }
    let worker = RunningWorker::with_config(config.clone());
    // 410 Gone is final: one attempt each.
    assert_eq!(receiver.wait_for(3, WAIT).await, 3);
    assert_eq!(worker.stop().await.dead, 3);

    let purged = thorn(
        &["dead", "purge", "--all", "--event", "a.*", "--json"],
        &vars,
    )
    .await;
    assert_eq!(
        purged.json_lines(),
        [json!({"purged": 2, "not_found": []})],
        "{purged:?}"
    );
    let left = thorn(&["dead", "list", "--json"], &vars).await.json_lines();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["event"], "b.two");

    let none = thorn(&["dead", "replay"], &vars).await;
    assert_eq!(none.code, 2, "ids or --all: {none:?}");
    let replayed = thorn(&["dead", "replay", "--all"], &vars).await.ok();
    assert_eq!(replayed.trim(), "replayed 1");
    let stats = thorn(&["queue", "stats", "--json"], &vars)
        .await
        .json_lines();
    assert_eq!(
        (stats[0]["length"].as_u64(), stats[0]["dead"].as_u64()),
        (Some(1), Some(0))
    );
}
