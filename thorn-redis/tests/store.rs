//! The Redis subscriber store against a real redis-server: Python Thorn's
//! matching table, changes seen by another process's store, owners.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use thorn_core::{EventName, Subscriber, SubscriberStore};
use thorn_redis::{RedisOptions, RedisStore};

fn sub(pattern: &str, name: &str, owner: &str) -> Subscriber {
    Subscriber::builder(pattern, format!("https://{name}.example/hook"), "k")
        .owner(owner)
        .build()
        .unwrap()
}

async fn names(store: &RedisStore, event: &str, sender: Option<&str>) -> BTreeSet<String> {
    let event = EventName::new(event).unwrap();
    store
        .matching(&event, sender)
        .await
        .unwrap()
        .iter()
        .map(|s| {
            s.url
                .host_str()
                .unwrap()
                .trim_end_matches(".example")
                .to_uppercase()
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_python_thorns_table_and_sees_other_processes_changes() {
    let redis = common::redis().await;
    let options = RedisOptions::default().url(redis.url());
    let writer = RedisStore::new(&options, "default").unwrap();
    let reader = RedisStore::new(&options, "default").unwrap();
    // The reader caches an empty index first: changes must reach it.
    assert!(names(&reader, "foo.created", None).await.is_empty());
    for (p, n) in [
        ("foo.*", "a"),
        ("foo.created", "b"),
        ("foo.created", "c"),
        ("foo.deleted", "d"),
        ("*.created", "e"),
        ("bar.updated", "f"),
        ("*", "h"),
    ] {
        writer.add(sub(p, n, "user1")).await.unwrap();
    }
    writer.add(sub("baz.*", "g", "user2")).await.unwrap();

    assert_eq!(
        names(&reader, "foo.created", None).await,
        set(&["A", "B", "C", "E", "H"])
    );
    assert_eq!(names(&reader, "foo.updated", None).await, set(&["A", "H"]));
    assert_eq!(
        names(&reader, "foo.deleted", None).await,
        set(&["A", "D", "H"])
    );
    assert_eq!(
        names(&reader, "baz.created", None).await,
        set(&["E", "G", "H"])
    );
    assert_eq!(names(&reader, "bar.updated", None).await, set(&["F", "H"]));
    assert_eq!(names(&reader, "bar.deleted", None).await, set(&["H"]));
    assert_eq!(names(&reader, "baz.moo", Some("user1")).await, set(&["H"]));
    assert_eq!(names(&reader, "baz.moo", Some("user2")).await, set(&["G"]));

    assert_eq!(reader.by_owner("user2").await.unwrap().len(), 1);
    assert_eq!(reader.by_owner("user1").await.unwrap().len(), 7);
    let h = reader
        .by_owner("user1")
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.pattern.as_str() == "*")
        .unwrap();
    assert_eq!(reader.get(h.id).await.unwrap().unwrap().url, h.url);
    assert_eq!(
        reader.get(h.id).await.unwrap().unwrap().secret.expose(),
        "k"
    );

    assert!(writer.remove(h.id).await.unwrap());
    assert!(!writer.remove(h.id).await.unwrap());
    assert_eq!(names(&reader, "bar.deleted", None).await, set(&[]));
    assert!(reader.get(h.id).await.unwrap().is_none());

    // Replacing by id changes the pattern.
    let mut f = reader
        .by_owner("user1")
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.pattern.as_str() == "bar.updated")
        .unwrap()
        .as_ref()
        .clone();
    f.pattern = thorn_core::Pattern::new("bar.*").unwrap();
    writer.add(f).await.unwrap();
    assert_eq!(names(&reader, "bar.deleted", None).await, set(&["F"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_a_retryable_error() {
    let redis = common::redis().await;
    let store = RedisStore::new(&RedisOptions::default().url(redis.url()), "default").unwrap();
    redis.stop();
    let err = store
        .matching(&EventName::new("a.b").unwrap(), None)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_kept_through_create_and_update() {
    use redis::AsyncCommands as _;
    use thorn_core::limits::RateLimit;

    let server = common::redis().await;
    let options = RedisOptions::default().url(server.url());
    let store = RedisStore::new(&options, "limits").unwrap();
    // Another process's store: it reads the stored JSON, not this one's
    // cache.
    let reread = |id| {
        let options = options.clone();
        async move {
            let other = RedisStore::new(&options, "limits").unwrap();
            (*other.get(id).await.unwrap().unwrap()).clone()
        }
    };
    let sub = Subscriber::builder("order.*", "https://example.com/limits", "k")
        .owner("alice")
        .rate_limit(10, 5)
        .max_in_flight(3)
        .ordered(true)
        .build()
        .unwrap();
    let created = store.create(sub.clone(), None).await.unwrap();
    let mut expected = sub;
    expected.revision = 1;
    assert_eq!(*created, expected);
    assert_eq!(*store.get(expected.id).await.unwrap().unwrap(), expected);
    assert_eq!(reread(expected.id).await, expected);

    let mut changed = expected.clone();
    changed.rate_limit = Some(RateLimit::new(200, 1).unwrap());
    changed.max_in_flight = Some(u32::MAX);
    changed.ordered = false;
    let stored = store.update(changed.clone()).await.unwrap();
    changed.revision = 2;
    assert_eq!(*stored, changed);
    assert_eq!(*store.get(changed.id).await.unwrap().unwrap(), changed);
    assert_eq!(reread(changed.id).await, changed);

    let mut cleared = changed.clone();
    cleared.rate_limit = None;
    cleared.max_in_flight = None;
    store.update(cleared.clone()).await.unwrap();
    cleared.revision = 3;
    assert_eq!(*store.get(cleared.id).await.unwrap().unwrap(), cleared);
    assert_eq!(reread(cleared.id).await, cleared);

    // Unset limits are left out of the stored JSON.
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let json: String = conn
        .hget("thorn:{limits}:subs", cleared.id.to_string())
        .await
        .unwrap();
    for field in ["rate_limit", "max_in_flight", "ordered"] {
        assert!(!json.contains(field), "{field} in {json}");
    }
}
