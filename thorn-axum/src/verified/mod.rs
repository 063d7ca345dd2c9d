//! Receiving webhooks: [`Verified`] checks a delivery before the handler
//! sees it.

mod keys;
mod replay;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use thorn_core::delivery::headers;
use thorn_core::signing::{self, TIMESTAMP_TOLERANCE};
use thorn_core::{Digest, Secret, Signer};

pub use keys::KeyLookup;
pub use replay::{MemoryReplayCache, ReplayCache};

use crate::problem::Problem;

/// How a receiver checks deliveries: its keys, the replay cache, the
/// timestamp tolerance and the largest body. Put it in the router's state
/// (directly, or through [`FromRef`]) and take [`Verified`] in handlers.
///
/// ```
/// use axum::{Router, routing::post};
/// use thorn_axum::{Verified, WebhookReceiver};
///
/// #[derive(serde::Deserialize)]
/// struct Order { id: u64 }
///
/// async fn order_created(hook: Verified<Order>) -> &'static str {
///     println!("order {} ({})", hook.payload.id, hook.delivery);
///     "ok"
/// }
///
/// let receiver = WebhookReceiver::new(thorn_core::Secret::new("s3cret").unwrap());
/// let app: Router = Router::new().route("/hooks", post(order_created)).with_state(receiver);
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct WebhookReceiver {
    keys: Arc<dyn KeyLookup>,
    replays: Arc<dyn ReplayCache>,
    tolerance: Duration,
    max_body: usize,
    require_standard: bool,
    signer: Option<Signer>,
    digest: Option<Digest>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("tolerance", &self.tolerance)
            .field("max_body", &self.max_body)
            .field("require_standard", &self.require_standard)
            .finish_non_exhaustive()
    }
}

impl WebhookReceiver {
    /// Checks with `keys`: `Hook-HMAC` under either signer with SHA-256,
    /// the Standard Webhooks headers when sent, a tolerance of five
    /// minutes, bodies up to 1 MiB, replays remembered in memory.
    pub fn new(keys: impl KeyLookup) -> Self {
        WebhookReceiver {
            keys: Arc::new(keys),
            replays: Arc::new(MemoryReplayCache::default()),
            tolerance: TIMESTAMP_TOLERANCE,
            max_body: 1024 * 1024,
            require_standard: false,
            signer: None,
            digest: Some(Digest::Sha256),
        }
    }

    /// How far a `webhook-timestamp` may be from now, and how long a
    /// delivery id is remembered.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The largest body read; a larger one is refused with 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Refuses deliveries without the Standard Webhooks headers (their
    /// timestamp is what bounds a replay in time).
    pub fn require_standard_headers(mut self, required: bool) -> Self {
        self.require_standard = required;
        self
    }

