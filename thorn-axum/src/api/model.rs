//! What the subscriptions API reads and writes, with the schemas of its
//! OpenAPI document.

use serde::{Deserialize, Serialize};
use thorn_core::limits::RateLimit;
use thorn_core::{ContentType, Digest, EventName, Pattern, Signer, Subscriber};
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The content types a request may name, and what each means. The
/// validation and the document are both made from this list.
pub(crate) const CONTENT_TYPES: [(&str, ContentType); 4] = [
    ("application/json", ContentType::Json),
    ("application/x-www-form-urlencoded", ContentType::Form),
    ("json", ContentType::Json),
    ("form", ContentType::Form),
];

/// The digests a request may name.
pub(crate) const DIGESTS: [(&str, Digest); 3] = [
    ("sha256", Digest::Sha256),
    ("sha1", Digest::Sha1),
    ("sha512", Digest::Sha512),
];

/// The `Hook-HMAC` schemes a request may name.
pub(crate) const SIGNERS: [(&str, Signer); 2] =
    [("hmac", Signer::Hmac), ("compat", Signer::Compat)];

/// The value of `text` in `table`, if it is one of its names.
pub(crate) fn named<T: Copy>(table: &[(&str, T)], text: &str) -> Option<T> {
    table
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, v)| *v)
}

/// The names of `table`, as an error lists them.
pub(crate) fn names<T>(table: &[(&str, T)]) -> String {
    table
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn one_of<T>(table: &[(&str, T)]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(table.iter().map(|(name, _)| *name)))
}

fn content_type_schema() -> ObjectBuilder {
    one_of(&CONTENT_TYPES).description(Some(
        "The body's encoding: application/json (default) or application/x-www-form-urlencoded.",
    ))
}

fn digest_schema() -> ObjectBuilder {
    one_of(&DIGESTS).description(Some(
        "The Hook-HMAC digest: sha256 (default), sha1 or sha512.",
    ))
}

fn signer_schema() -> ObjectBuilder {
    one_of(&SIGNERS).description(Some(
        "The Hook-HMAC scheme: hmac, or compat (Python Thorn's); default: the server's.",
    ))
}

/// An event pattern, as [`Pattern::new`] accepts it.
fn pattern_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(EventName::MAX_BYTES))
        .pattern(Some(Pattern::REGEX))
        .description(Some(
            "The events it receives: dot-separated segments, `*` for one segment, a trailing `*` for one or more.",
        ))
        .examples(["order.*"])
}

/// An event name, as [`EventName::new`] accepts it.
fn event_name_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(EventName::MAX_BYTES))
        .pattern(Some(EventName::REGEX))
        .description(Some("Only subscriptions that receive this event name."))
}

/// An absolute http or https URL.
fn url_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uri".into())))
        .min_length(Some(1))
        .pattern(Some("^[Hh][Tt][Tt][Pp][Ss]?://"))
        .description(Some(
            "Where deliveries are POSTed: an absolute http or https URL, checked against the recipient policy.",
        ))
        .examples(["https://hooks.example.com/orders"])
}

/// A count of a limit: a whole number from 1 to `u32::MAX`.
fn count_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(u32::MAX))
}

/// The cap on deliveries in flight, or null for none.
fn max_in_flight_schema() -> ObjectBuilder {
    count_schema()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .description(Some(
            "At most this many of its deliveries in flight at once, across every worker; null: no cap of its own.",
        ))
}

/// A field that may be given as `null`: `Some(None)`, where one left out
/// is `None` (with `#[serde(default)]`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A subscription's rate limit: at most `per_second` deliveries a second
/// on average, `burst` at once after a quiet spell, across every worker.
/// A delivery over the limit waits for its slot; it is never failed for
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct RateLimitView {
    /// Deliveries a second, on average.
    #[schema(schema_with = count_schema)]
    pub per_second: u32,
    /// How many may go at once after a quiet spell.
    #[schema(schema_with = count_schema)]
    pub burst: u32,
}

impl From<RateLimit> for RateLimitView {
    fn from(limit: RateLimit) -> Self {
        RateLimitView {
            per_second: limit.per_second,
            burst: limit.burst,
        }
    }
}

/// A rate limit as a request gives it: at most `per_second` deliveries a
/// second on average, `burst` at once after a quiet spell (as many as
/// `per_second` unless given), across every worker. A delivery over the
/// limit waits for its slot; it is never failed for it.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitInput {
    /// Deliveries a second, on average (at least 1).
    #[schema(schema_with = count_schema, required = true)]
    pub per_second: Option<i64>,
    /// How many may go at once after a quiet spell (at least 1; default:
    /// `per_second`).
    #[schema(schema_with = count_schema)]
    pub burst: Option<i64>,
}

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
    /// At most this many deliveries a second, across every worker; null:
    /// as fast as they come.
    pub rate_limit: Option<RateLimitView>,
    /// At most this many deliveries in flight at once, across every
    /// worker; null: no cap of its own.
    #[schema(schema_with = max_in_flight_schema)]
    pub max_in_flight: Option<u32>,
    /// Strict order: deliveries arrive in the order they were sent, and a
    /// failing one holds back the later ones of this subscription only.
    pub ordered: bool,
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
            rate_limit: sub.rate_limit.map(RateLimitView::from),
            max_in_flight: sub.max_in_flight,
            ordered: sub.ordered,
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
    #[schema(schema_with = pattern_schema)]
    pub event: String,
    /// Where to POST them (checked against the recipient policy).
    #[schema(schema_with = url_schema)]
    pub url: String,
    /// `application/json` (default) or `application/x-www-form-urlencoded`.
    #[schema(schema_with = content_type_schema)]
    pub content_type: Option<String>,
    /// `sha256` (default), `sha1` or `sha512`.
    #[schema(schema_with = digest_schema)]
    pub digest: Option<String>,
    /// `hmac` or `compat` (Python Thorn's); default: the server's.
    #[schema(schema_with = signer_schema)]
    pub signer: Option<String>,
    /// Send the Standard Webhooks headers too.
    pub standard_webhooks: Option<bool>,
    /// The secret; a new random one when absent.
    pub secret: Option<String>,
    /// A rate limit; none when absent or null.
    pub rate_limit: Option<RateLimitInput>,
    /// A cap on deliveries in flight (at least 1); none when absent or
    /// null.
    #[schema(schema_with = max_in_flight_schema)]
    pub max_in_flight: Option<i64>,
    /// Strict order (default false): deliveries arrive in the order they
    /// were sent, and a failing one holds back the later ones of this
    /// subscription only.
    pub ordered: Option<bool>,
}

/// The fields of a subscription that can change; those absent stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    /// A new URL.
    #[schema(schema_with = url_schema)]
    pub url: Option<String>,
    /// A new event pattern.
    #[schema(schema_with = pattern_schema)]
    pub event: Option<String>,
    /// A new content type.
    #[schema(schema_with = content_type_schema)]
    pub content_type: Option<String>,
    /// Turned on or off.
    pub enabled: Option<bool>,
    /// A new rate limit, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RateLimitInput>)]
    pub rate_limit: Option<Option<RateLimitInput>>,
    /// A new cap on deliveries in flight, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = max_in_flight_schema)]
    pub max_in_flight: Option<Option<i64>>,
    /// Strict order on or off.
    pub ordered: Option<bool>,
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
    #[param(schema_with = event_name_schema)]
    pub event: Option<String>,
}
