//! A webhook receiver in axum: `POST /hooks` verifies `Hook-HMAC` (plain
//! HMAC or Python Thorn's scheme) and the Standard Webhooks headers,
//! refuses stale and replayed deliveries, and answers `202 Accepted` as soon
//! as the delivery is handed to a worker, before it is processed.
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
//! - `401` (`application/problem+json`): a signature does not verify, a
//!   signature header is missing, the Standard Webhooks timestamp is more
//!   than five minutes from now, or `Hook-Delivery` differs from the signed
//!   `webhook-id`. `400`: a signed delivery without `Hook-Delivery` or
//!   `Hook-Event`.
//! - `503` with `Retry-After: 1`: the work queue is full; the id is not
//!   kept, so the sender's retry is taken.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use tokio::sync::mpsc;

pub mod problem;
pub mod seen;
pub mod settings;
pub mod verify;

pub use problem::Problem;
pub use seen::Seen;
pub use settings::{Settings, SettingsError, StandardHeaders};
pub use verify::{Rejection, Verified, verify};

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
#[derive(Debug)]
struct Receiver {
    settings: Settings,
    seen: Mutex<Seen>,
    work: mpsc::Sender<Received>,
}

/// Locks, also after a panic elsewhere: every change under the lock is
/// whole, so none is left half-made.
fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

/// The receiver's routes: `POST` [`PATH`], verified with `settings`;
/// accepted deliveries go to `work`.
pub fn router(settings: Settings, work: mpsc::Sender<Received>) -> Router {
    let receiver = Receiver {
        settings,
        seen: Mutex::new(Seen::default()),
        work,
    };
    Router::new()
        .route(PATH, post(receive))
        .with_state(Arc::new(receiver))
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    // Verified before the id is taken, so that forged requests cannot use
    // up ids that real deliveries will carry.
    let verified = verify(&receiver.settings, &headers, &body, SystemTime::now())
        .map_err(|e| Problem::new(e.status(), e.title(), e.to_string()))?;
    let Verified { id, event } = verified;
    if !lock(&receiver.seen).take(&id) {
        let answer = serde_json::json!({"id": id, "status": "duplicate"});
        return Ok((StatusCode::OK, Json(answer)).into_response());
    }
    let received = Received {
        id: id.clone(),
        event,
        body,
    };
    // Handed over without waiting: the sender's time-out runs while the
    // receiver works, so the answer must not wait for the work.
    if receiver.work.try_send(received).is_err() {
        lock(&receiver.seen).give_back(&id);
        return Err(Problem {
            retry_after: Some(1),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the work queue is full or closed; retry later",
            )
        });
    }
    let answer = serde_json::json!({"id": id, "status": "accepted"});
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}
