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

/// Test helpers (feature `testkit`).
#[cfg(feature = "testkit")]
pub use thorn_testkit as testkit;

/// A registry holding every backend enabled by this crate's features, plus
/// the built-in `"disabled"`.
pub fn registry() -> Registry {
    #[allow(unused_mut)]
    let mut registry = Registry::new();
    #[cfg(feature = "inline")]
    thorn_inline::register(&mut registry);
    #[cfg(feature = "redis")]
    thorn_redis::register(&mut registry);
    #[cfg(not(feature = "inline"))]
    registry.hint(
        "default",
        "enable the \"inline\" feature of the thorn crate",
    );
    #[cfg(not(feature = "redis"))]
    registry.hint("redis", "enable the \"redis\" feature of the thorn crate");
    registry
}

/// Every setting of core and of the backends this crate's features
/// enable, in the order of the README's table of settings, which is
/// [`config::setting::table`] of this list.
pub fn settings() -> Vec<SettingDoc> {
    #[allow(unused_mut)]
    let mut all = thorn_core::config::core::SETTINGS.to_vec();
    #[cfg(feature = "redis")]
    all.extend_from_slice(thorn_redis::SETTINGS);
    all
}

/// Builds a [`Thorn`] from the process environment: [`Config::from_env`]
/// and the backend that `THORN_DISPATCHER` names, from [`registry()`].
///
/// With backends of your own, add them to that registry and build with
/// [`Thorn::from_env_with`]:
///
/// ```no_run
/// # fn main() -> thorn::Result<()> {
/// use thorn::{Thorn, disabled::Disabled};
/// let mut registry = thorn::registry();
/// registry.register("quiet", |_config: &thorn::Config| Ok(Disabled::default()));
/// let thorn = Thorn::from_env_with(&registry)?; // THORN_DISPATCHER=quiet works
/// # let _ = thorn; Ok(()) }
/// ```
pub trait FromEnv: Sized {
    /// Reads `THORN_*` and builds.
    fn from_env() -> Result<Self>;
}

impl FromEnv for Thorn {
    fn from_env() -> Result<Self> {
        Thorn::new(Config::from_env()?, &registry())
    }
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
    pub use crate::FromEnv as _;
    pub use thorn_core::{Config, Event, Report, Status, Subscriber, Thorn};
}
