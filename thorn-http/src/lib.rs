//! The HTTP client of Thorn webhooks.
//!
//! One [`HttpClient`] per process: a hyper connection pool (keep-alive
//! connections reused across deliveries, HTTP/1.1 and HTTP/2 by ALPN) over
//! rustls with the `ring` provider and the webpki roots. Certificate checks
//! are always on; [`TrustedRoots`] adds private CAs.
//!
//! Each [`HttpClient::attempt`] makes exactly one POST of a
//! [`Delivery`](thorn_core::Delivery):
//!
//! - the URL's scheme and port are checked against the
//!   [`RecipientPolicy`](thorn_core::RecipientPolicy) before connecting, and
//!   every *resolved* address at connect time (so DNS rebinding cannot
//!   reach a private address); a refusal is [`Verdict::Permanent`] with
//!   [`Attempt::refused`] set and names the setting that would allow it;
//! - the body is signed for this attempt and sent with every header of the
//!   wire format (`Hook-Event`, `Hook-Delivery`, `Hook-HMAC`,
//!   `Hook-Subscription`, `User-Agent`, `Content-Type`, and the Standard
//!   Webhooks headers when the delivery asks for them);
//! - the attempt is bounded by the delivery's timeout, or the config's
//!   `event_timeout` (connect and total);
//! - the answer is classified: 2xx [`Verdict::Success`]; connection errors,
//!   timeouts, 408, 429 and 5xx [`Verdict::Retryable`] (with `Retry-After`
//!   read, in seconds or as a date); 410 [`Verdict::Gone`]; other 4xx,
//!   certificate errors, and a redirect that is not followed,
//!   [`Verdict::Permanent`];
//! - redirects are followed only as
//!   [`RedirectPolicy`](thorn_core::RedirectPolicy) (`THORN_ALLOW_REDIRECTS`)
//!   allows, at most 5, each target checked against the recipient policy
//!   again: 307 and 308 repeat the signed POST; 303 becomes a GET without
//!   body or signatures; 301 and 302 are refused (they may turn the POST
//!   into a GET, losing the event), the error saying to move the
//!   subscription or answer 307/308; the signature headers are never sent
//!   to an origin other than the subscription's.
//!
//! What an attempt means, and who hears of it, is one path for every
//! backend that delivers with this client (the `"default"` and `"redis"`
//! backends, and yours): [`AttemptRecorder`] maps each [`Attempt`] to a
//! [`Status`](thorn_core::Status) ([`status_of`]), tells the config's
//! observers, emits a `tracing` span per delivery and an event per attempt,
//! and counts into [`Metrics`] (the [`metrics`](mod@crate::metrics) facade); [`group_by_subscription`] splits a batch
//! into per-subscription lanes sorted by URL origin.
//!
//! A backend that delivers from one process keeps each subscription's
//! health there: [`Circuits`] (the breaker, and the pauses a receiver asks
//! for with 429 and `Retry-After`) and [`Pace`] (its rate limit, its cap
//! on attempts in flight, its turn when it asks for strict order).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> thorn_core::Result<()> {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use thorn_core::{Config, Delivery, EventName, Subscriber};
//! use thorn_http::{HttpClient, Verdict};
//!
//! let client = HttpClient::new(&Config::default())?;
//! let delivery = Delivery {
//!     id: uuid::Uuid::new_v4(),
//!     event: EventName::new("article.created")?,
//!     subscriber: Arc::new(Subscriber::builder("article.*", "https://example.com/hooks", "s3cret").build()?),
//!     body: Bytes::from_static(br#"{"id":1}"#),
//!     timeout: None,
//!     standard_webhooks: false,
//!     hmac_signer: thorn_core::Signer::Hmac,
//! };
//! let attempt = client.attempt(&delivery, 1).await;
//! println!("{:?} {:?} {:?}", attempt.verdict, attempt.status, attempt.error);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod attempt;
pub mod circuits;
mod client;
mod lanes;
pub mod metrics;
mod outcome;
pub mod pace;
mod redirect;
mod resolver;
pub mod settings;
mod tls;

pub use crate::metrics::Metrics;
pub use attempt::{Attempt, Verdict, retry_after};
pub use circuits::Circuits;
pub use client::HttpClient;
pub use lanes::group_by_subscription;
pub use outcome::{AttemptRecorder, status_of};
pub use pace::{InFlight, Pace, Turn};
pub use settings::SETTINGS;
pub use tls::TrustedRoots;
