//! Pattern matching against Python Thorn's table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use thorn_core::{EventName, Pattern, Subscriber, SubscriptionIndex};

/// The subscriptions of Python Thorn's table; `G` is owned by user2, every
/// other by user1.
fn table() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("foo.*", "A", "user1"),
        ("foo.created", "B", "user1"),
        ("foo.created", "C", "user1"),
        ("foo.deleted", "D", "user1"),
        ("*.created", "E", "user1"),
        ("bar.updated", "F", "user1"),
        ("baz.*", "G", "user2"),
        ("*", "H", "user1"),
    ]
}

fn index() -> SubscriptionIndex {
    let mut index = SubscriptionIndex::default();
    for (pattern, label, owner) in table() {
        let url = format!("https://{}.example.com/", label.to_lowercase());
        index.insert(
            Subscriber::builder(pattern, url, "k")
                .owner(owner)
                .build()
                .unwrap(),
        );
    }
    index
}

fn labels(index: &SubscriptionIndex, event: &str, sender: Option<&str>) -> BTreeSet<String> {
    index
        .matching(&EventName::new(event).unwrap(), sender)
        .iter()
        .map(|s| {
            s.url
                .host_str()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .to_uppercase()
        })
        .collect()
}

fn set(labels: &str) -> BTreeSet<String> {
    labels.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn python_thorn_table() {
    let index = index();
    let cases = [
        ("foo.created", None, "A B C E H"),
        ("foo.updated", None, "A H"),
        ("foo.deleted", None, "A D H"),
        ("baz.created", None, "E G H"),
        ("bar.updated", None, "F H"),
        ("bar.deleted", None, "H"),
        ("baz.moo", Some("user1"), "H"),
        ("baz.moo", Some("user2"), "G"),
    ];
    for (event, sender, expected) in cases {
        assert_eq!(
            labels(&index, event, sender),
            set(expected),
            "{event} sent by {sender:?}"
        );
    }
}

#[test]
fn index_agrees_with_direct_matching() {
    let patterns = [
        "*", "a", "a.*", "*.b", "a.b", "a.*.c", "*.*", "*.b.*", "a.b.c", "*.*.*", "x.*", "a.b.*",
    ];
    let events = [
        "a", "b", "a.b", "a.c", "x.b", "a.b.c", "a.x.c", "a.b.c.d", "x.y.z", "x",
    ];
    let mut index = SubscriptionIndex::default();
    for (i, p) in patterns.iter().enumerate() {
        let sub = Subscriber::builder(*p, format!("https://s{i}.example.com/"), "k")
            .build()
            .unwrap();
        index.insert(sub);
    }
    for e in events {
        let name = EventName::new(e).unwrap();
        let by_index: BTreeSet<String> = index
            .matching(&name, None)
            .iter()
            .map(|s| s.pattern.to_string())
            .collect();
        let direct: BTreeSet<String> = patterns
            .iter()
            .filter(|p| Pattern::new(p).unwrap().matches(&name))
            .map(|p| (*p).to_owned())
            .collect();
        assert_eq!(by_index, direct, "event {e}");
        // Each match is reported once.
        assert_eq!(index.matching(&name, None).len(), direct.len(), "event {e}");
    }
}

#[test]
fn trailing_star_semantics() {
    let p = |s: &str| Pattern::new(s).unwrap();
    let e = |s: &str| EventName::new(s).unwrap();
    assert!(p("foo.*").matches(&e("foo.a")));
    assert!(p("foo.*").matches(&e("foo.a.b")));
    assert!(!p("foo.*").matches(&e("foo")));
    assert!(p("*").matches(&e("anything.at.all")));
    assert!(p("*.created").matches(&e("x.created")));
    assert!(!p("*.created").matches(&e("x.y.created")));
    assert!(!p("foo.bar").matches(&e("foo.bar.baz")));
}

#[test]
fn remove_and_replace() {
    let mut index = index();
    let name = EventName::new("foo.created").unwrap();
    let before = index.matching(&name, None).len();
    let a = index
        .matching(&name, None)
        .into_iter()
        .find(|s| s.pattern.as_str() == "foo.*")
        .unwrap();
    assert!(index.remove(a.id).is_some());
    assert_eq!(index.matching(&name, None).len(), before - 1);
    assert!(index.remove(a.id).is_none());
    // Inserting with an existing id replaces the subscription.
    let h = index
        .matching(&name, None)
        .into_iter()
        .find(|s| s.pattern.as_str() == "*")
        .unwrap();
    let moved = Subscriber::builder("bar.*", "https://h.example.com/", "k")
        .id(h.id)
        .build()
        .unwrap();
    index.insert(moved);
    assert_eq!(index.matching(&name, None).len(), before - 2);
    assert_eq!(index.len(), 7);
}

#[test]
fn many_distinct_patterns_match_only_their_own() {
    let mut index = SubscriptionIndex::default();
    for i in 0..10_000 {
        let sub = Subscriber::builder(format!("resource{i}.created"), "https://example.com/", "k")
            .build()
            .unwrap();
        index.insert(sub);
    }
    let hits = index.matching(&EventName::new("resource4242.created").unwrap(), None);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].pattern.as_str(), "resource4242.created");
}
