//! Buffering rules: scopes, nesting, explicit flush, freq, timeout, error
//! exit, cancellation, and failed flushes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use thorn_core::{BufferOptions, Config, Event, Registry, Status, Subscriber, Thorn};
use thorn_testkit::recording::{self, Recorder};

async fn setup() -> (Thorn, Recorder) {
    let recorder = Recorder::new();
    let mut registry = Registry::new();
    recording::register(&mut registry, recorder.clone());
    let config = Config::builder()
        .dispatcher(recording::NAME)
        .build()
        .unwrap();
    let thorn = Thorn::new(config, &registry).unwrap();
    thorn
        .subscribe(
            Subscriber::builder("*", "https://a.example.com/", "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    (thorn, recorder)
}

fn ev(name: &str) -> Event {
    Event::new(name, json!({"name": name})).unwrap()
}

/// Sends from deep in the call tree, with no handle to any buffer.
async fn deep(thorn: &Thorn, depth: u32, name: &str) {
    if depth == 0 {
        let r = thorn.send(ev(name)).await.unwrap();
        assert_eq!(r.count(Status::Buffered), 1);
    } else {
        Box::pin(deep(thorn, depth - 1, name)).await;
    }
}

#[tokio::test]
async fn scope_holds_every_send_and_flushes_one_batch_in_order() {
    let (thorn, recorder) = setup().await;
    let ((), flushed) = thorn
        .buffer_events(async {
            deep(&thorn, 5, "a.one").await;
            thorn.send(ev("a.two")).await.unwrap();
            deep(&thorn, 2, "a.three").await;
            assert!(recorder.is_empty(), "nothing leaves before the scope ends");
            assert!(thorn.is_buffering());
        })
        .await;
    let report = flushed.unwrap();
    assert_eq!(report.count(Status::Delivered), 3);
    assert_eq!(recorder.batches().len(), 1, "one batch for the whole scope");
    recorder.assert_events(&["a.one", "a.two", "a.three"]);
    assert!(!thorn.is_buffering());
}

#[tokio::test]
async fn only_the_outermost_scope_flushes() {
    let (thorn, recorder) = setup().await;
    let ((), outer) = thorn
        .buffer_events(async {
            thorn.send(ev("a.outer")).await.unwrap();
            let ((), inner) = thorn
                .buffer_events(async {
                    thorn.send(ev("a.inner")).await.unwrap();
                })
                .await;
            assert!(inner.unwrap().outcomes.is_empty());
            assert!(recorder.is_empty(), "the inner scope's end flushed");
            assert!(
                thorn.is_buffering(),
                "the outer scope ended with the inner one"
            );
            thorn.send(ev("a.after")).await.unwrap();
        })
        .await;
    assert_eq!(outer.unwrap().outcomes.len(), 3);
    recorder.assert_events(&["a.outer", "a.inner", "a.after"]);
}

#[tokio::test]
async fn explicit_flush_flushes_everything_held() {
    let (thorn, recorder) = setup().await;
    let ((), end) = thorn
        .buffer_events(async {
            thorn.send(ev("a.one")).await.unwrap();
            thorn
                .buffer_events(async {
                    thorn.send(ev("a.two")).await.unwrap();
                    let r = thorn.flush().await.unwrap();
                    assert_eq!(r.count(Status::Delivered), 2);
                })
                .await
                .1
                .unwrap();
            recorder.assert_events(&["a.one", "a.two"]);
            thorn.send(ev("a.three")).await.unwrap();
        })
        .await;
    assert_eq!(end.unwrap().outcomes.len(), 1);
    assert_eq!(recorder.batches().len(), 2);
    recorder.assert_events(&["a.one", "a.two", "a.three"]);
}

#[tokio::test]
async fn flush_freq_with_maybe_flush() {
    let (thorn, recorder) = setup().await;
    let opts = BufferOptions::default().flush_freq(3);
    let (flushes, end) = thorn
        .buffer_events_with(opts, async {
            let mut flushes = Vec::new();
            for i in 0..7 {
                thorn.send(ev(&format!("a.e{i}"))).await.unwrap();
                if let Some(r) = thorn.maybe_flush().await.unwrap() {
                    flushes.push((i, r.outcomes.len()));
                }
            }
            flushes
        })
        .await;
    assert_eq!(flushes, vec![(2, 3), (5, 3)]);
    assert_eq!(end.unwrap().outcomes.len(), 1);
    let sizes: Vec<usize> = recorder.batches().iter().map(|b| b.events.len()).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
}

#[tokio::test(start_paused = true)]
async fn flush_timeout_with_maybe_flush() {
    let (thorn, recorder) = setup().await;
    let opts = BufferOptions::default().flush_timeout(Duration::from_secs(10));
    let ((), end) = thorn
        .buffer_events_with(opts, async {
            thorn.send(ev("a.one")).await.unwrap();
            tokio::time::advance(Duration::from_secs(9)).await;
            assert!(
                thorn.maybe_flush().await.unwrap().is_none(),
                "flushed before the timeout"
            );
            tokio::time::advance(Duration::from_secs(2)).await;
            let r = thorn
                .maybe_flush()
                .await
                .unwrap()
                .expect("due after the timeout");
            assert_eq!(r.outcomes.len(), 1);
            thorn.send(ev("a.two")).await.unwrap();
            assert!(
                thorn.maybe_flush().await.unwrap().is_none(),
                "the timer restarts at each flush"
            );
        })
        .await;
    assert_eq!(end.unwrap().outcomes.len(), 1);
    assert_eq!(recorder.batches().len(), 2);
}

#[tokio::test]
async fn scope_ending_in_error_still_flushes() {
    let (thorn, recorder) = setup().await;
    let (out, end) = thorn
        .buffer_events(async {
            thorn.send(ev("a.one")).await.unwrap();
            thorn.send(ev("a.two")).await.unwrap();
            Err::<(), &str>("the handler failed")
        })
        .await;
    assert_eq!(out, Err("the handler failed"));
    assert_eq!(end.unwrap().outcomes.len(), 2);
    recorder.assert_events(&["a.one", "a.two"]);
}

/// A task whose buffer scope sent `names` and then never ends; returned
/// once the sends are made.
async fn stuck_scope(thorn: &Thorn, names: &[&'static str]) -> tokio::task::JoinHandle<()> {
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let t = thorn.clone();
    let names = names.to_vec();
    let task = tokio::spawn(async move {
        t.buffer_events(async {
            for name in names {
                t.send(ev(name)).await.unwrap();
            }
            sent_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        })
        .await
        .0
    });
    sent_rx.await.unwrap();
    task
}

#[tokio::test]
async fn cancelled_scope_loses_nothing() {
    let (thorn, recorder) = setup().await;
    let task = stuck_scope(&thorn, &["a.one", "a.two"]).await;
    assert!(recorder.is_empty());
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(recorder.wait_for(2, Duration::from_secs(5)).await, 2);
    recorder.assert_events(&["a.one", "a.two"]);
    assert_eq!(thorn.held_events(), 0);
}

#[tokio::test]
async fn panicking_scope_loses_nothing() {
    let (thorn, recorder) = setup().await;
    let t = thorn.clone();
    let task = tokio::spawn(async move {
        t.buffer_events(async {
            t.send(ev("a.one")).await.unwrap();
            panic!("handler bug");
        })
        .await
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(recorder.wait_for(1, Duration::from_secs(5)).await, 1);
    recorder.assert_events(&["a.one"]);
}

#[tokio::test]
async fn other_tasks_are_not_captured() {
    let (thorn, recorder) = setup().await;
    let ((), end) = thorn
        .buffer_events(async {
            let t = thorn.clone();
            let report = tokio::spawn(async move { t.send(ev("a.elsewhere")).await.unwrap() })
                .await
                .unwrap();
            assert_eq!(
                report.count(Status::Delivered),
                1,
                "a spawned task is not in the scope"
            );
            thorn.send(ev("a.here")).await.unwrap();
        })
        .await;
    assert_eq!(end.unwrap().outcomes.len(), 1);
    recorder.assert_events(&["a.elsewhere", "a.here"]);
}

#[tokio::test]
async fn failed_flush_keeps_events_for_the_next() {
    let (thorn, recorder) = setup().await;
    recorder.fail_next(1);
    let ((), end) = thorn
        .buffer_events(async {
            thorn.send(ev("a.one")).await.unwrap();
            thorn.send(ev("a.two")).await.unwrap();
        })
        .await;
    let err = end.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(recorder.is_empty());
    assert_eq!(thorn.held_events(), 2);
    let r = thorn.flush().await.unwrap();
    assert_eq!(r.count(Status::Delivered), 2);
    recorder.assert_events(&["a.one", "a.two"]);
    assert_eq!(thorn.held_events(), 0);
}

#[tokio::test]
async fn failed_send_is_held_and_flushed_later() {
    let (thorn, recorder) = setup().await;
    recorder.fail_next(1);
    let err = thorn.send(ev("a.one")).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(thorn.held_events(), 1);
    thorn.send(ev("a.two")).await.unwrap();
    thorn.flush().await.unwrap();
    let mut got = recorder.events();
    got.sort();
    assert_eq!(got, ["a.one", "a.two"]);
}

#[tokio::test]
async fn scope_flush_delivers_previously_held_events_first() {
    let (thorn, recorder) = setup().await;
    recorder.fail_next(1);
    thorn.send(ev("a.held")).await.unwrap_err();
    let ((), end) = thorn
        .buffer_events(async {
            thorn.send(ev("a.scoped")).await.unwrap();
        })
        .await;
    assert_eq!(end.unwrap().outcomes.len(), 2);
    recorder.assert_events(&["a.held", "a.scoped"]);
}

#[tokio::test]
async fn two_thorns_keep_separate_scopes() {
    let (a, rec_a) = setup().await;
    let (b, rec_b) = setup().await;
    let ((), end_a) = a
        .buffer_events(async {
            a.send(ev("a.one")).await.unwrap();
            let r = b.send(ev("b.direct")).await.unwrap();
            assert_eq!(r.count(Status::Delivered), 1, "b has no scope");
            let ((), end_b) = b
                .buffer_events(async {
                    b.send(ev("b.scoped")).await.unwrap();
                    a.send(ev("a.two")).await.unwrap();
                })
                .await;
            assert_eq!(end_b.unwrap().outcomes.len(), 1);
            assert!(rec_a.is_empty());
        })
        .await;
    assert_eq!(end_a.unwrap().outcomes.len(), 2);
    rec_a.assert_events(&["a.one", "a.two"]);
    rec_b.assert_events(&["b.direct", "b.scoped"]);
}

/// A backend whose dispatches wait at a gate, so that a test can hold a
/// background flush in the middle.
#[derive(Debug)]
struct Gated {
    recorder: Recorder,
    gate: tokio::sync::Semaphore,
    entered: tokio::sync::Notify,
}

#[thorn_core::async_trait]
impl thorn_core::Dispatcher for Gated {
    fn name(&self) -> &str {
        "gated"
    }

    async fn dispatch(&self, batch: &thorn_core::Batch) -> thorn_core::Result<thorn_core::Report> {
        self.entered.notify_one();
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        self.recorder.dispatch(batch).await
    }
}

#[tokio::test]
async fn shutdown_waits_for_the_background_flush_of_a_dropped_scope() {
    let recorder = Recorder::new();
    let gated = Arc::new(Gated {
        recorder: recorder.clone(),
        gate: tokio::sync::Semaphore::new(0),
        entered: tokio::sync::Notify::new(),
    });
    let thorn = Thorn::builder()
        .config(Config::default())
        .dispatcher(Arc::clone(&gated) as Arc<dyn thorn_core::Dispatcher>)
        .build()
        .unwrap();
    thorn
        .subscribe(
            Subscriber::builder("a.*", "https://example.com/h", "k")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let scope = stuck_scope(&thorn, &["a.one", "a.two"]).await;
    let entered = gated.entered.notified();
    scope.abort();
    assert!(scope.await.unwrap_err().is_cancelled());
    // The background flush took the events and waits at the gate: a plain
    // flush finds nothing held, but shutdown waits for it.
    entered.await;
    assert_eq!(thorn.held_events(), 0);
    let t = thorn.clone();
    let shutdown = tokio::spawn(async move { t.shutdown().await });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        !shutdown.is_finished(),
        "shutdown returned before the flush ended"
    );
    assert!(recorder.is_empty());
    gated.gate.add_permits(1);
    shutdown.await.unwrap().unwrap();
    recorder.assert_events(&["a.one", "a.two"]);
}
