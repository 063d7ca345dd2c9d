//! What the README says of the subscriptions file and of the metrics is
//! what the code reads and exports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

const README: &str = include_str!("../../README.md");

/// The text between `begin` and `end`.
fn between<'a>(text: &'a str, begin: &str, end: &str) -> &'a str {
    let start = text.find(begin).unwrap_or_else(|| panic!("{begin:?}")) + begin.len();
    let len = text[start..].find(end).unwrap_or_else(|| panic!("{end:?}"));
    &text[start..start + len]
}

/// The first column of a Markdown table's rows, without its backticks.
fn first_column(table: &str) -> BTreeSet<String> {
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.split('|')
                .nth(1)
                .unwrap()
                .trim()
                .trim_matches('`')
                .to_owned()
        })
        .collect()
}

#[test]
fn the_subscriptions_file_fields_are_the_ones_read() {
    let section = between(README, "### The subscriptions file\n", "\n## ");
    let documented = first_column(between(
        section,
        "<!-- subscriptions file fields: checked by thorn/tests/readme.rs -->\n",
        "<!-- end of subscriptions file fields -->",
    ));
    let example = between(section, "```json\n", "```");
    let subs = thorn::store::parse_subscribers(example).expect("the example is read");
    assert_eq!(subs.len(), 2);

    // Every field a subscription has, all set (`enabled` is written only
    // when false).
    let mut full = subs[1].clone();
    full.enabled = false;
    let value = serde_json::to_value(&full).unwrap();
    let fields: BTreeSet<String> = value.as_object().unwrap().keys().cloned().collect();
    assert_eq!(documented, fields, "the README's table lists every field");

    // The example shows every field, `pattern` for `event`.
    let raw: serde_json::Value = serde_json::from_str(example).unwrap();
    let shown: BTreeSet<String> = raw[1]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| {
            if k == "pattern" {
                "event".into()
            } else {
                k.clone()
            }
        })
        .collect();
    assert_eq!(shown, fields, "the example shows every field");
    assert_eq!(subs[1].pattern.as_str(), "invoice.paid");
    assert!(section.contains("`pattern` is another name for it"));
}

#[cfg(feature = "http")]
#[test]
fn the_metrics_table_says_what_is_exported() {
    use thorn::http::metrics::{
        ATTEMPT_DURATION, ATTEMPT_DURATION_BUCKETS, ATTEMPTS, CLASSES, DELIVERIES,
        DELIVERY_LATENCY, DELIVERY_LATENCY_BUCKETS, ENDS,
    };
    let row = |name: &str| {
        README
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}`")))
            .unwrap_or_else(|| panic!("the README has a row for {name}"))
    };
    for (name, labels) in [(ATTEMPTS, &CLASSES[..]), (DELIVERIES, &ENDS[..])] {
        let row = row(name);
        for label in labels {
            assert!(row.contains(&format!("`{label}`")), "{label} in {row}");
        }
    }
    for (name, buckets) in [
        (ATTEMPT_DURATION, ATTEMPT_DURATION_BUCKETS),
        (DELIVERY_LATENCY, DELIVERY_LATENCY_BUCKETS),
    ] {
        assert!(row(name).contains("| histogram |"), "{name}");
        let listed = buckets
            .iter()
            .map(f64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        assert!(
            README.contains(&format!("- `{name}`: {listed}\n")),
            "the README lists the buckets of {name}: {listed}"
        );
    }
    let gauges = row("thorn_queue_depth");
    assert!(gauges.contains("sampled"), "{gauges}");
    assert!(
        README.contains("may lag what `thorn queue stats`"),
        "the README says the gauges lag"
    );
}