    /// Only this `Hook-HMAC` scheme (default: either).
    pub fn signer(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Only this `Hook-HMAC` digest (default SHA-256); `None` tries each.
    pub fn digest(mut self, digest: Option<Digest>) -> Self {
        self.digest = digest;
        self
    }

    /// Another replay cache (say, one shared by several processes).
    pub fn replays(mut self, cache: impl ReplayCache) -> Self {
        self.replays = Arc::new(cache);
        self
    }

    /// Forgets the delivery `id`, for one that was verified but not kept
    /// (the receiver was too busy): the sender's retry is then taken.
    pub fn forget(&self, id: &str) {
        self.replays.forget(id);
    }

    /// Checks one delivery's headers and body at `now`; its id.
    pub fn check(
        &self,
        headers_in: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Checked, Rejection> {
        let c = self;
        let get = |name: &str| headers_in.get(name).and_then(|v| v.to_str().ok());
        let hook = get(headers::HOOK_HMAC);
        let standard = get(headers::WEBHOOK_SIGNATURE);
        if hook.is_none() && standard.is_none() || c.require_standard && standard.is_none() {
            return Err(untrusted().into());
        }
        let delivery = get(headers::HOOK_DELIVERY).or(get(headers::WEBHOOK_ID));
        let Some(delivery) = delivery else {
            return Err(malformed("the delivery id header is missing").into());
        };
        let subscription = get(headers::HOOK_SUBSCRIPTION);
        let keys = c.keys.keys(subscription);
        if keys.is_empty() {
            return Err(untrusted().into());
        }
        if let Some(value) = hook {
            if !self.hook_verifies(&keys, body, value) {
                return Err(untrusted().into());
            }
        }
        // Remembered until the delivery can no longer pass the timestamp
        // check: a timestamp ahead of now stays valid for longer than one
        // tolerance from now.
        let mut until = now + c.tolerance;
        if let Some(signature) = standard {
            let (Some(id), Some(ts)) = (get(headers::WEBHOOK_ID), get(headers::WEBHOOK_TIMESTAMP))
            else {
                return Err(malformed("the Standard Webhooks headers are incomplete").into());
            };
            let standard_keys: Vec<&[u8]> = keys.iter().map(Secret::standard_key).collect();
            signing::verify_standard_within(
                c.tolerance,
                &standard_keys,
                id,
                ts,
                signature,
                body,
                now,
            )
            .map_err(|_| Rejection::from(untrusted()))?;
            // The signed id is the one replays are caught by.
            if id != delivery {
                return Err(untrusted().into());
            }
            if let Some(signed) = ts
                .trim()
                .parse::<u64>()
                .ok()
                .and_then(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
            {
                until = until.max(signed + c.tolerance);
            }
        }
        if !c.replays.first_sighting(delivery, until, now) {
            return Err(Rejection::Duplicate(delivery.to_owned()));
        }
        Ok(Checked {
            delivery: delivery.to_owned(),
            event: get(headers::HOOK_EVENT).unwrap_or_default().to_owned(),
            subscription: subscription.map(str::to_owned),
        })
    }

    fn hook_verifies(&self, keys: &[Secret], body: &[u8], value: &str) -> bool {
        let signers: &[Signer] = match &self.signer {
            Some(one) => std::slice::from_ref(one),
            None => &[Signer::Hmac, Signer::Compat],
        };
        let digests: &[Digest] = match &self.digest {
            Some(one) => std::slice::from_ref(one),
            None => &[Digest::Sha256, Digest::Sha1, Digest::Sha512],
        };
        keys.iter().any(|key| {
            signers.iter().any(|signer| {
                digests
                    .iter()
                    .any(|d| signer.verify(key.hook_key(), *d, body, value).is_ok())
            })
        })
    }
}

/// What the checks found out about a delivery.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The delivery's id (`Hook-Delivery`, or the signed `webhook-id`).
    pub delivery: String,
    /// The event's name (`Hook-Event`).
    pub event: String,
    /// The subscription's id (`Hook-Subscription`), if sent.
    pub subscription: Option<String>,
}

/// Why [`Verified`] did not let a delivery through.
#[derive(Debug)]
pub enum Rejection {
    /// Refused: 400 (malformed) or 401 (not trusted), with a problem
    /// document that does not say which check failed.
    Refused(Problem),
    /// A delivery id seen within the tolerance: answered `200 OK` with
    /// `{"id": …, "status": "duplicate"}` and not handled again. Not an
    /// error: a sender repeats a delivery (same id) whose answer it lost,
    /// and must read the repeat as done.
    Duplicate(String),
}

impl From<Problem> for Rejection {
    fn from(problem: Problem) -> Self {
        Rejection::Refused(problem)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Refused(problem) => problem.into_response(),
            Rejection::Duplicate(id) => (
                StatusCode::OK,
                Json(serde_json::json!({"id": id, "status": "duplicate"})),
            )
                .into_response(),
        }
    }
}

/// A delivery whose signatures verified, fresh and not seen before, with
/// its payload deserialised from JSON. See [`Rejection`] for the others.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    /// The delivery's id.
    pub delivery: String,
    /// The event's name.
    pub event: String,
    /// The subscription's id, if sent.
    pub subscription: Option<String>,
    /// The body, deserialised.
    pub payload: T,
    /// The body as signed.
    pub body: Bytes,
}

impl<S, T> FromRequest<S> for Verified<T>
where
    S: Send + Sync,
    WebhookReceiver: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Rejection> {
        let receiver = WebhookReceiver::from_ref(state);
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, receiver.max_body)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too large",
                    format!("a delivery body is at most {} bytes", receiver.max_body),
                )
            })?;
        let checked = receiver.check(&parts.headers, &body, SystemTime::now())?;
        let payload = serde_json::from_slice(&body).map_err(|_| {
            // Not kept: the id may come again once the sender is fixed.
            receiver.forget(&checked.delivery);
            malformed("the body is not the JSON this receiver expects")
        })?;
        Ok(Verified {
            delivery: checked.delivery,
            event: checked.event,
            subscription: checked.subscription,
            payload,
            body,
        })
    }
}

fn malformed(detail: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "malformed delivery", detail)
}

/// One answer for every failed check, so that it tells an attacker
/// nothing about which one failed.
fn untrusted() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unverified delivery",
        "the delivery could not be verified",
    )
}
