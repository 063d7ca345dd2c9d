//! Thorn webhooks over HTTP, with axum.
//!
//! - [`subscriptions`]: the REST API through which receivers subscribe
//!   themselves (`GET/POST /`, `GET/PATCH/DELETE /{id}`,
//!   `POST /{id}/rotate-secret`, `POST /{id}/test`), scoped to the caller's
//!   [`Owner`], validating at the door, with its OpenAPI 3.1 document at
//!   `/openapi.json`.
//! - [`Verified`]: an extractor for applications that receive webhooks:
//!   the signatures checked, stale and replayed deliveries refused, the
//!   payload deserialised.
//!
//! Errors are `application/problem+json` ([`Problem`]).
#![forbid(unsafe_code)]

/// The axum this crate is built on, for applications that name its types
/// through Thorn.
pub use axum;

pub mod api;
pub mod owner;
pub mod problem;
pub mod settings;
pub mod verified;

pub use api::{openapi, subscriptions};
pub use owner::Owner;
pub use problem::Problem;
pub use settings::SETTINGS;
pub use verified::{
    KeyLookup, MemoryReplayCache, Rejection, ReplayCache, Verified, WebhookReceiver,
};
