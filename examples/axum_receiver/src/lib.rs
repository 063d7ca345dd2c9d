//! A webhook receiver in axum: `POST /hooks` takes a
//! [`thorn::axum::Verified`] delivery (`Hook-HMAC`, plain HMAC or Python
//! Thorn's scheme, and the Standard Webhooks headers checked; stale and
//! replayed deliveries refused) and answers `202 Accepted` as soon as it is
//! handed to a worker, before it is processed.
//!
//! ```
//! use axum_receiver::{Settings, router};
//!
//! let settings = Settings::new(thorn::Secret::new("s3cret").unwrap());
//! let (work, mut processing) = tokio::sync::mpsc::channel(axum_receiver::WORK_QUEUE);
//! let app: axum::Router = router(settings, work);
//! // Serve `app`; a task takes each `Received` from `processing`.
//! # let _ = (app, processing.try_recv());
//! ```
//!
//! Answers:
//!
//! - `202 Accepted`: verified and handed over for processing.
//! - `200 OK` with `"status": "duplicate"`: a delivery id already taken, not
//!   processed again. Not 409: Thorn sends every attempt of a delivery with
//!   the same id, so a retry after a lost answer must read as success, and
//!   a 409 would make the sender report a processed delivery as failed.
//! - `401` (`application/problem+json`, the same for every cause, so that
//!   it tells an attacker nothing): a signature does not verify, the
//!   Standard Webhooks timestamp is more than five minutes from now, a
//!   signature header is missing, or `Hook-Delivery` differs from the
//!   signed `webhook-id`. `400`: the delivery id is missing, or the body is
//!   not JSON.
//! - `503` with `Retry-After: 1`: the work queue is full; the id is not
//!   kept, so the sender's retry is taken.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use thorn::axum::{Problem, Verified, WebhookReceiver};
use tokio::sync::mpsc;

pub mod settings;

pub use settings::{Settings, SettingsError, StandardHeaders};

/// The path deliveries are posted to.
pub const PATH: &str = "/hooks";

/// How many verified deliveries may wait for processing; past that the
/// receiver answers 503 and the sender retries later.
pub const WORK_QUEUE: usize = 1024;

/// A verified delivery, handed over for processing.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its id (`webhook-id`, or `Hook-Delivery` without one).
    pub id: String,
    /// The event's name.
    pub event: String,
    /// The body, as signed.
    pub body: Bytes,
}

/// What the handler shares.
#[derive(Debug, Clone)]
struct Receiver {
    checks: WebhookReceiver,
    work: mpsc::Sender<Received>,
}

impl FromRef<Receiver> for WebhookReceiver {
    fn from_ref(receiver: &Receiver) -> Self {
        receiver.checks.clone()
    }
}

/// The receiver's routes: `POST` [`PATH`], verified as `settings` say;
/// accepted deliveries go to `work`.
pub fn router(settings: Settings, work: mpsc::Sender<Received>) -> Router {
    let receiver = Receiver {
        checks: settings.checks(),
        work,
    };
    Router::new()
        .route(PATH, post(receive))
        .with_state(receiver)
}

async fn receive(
    State(receiver): State<Receiver>,
    hook: Verified<serde_json::Value>,
) -> Result<Response, Problem> {
    let id = hook.delivery;
    let received = Received {
        id: id.clone(),
        event: hook.event,
        body: hook.body,
    };
    // Handed over without waiting: the sender's time-out runs while the
    // receiver works, so the answer must not wait for the work.
    if receiver.work.try_send(received).is_err() {
        // Not kept: the sender's retry must be taken.
        receiver.checks.forget(&id);
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the work queue is full or closed; retry later",
        ));
    }
    let answer = serde_json::json!({"id": id, "status": "accepted"});
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}
