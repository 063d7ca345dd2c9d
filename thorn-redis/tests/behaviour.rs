//! The behaviour suite, run against the `"redis"` backend with a worker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use thorn_testkit::suite::{Harness, Suite};

fn suite() -> Suite {
    Suite::new(thorn_redis::NAME, |mut config| {
        Box::pin(async move {
            let redis = common::redis().await;
            config.redis_url = Some(redis.url());
            let thorn = common::thorn(config.clone());
            let worker = common::RunningWorker::with_config(config);
            // Dropped in this order: the worker stops, then the server.
            Ok(Harness::with_guard(thorn, (worker, redis)))
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_delivery_with_every_header() {
    suite().signed_delivery_with_every_header().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_form_bodies() {
    suite().json_and_form_bodies().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_by_sender() {
    suite().matching_by_sender().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_batch_in_order() {
    suite().buffered_batch_in_order().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_then_success_same_delivery_id() {
    suite().retry_then_success_same_delivery_id().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_is_not_retried() {
    suite().gone_is_not_retried().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_permanent() {
    suite().not_found_is_permanent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_receiver_times_out() {
    suite().silent_receiver_times_out().await;
}
