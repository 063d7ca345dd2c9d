//! Benchmarks of the hot path's parts: matching, signing, and a whole send
//! through the `"disabled"` backend.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use thorn_core::{
    Digest, Event, EventName, Subscriber, SubscriptionIndex, Thorn, disabled::Disabled, signing,
};

const VERBS: [&str; 4] = ["created", "updated", "deleted", "*"];

/// `n` subscriptions over `n / 4` resources, each with one of four verbs
/// (one of them a trailing `*`), plus a few catch-alls.
fn index_of(n: usize) -> SubscriptionIndex {
    let mut index = SubscriptionIndex::default();
    for i in 0..n {
        let pattern = format!("resource{}.{}", i / 4, VERBS[i % 4]);
        index.insert(
            Subscriber::builder(pattern, "https://example.com/hook", "k")
                .build()
                .unwrap(),
        );
    }
    index
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("matching");
    for n in [100usize, 10_000, 100_000] {
        let index = index_of(n);
        let event = EventName::new("resource7.created").unwrap();
        assert_eq!(index.matching(&event, None).len(), 2);
        group.bench_with_input(BenchmarkId::from_parameter(n), &index, |b, index| {
            let mut out = Vec::with_capacity(8);
            b.iter(|| {
                out.clear();
                index.matching_into(black_box(&event), None, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn signing(c: &mut Criterion) {
    let body = vec![b'x'; 1024];
    let mut group = c.benchmark_group("sign_1KiB");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for digest in [Digest::Sha1, Digest::Sha256, Digest::Sha512] {
        group.bench_function(format!("{digest:?}").to_lowercase(), |b| {
            b.iter(|| signing::hook_signature(black_box(b"s3cret"), digest, black_box(&body)))
        });
    }
    group.bench_function("standard_webhooks", |b| {
        b.iter(|| {
            signing::standard_signature(
                black_box(b"s3cret"),
                "msg_1",
                1_700_000_000,
                black_box(&body),
            )
        })
    });
    group.finish();
}

fn send(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let thorn = Thorn::builder()
        .dispatcher(Arc::new(Disabled::default()))
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..10 {
            let s = Subscriber::builder("order.*", format!("https://s{i}.example.com/"), "k")
                .build()
                .unwrap();
            thorn.subscribe(s).await.unwrap();
        }
    });
    let data =
        serde_json::json!({"id": 42, "total": "19.99", "items": [1, 2, 3], "customer": "Ada"});
    c.bench_function("send_10_subscribers_disabled", |b| {
        b.iter(|| {
            let event = Event::new("order.paid", data.clone()).unwrap();
            rt.block_on(thorn.send(event)).unwrap()
        })
    });
}

criterion_group!(benches, matching, signing, send);
criterion_main!(benches);
