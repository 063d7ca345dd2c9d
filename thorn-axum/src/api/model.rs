//! What the subscriptions API reads and writes, with the schemas of its
//! OpenAPI document.

use serde::{Deserialize, Serialize};
use thorn_core::Subscriber;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A subscription as its owner sees it: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// Its id, sent as `Hook-Subscription`.
    pub id: Uuid,
    /// The events it receives: a pattern such as `order.*`.
    pub event: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The body's encoding.
    #[schema(example = "application/json")]
    pub content_type: String,
    /// The `Hook-HMAC` digest: `sha1`, `sha256` or `sha512`.
    pub digest: String,
    /// The `Hook-HMAC` scheme: `hmac`, `compat`, or none (the server's
    /// default).
    pub signer: Option<String>,
    /// Whether the Standard Webhooks headers are sent too.
    pub standard_webhooks: bool,
    /// Whether it receives events.
    pub enabled: bool,
    /// Until when (Unix seconds) a rotated-out secret still signs.
    pub previous_secret_valid_until: Option<i64>,
}

impl SubscriptionView {
    pub(crate) fn of(sub: &Subscriber) -> Self {
        SubscriptionView {
            id: sub.id,
            event: sub.pattern.as_str().to_owned(),
            url: sub.url.to_string(),
            content_type: sub.content_type.as_str().to_owned(),
            digest: sub.digest.as_str().to_owned(),
            signer: sub.signer.map(|s| s.as_str().to_owned()),
            standard_webhooks: sub.signatures.standard(),
            enabled: sub.enabled,
            previous_secret_valid_until: (!sub.previous_secrets.is_empty())
                .then_some(sub.previous_until)
                .flatten(),
        }
    }
}

/// A new subscription and, this once, its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedSubscription {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// The secret deliveries are signed with; shown only in this answer.
    pub secret: String,
}

/// A new secret and, this once, its value.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The subscription.
    pub id: Uuid,
    /// The new secret; shown only in this answer.
    pub secret: String,
    /// Until when (Unix seconds) the old secret keeps signing.
    pub previous_secret_valid_until: i64,
}

/// One page of the caller's subscriptions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionPage {
    /// The subscriptions, by id.
    pub items: Vec<SubscriptionView>,
    /// The `cursor` of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// What a test delivery did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestOutcome {
    /// The delivery's id (`Hook-Delivery`).
    pub delivery: Uuid,
    /// `delivered`, `failed`, `timed_out`, `gone`, `queued`, …
    pub status: String,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Attempts made.
    pub attempts: u32,
    /// Time spent, in milliseconds.
    pub duration_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// The fields of a new subscription.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    /// The events it receives: dot-separated segments, `*` for one
    /// segment, a trailing `*` for one or more.
    #[schema(example = "order.*")]
    pub event: String,
    /// Where to POST them (checked against the recipient policy).
    #[schema(example = "https://hooks.example.com/orders")]
    pub url: String,
    /// `application/json` (default) or `application/x-www-form-urlencoded`.
    pub content_type: Option<String>,
    /// `sha256` (default), `sha1` or `sha512`.
    pub digest: Option<String>,
    /// `hmac` or `compat` (Python Thorn's); default: the server's.
    pub signer: Option<String>,
    /// Send the Standard Webhooks headers too.
    pub standard_webhooks: Option<bool>,
    /// The secret; a new random one when absent.
    pub secret: Option<String>,
}

/// The fields of a subscription that can change; those absent stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    /// A new URL.
    pub url: Option<String>,
    /// A new event pattern.
    pub event: Option<String>,
    /// A new content type.
    pub content_type: Option<String>,
    /// Turned on or off.
    pub enabled: Option<bool>,
}

/// The query of `GET /`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many (1 to 100; default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Where to go on from: `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only subscriptions that receive this event name.
    pub event: Option<String>,
}
