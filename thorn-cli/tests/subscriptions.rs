//! `thorn subscriptions` against the Redis store: add (the secret shown
//! once), list, show (never the secret), remove, limits; refusals at the
//! door.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../thorn-redis/tests/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;

use common::redis;
use serde_json::json;
use support::{TempDir, thorn};
use thorn_core::limits::RateLimit;
use thorn_core::{EventName, SubscriberStore};
use thorn_redis::{RedisOptions, RedisStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_show_remove() {
    let redis = redis().await;
    let url = redis.url();
    let vars = [("THORN_REDIS_URL", url.as_str())];

    let added = thorn(
        &[
            "subscriptions",
            "add",
            "order.*",
            "https://hooks.example.com/orders?token=abc",
            "--owner",
            "acme",
            "--json",
        ],
        &vars,
    )
    .await
    .json_lines();
    let sub = &added[0];
    let id = sub["id"].as_str().unwrap().to_owned();
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "a generated key: {secret}");
    assert_eq!(
        sub["url"], "https://hooks.example.com/orders",
        "no query shown"
    );

    let text = thorn(
        &[
            "subscriptions",
            "add",
            "invoice.paid",
            "https://billing.example.com/",
            "--secret",
            "given",
            "--digest",
            "sha512",
            "--signer",
            "compat",
        ],
        &vars,
    )
    .await
    .ok();
    assert!(text.starts_with("added "), "{text}");
    assert!(
        !text.contains("given") && !text.contains("secret"),
        "a given secret is not echoed: {text}"
    );

    // The store the library reads holds what the CLI wrote.
    let store = RedisStore::new(
        &RedisOptions::from_config(&common::config(&redis)).unwrap(),
        "default",
    )
    .unwrap();
    let store: Arc<dyn SubscriberStore> = Arc::new(store);
    let matched = store
        .matching(&EventName::new("order.created").unwrap(), None)
        .await
        .unwrap();
    assert_eq!(matched.len(), 1);
    assert_eq!(matched[0].secret.expose(), secret);
    assert_eq!(matched[0].owner.as_deref(), Some("acme"));

    let all = thorn(&["subscriptions", "list", "--json"], &vars)
        .await
        .json_lines();
    assert_eq!(all.len(), 2, "{all:?}");
    let listed = thorn(&["subscriptions", "list"], &vars).await.ok();
    assert!(
        !listed.contains(&secret) && !listed.contains("given"),
        "{listed}"
    );
    for (filter, n) in [
        (vec!["--owner", "acme"], 1),
        (vec!["--owner", "nobody"], 0),
        (vec!["--event", "invoice.paid"], 1),
    ] {
        let mut args = vec!["subscriptions", "list", "--json"];
        args.extend(&filter);
        assert_eq!(
            thorn(&args, &vars).await.json_lines().len(),
            n,
            "{filter:?}"
        );
    }

    let shown = thorn(&["subscriptions", "show", &id], &vars).await.ok();
    assert!(
        shown.contains("order.*") && shown.contains("acme"),
        "{shown}"
    );
    assert!(!shown.contains(&secret), "{shown}");

    let removed = thorn(&["subscriptions", "remove", &id], &vars).await.ok();
    assert_eq!(removed.trim(), format!("removed {id}"));
    let again = thorn(&["subscriptions", "remove", &id], &vars).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert_eq!(
        thorn(&["subscriptions", "list", "--json"], &vars)
            .await
            .json_lines()
            .len(),
        1
    );
}

/// An id no store holds.
const ID: &str = "3f1c1b0e-2a64-4a3e-9a53-6a8e2c1f0a01";

