#![doc = include_str!("../../README.md")]
#![forbid(unsafe_code)]

pub use thorn_core::*;

/// The HTTP client (feature `http`).
#[cfg(feature = "http")]
pub use thorn_http as http;

/// The `"default"` backend (feature `inline`, on by default).
#[cfg(feature = "inline")]
pub use thorn_inline as inline;

/// The `"redis"` backend: producer, worker, dead letters, Redis store
/// (feature `redis`).
#[cfg(feature = "redis")]
pub use thorn_redis as redis;

/// The subscriptions API and the `Verified` extractor for axum (feature
/// `axum`).
#[cfg(feature = "axum")]
pub use thorn_axum as axum;

/// Subscriptions in PostgreSQL and the transactional outbox (feature
/// `postgres`).
#[cfg(feature = "postgres")]
pub use thorn_postgres as postgres;

/// Test helpers (feature `testkit`).
#[cfg(feature = "testkit")]
pub use thorn_testkit as testkit;

/// A registry holding every backend enabled by this crate's features, plus
/// the built-in `"disabled"`: [`Registry::linked`], which
/// [`Thorn::from_env`] and [`Thorn::builder`] use too. A backend whose
/// feature is off is named with the feature to enable.
pub fn registry() -> Registry {
    Registry::linked()
}

#[cfg(not(feature = "inline"))]
thorn_core::link_hint!(
    "default",
    "enable the \"inline\" feature of the thorn crate"
);
#[cfg(not(feature = "redis"))]
thorn_core::link_hint!("redis", "enable the \"redis\" feature of the thorn crate");

// Python Thorn's queue is Celery; Thorn for Rust's is "redis".
#[cfg(feature = "redis")]
thorn_core::link_hint!(
    "celery",
    "Python Thorn's queue, set THORN_DISPATCHER=redis: Thorn for Rust's queue, a Redis Stream that `thorn worker` drains"
);
#[cfg(not(feature = "redis"))]
thorn_core::link_hint!(
    "celery",
    "Python Thorn's queue, set THORN_DISPATCHER=redis and enable the \"redis\" feature of the thorn crate: Thorn for Rust's queue, a Redis Stream that `thorn worker` drains"
);

/// Every setting of core and of the backends this crate's features
/// enable, in the order of the README's table of settings, which is
/// [`config::setting::table`] of this list.
pub fn settings() -> Vec<SettingDoc> {
    #[allow(unused_mut)]
    let mut all = thorn_core::config::core::SETTINGS.to_vec();
    #[cfg(feature = "http")]
    all.extend_from_slice(thorn_http::SETTINGS);
    #[cfg(feature = "redis")]
    all.extend_from_slice(thorn_redis::SETTINGS);
    #[cfg(feature = "postgres")]
    all.extend_from_slice(thorn_postgres::SETTINGS);
    #[cfg(feature = "axum")]
    all.extend_from_slice(thorn_axum::SETTINGS);
    all
}

/// The names a backend of one's own needs: `use thorn::backend::*;`.
///
/// ```
/// use thorn::backend::*;
///
/// #[derive(Debug)]
/// struct Quiet;
///
/// #[async_trait]
/// impl Dispatcher for Quiet {
///     fn name(&self) -> &str {
///         "quiet"
///     }
///     async fn dispatch(&self, batch: &Batch) -> Result<Report> {
///         let outcomes = batch.deliveries().map(|d| Outcome::new(d, Status::Dropped)).collect();
///         Ok(Report { outcomes })
///     }
/// }
///
/// let mut registry = thorn::registry();
/// registry.register("quiet", |_: &Config| Ok(Quiet));
/// ```
pub mod backend {
    pub use thorn_core::config::{Setting, parse};
    pub use thorn_core::{
        Batch, Config, Delivery, Dispatcher, Outcome, Registry, Report, Result, RetryPolicy,
        Status, async_trait,
    };
    #[cfg(feature = "http")]
    pub use thorn_http::{AttemptRecorder, HttpClient, group_by_subscription};
}

/// The names most programs need: `use thorn::prelude::*;`.
pub mod prelude {
    pub use thorn_core::{Config, Event, Report, Status, Subscriber, Thorn};
}
