//! Test helpers for code that sends webhooks with Thorn.
//!
//! - [`recording`]: a backend that keeps every delivery it is given, with
//!   helpers to assert on them.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> thorn_core::Result<()> {
//! use thorn_core::{Config, Event, Registry, Subscriber, Thorn};
//! use thorn_testkit::recording::{self, Recorder};
//!
//! let recorder = Recorder::new();
//! let mut registry = Registry::new();
//! recording::register(&mut registry, recorder.clone());
//! let config = Config::builder().dispatcher(recording::NAME).build()?;
//! let thorn = Thorn::new(config, &registry)?;
//! thorn.subscribe(Subscriber::builder("a.*", "https://example.com/", "k").build()?).await?;
//! thorn.send(Event::new("a.b", serde_json::json!({}))?).await?;
//! recorder.assert_events(&["a.b"]);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "http")]
pub mod client;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod local;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "pki")]
pub mod pki;
#[cfg(feature = "postgres")]
pub mod postgres_server;
#[cfg(feature = "program")]
pub mod program;
#[cfg(feature = "http")]
pub mod receiver;
pub mod recording;
#[cfg(feature = "redis")]
pub mod redis_server;
#[cfg(feature = "http")]
pub mod suite;