#[tokio::test]
async fn bad_subscriptions_are_refused_at_the_door() {
    let dir = TempDir::new("subs-refused");
    // No Redis is needed: each is refused before the store is reached.
    for (args, says) in [
        (
            vec![
                "subscriptions",
                "add",
                "a.*",
                "http://169.254.169.254/latest",
            ],
            "THORN_RECIPIENT_VALIDATORS",
        ),
        (
            vec!["subscriptions", "add", "a..b", "https://example.com/"],
            "invalid subscription",
        ),
        (
            vec![
                "subscriptions",
                "add",
                "a.*",
                "https://example.com/",
                "--digest",
                "md5",
            ],
            "--digest",
        ),
        (
            vec![
                "subscriptions",
                "add",
                "a.*",
                "https://example.com/",
                "--content-type",
                "xml",
            ],
            "--content-type",
        ),
        (vec!["subscriptions", "show", "not-a-uuid"], "not-a-uuid"),
        (
            vec![
                "subscriptions",
                "add",
                "a.*",
                "https://example.com/",
                "--rate-limit",
                "0",
            ],
            "--rate-limit",
        ),
        (
            vec![
                "subscriptions",
                "add",
                "a.*",
                "https://example.com/",
                "--burst",
                "5",
            ],
            "--rate-limit",
        ),
        (
            vec![
                "subscriptions",
                "add",
                "a.*",
                "https://example.com/",
                "--rate-limit",
                "5",
                "--burst",
                "0",
            ],
            "--burst",
        ),
        (
            vec![
                "subscriptions",
                "add",
                "a.*",
                "https://example.com/",
                "--max-in-flight",
                "-1",
            ],
            "--max-in-flight",
        ),
        (vec!["subscriptions", "limit", ID], "--rate-limit"),
        (
            vec![
                "subscriptions",
                "limit",
                ID,
                "--rate-limit",
                "5",
                "--no-rate-limit",
            ],
            "--no-rate-limit",
        ),
        (
            vec!["subscriptions", "limit", ID, "--ordered", "maybe"],
            "--ordered",
        ),
    ] {
        let out = thorn(&args, &[]).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(says), "{args:?}: {out:?}");
    }
    let file = dir.file(
        "subs.json",
        r#"[{"event": "a.*", "url": "https://example.com/", "secret": "k"}]"#,
    );
    let vars = [("THORN_SUBSCRIBERS", file.as_str())];
    let listed = thorn(
        &["subscriptions", "list", "--store", "file", "--json"],
        &vars,
    )
    .await
    .json_lines();
    assert_eq!(listed.len(), 1);
    let add = thorn(
        &[
            "subscriptions",
            "add",
            "b.*",
            "https://example.com/",
            "--store",
            "file",
        ],
        &vars,
    )
    .await;
    assert_eq!(add.code, 2, "{add:?}");
    assert!(add.stderr.contains("read only"), "{add:?}");
}

