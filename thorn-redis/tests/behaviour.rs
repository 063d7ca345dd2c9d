//! The behaviour suite, run against the `"redis"` backend with a worker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use thorn_testkit::suite::{Harness, Suite};

fn suite() -> Suite {
    Suite::new(thorn_redis::NAME, |mut config| {
        Box::pin(async move {
            let redis = common::redis().await;
            config.set_var("THORN_REDIS_URL", redis.url())?;
            let thorn = common::thorn(config.clone());
            let worker = common::RunningWorker::with_config(config);
            // Dropped in this order: the worker stops, then the server.
            Ok(Harness::with_guard(thorn, (worker, redis)))
        })
    })
}

thorn_testkit::behaviour_tests!(suite());