/// `subscriptions add` and `send` use one store by default: what one
/// writes, the other reads. Nothing matching says which store was read,
/// and fails with `--require-match`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reads_the_store_that_add_writes() {
    let redis = redis().await;
    let receiver = thorn_testkit::receiver::MockReceiver::start()
        .await
        .unwrap();
    let url = redis.url();
    let vars = [
        ("THORN_REDIS_URL", url.as_str()),
        (
            "THORN_RECIPIENT_VALIDATORS",
            "allow_loopback,allow_any_port",
        ),
    ];
    thorn(
        &["subscriptions", "add", "order.*", &receiver.url("/orders")],
        &vars,
    )
    .await
    .ok();

    let sent = thorn(
        &["send", "order.created", "--data", r#"{"id": 42}"#, "--json"],
        &vars,
    )
    .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let report = sent.json_lines();
    assert_eq!(report.len(), 1, "{sent:?}");
    assert_eq!(report[0]["status"], "delivered");
    assert_eq!(receiver.requests_on("/orders").len(), 1);

    let none = thorn(&["send", "invoice.paid"], &vars).await;
    assert_eq!(none.code, 0, "{none:?}");
    assert!(
        none.stdout
            .contains("no subscription matches invoice.paid in the Redis store \"default\""),
        "{none:?}"
    );
    let required = thorn(&["send", "invoice.paid", "--require-match"], &vars).await;
    assert_eq!(required.code, 1, "{required:?}");
    assert!(
        required
            .stdout
            .contains("no subscription matches invoice.paid"),
        "{required:?}"
    );

    // The file store, asked for by name, says it was the one read.
    let dir = TempDir::new("send-file-store");
    let file = dir.file("subs.json", "[]");
    let from_file = thorn(
        &[
            "send",
            "order.created",
            "--subscribers",
            &file,
            "--require-match",
        ],
        &vars,
    )
    .await;
    assert_eq!(from_file.code, 1, "{from_file:?}");
    assert!(
        from_file.stdout.contains("in the file store") && from_file.stdout.contains(&file),
        "{from_file:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_added_shown_and_changed() {
    let redis = redis().await;
    let url = redis.url();
    let vars = [("THORN_REDIS_URL", url.as_str())];
    let store = RedisStore::new(
        &RedisOptions::from_config(&common::config(&redis)).unwrap(),
        "default",
    )
    .unwrap();
    let stored = |id: &str| {
        let id = uuid::Uuid::parse_str(id).unwrap();
        let store = &store;
        async move { store.get(id).await.unwrap().unwrap() }
    };

    let added = thorn(
        &[
            "subscriptions",
            "add",
            "order.*",
            "https://hooks.example.com/orders",
            "--rate-limit",
            "10",
            "--burst",
            "5",
            "--max-in-flight",
            "3",
            "--ordered",
            "--json",
        ],
        &vars,
    )
    .await
    .json_lines();
    let limited = &added[0];
    assert_eq!(
        (
            &limited["rate_limit"],
            &limited["max_in_flight"],
            &limited["ordered"]
        ),
        (
            &json!({"per_second": 10, "burst": 5}),
            &json!(3),
            &json!(true)
        ),
        "{limited}"
    );
    let id = limited["id"].as_str().unwrap().to_owned();
    let sub = stored(&id).await;
    assert_eq!(sub.rate_limit, Some(RateLimit::new(10, 5).unwrap()));
    assert_eq!((sub.max_in_flight, sub.ordered), (Some(3), true));

    // The burst is the rate unless given; none of them set is none shown.
    let paced = thorn(
        &[
            "subscriptions",
            "add",
            "invoice.paid",
            "https://billing.example.com/",
            "--rate-limit",
            "4",
            "--json",
        ],
        &vars,
    )
    .await
    .json_lines();
    assert_eq!(paced[0]["rate_limit"], json!({"per_second": 4, "burst": 4}));
    let plain = thorn(
        &[
            "subscriptions",
            "add",
            "user.*",
            "https://users.example.com/",
            "--json",
        ],
        &vars,
    )
    .await
    .json_lines();
    assert_eq!(
        (
            &plain[0]["rate_limit"],
            &plain[0]["max_in_flight"],
            &plain[0]["ordered"]
        ),
        (&json!(null), &json!(null), &json!(false))
    );

    let listed = thorn(
        &["subscriptions", "list", "--event", "order.created"],
        &vars,
    )
    .await
    .ok();
    assert!(
        listed.contains("rate_limit=10/s burst=5 max_in_flight=3 ordered"),
        "{listed}"
    );
    let users = thorn(&["subscriptions", "list", "--event", "user.created"], &vars)
        .await
        .ok();
    assert!(
        !users.contains("rate_limit") && !users.contains("ordered"),
        "{users}"
    );
    let shown = thorn(&["subscriptions", "show", &id, "--json"], &vars)
        .await
        .json_lines();
    assert_eq!(shown[0]["max_in_flight"], 3, "{shown:?}");

    // `limit` changes what it names and keeps the rest.
    let changed = thorn(
        &[
            "subscriptions",
            "limit",
            &id,
            "--rate-limit",
            "20",
            "--burst",
            "2",
            "--no-max-in-flight",
            "--json",
        ],
        &vars,
    )
    .await
    .json_lines();
    assert_eq!(
        (
            &changed[0]["rate_limit"],
            &changed[0]["max_in_flight"],
            &changed[0]["ordered"]
        ),
        (
            &json!({"per_second": 20, "burst": 2}),
            &json!(null),
            &json!(true)
        ),
        "{changed:?}"
    );
    let sub = stored(&id).await;
    assert_eq!(sub.rate_limit, Some(RateLimit::new(20, 2).unwrap()));
    assert_eq!((sub.max_in_flight, sub.ordered), (None, true));
    assert_eq!(sub.revision, 2, "one change, made by compare-and-set");
    assert_eq!(sub.url.as_str(), "https://hooks.example.com/orders");

    let text = thorn(
        &[
            "subscriptions",
            "limit",
            &id,
            "--no-rate-limit",
            "--max-in-flight",
            "8",
            "--ordered",
            "false",
        ],
        &vars,
    )
    .await
    .ok();
    assert_eq!(text.trim(), format!("changed {id}: max_in_flight=8"));
    let sub = stored(&id).await;
    assert_eq!(
        (sub.rate_limit, sub.max_in_flight, sub.ordered),
        (None, Some(8), false)
    );

    let missing = thorn(&["subscriptions", "limit", ID, "--ordered", "true"], &vars).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains(&format!("no subscription {ID}")),
        "{missing:?}"
    );
}
