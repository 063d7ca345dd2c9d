//! The routes of the subscriptions API.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use thorn_core::{Event, Subscriber};
use uuid::Uuid;

use super::Api;
use super::extract::{JsonBody, SubscriptionId};
use super::input;
use super::model::{
    CreateSubscription, CreatedSubscription, ListQuery, RotatedSecret, SubscriptionPage,
    SubscriptionView, TestOutcome, UpdateSubscription,
};
use crate::owner::Owner;
use crate::problem::Problem;

/// Results of the routes.
type Answer<T> = Result<T, Problem>;

/// The caller's subscription `id`; another owner's is as absent as one
/// that does not exist.
async fn owned(api: &Api, owner: &Owner, id: Uuid) -> Answer<Arc<Subscriber>> {
    let sub = api
        .thorn
        .store()
        .get(id)
        .await
        .map_err(|e| Problem::unavailable(&e))?;
    sub.filter(|s| s.owner.as_deref() == Some(owner.id()))
        .ok_or_else(Problem::not_found)
}

/// The caller's subscriptions, by id, a page at a time.
#[utoipa::path(
    get,
    path = "/",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the caller's subscriptions", body = SubscriptionPage),
        (status = 400, description = "A bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No owner", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be reached", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "subscriptions"
)]
pub(crate) async fn list(
    State(api): State<Arc<Api>>,
    owner: Owner,
    query: ListQuery,
) -> Answer<Json<SubscriptionPage>> {
    let event = query.event.as_deref().map(input::event_name).transpose()?;
    let mut subs = api
        .thorn
        .store()
        .by_owner(owner.id())
        .await
        .map_err(|e| Problem::unavailable(&e))?;
    subs.retain(|s| event.as_ref().is_none_or(|e| s.pattern.matches(e)));
    subs.sort_by_key(|s| s.id);
    let after = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(Uuid::parse_str(text).map_err(|_| {
            Problem::bad_request("cursor is not one this API gave").field("cursor")
        })?),
    };
    let start = after.map_or(0, |a| subs.partition_point(|s| s.id <= a));
    let limit = query.limit.unwrap_or(50) as usize;
    let page: Vec<_> = subs[start..].iter().take(limit).collect();
    let next_cursor = (start + page.len() < subs.len())
        .then(|| page.last().map(|s| s.id.to_string()))
        .flatten();
    Ok(Json(SubscriptionPage {
        items: page.into_iter().map(|s| SubscriptionView::of(s)).collect(),
        next_cursor,
    }))
}

/// Creates a subscription for the caller; the answer holds its secret,
/// which is never shown again.
#[utoipa::path(
    post,
    path = "/",
    request_body = CreateSubscription,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedSubscription),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No owner", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The caller has as many subscriptions as allowed, or the id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field's value is refused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be reached", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "subscriptions"
)]
pub(crate) async fn create(
    State(api): State<Arc<Api>>,
    owner: Owner,
    JsonBody(body): JsonBody<CreateSubscription>,
) -> Answer<(StatusCode, Json<CreatedSubscription>)> {
    let (sub, secret) = input::create(api.thorn.config(), &owner, body)?;
    // The limit is checked in the store's step that adds, so concurrent
    // creations cannot pass it together.
    let stored = api
        .thorn
        .store()
        .create(sub, Some(api.max_per_owner))
        .await
        .map_err(|e| Problem::store(&e))?;
    let view = SubscriptionView::of(&stored);
    Ok((
        StatusCode::CREATED,
        Json(CreatedSubscription {
            subscription: view,
            secret: secret.expose().to_owned(),
        }),
    ))
}

/// One of the caller's subscriptions.
#[utoipa::path(
    get,
    path = "/{id}",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        (status = 401, description = "No owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be reached", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "subscriptions"
)]
pub(crate) async fn show(
    State(api): State<Arc<Api>>,
    owner: Owner,
    SubscriptionId(id): SubscriptionId,
) -> Answer<Json<SubscriptionView>> {
    let sub = owned(&api, &owner, id).await?;
    Ok(Json(SubscriptionView::of(&sub)))
}

/// Changes a subscription's URL, event pattern, content type, state or limits
/// (`rate_limit`, `max_in_flight`, `ordered`; null removes a limit).
#[utoipa::path(
    patch,
    path = "/{id}",
    params(("id" = String, Path, description = "The subscription's id")),
    request_body = UpdateSubscription,
    responses(
        (status = 200, description = "The changed subscription", body = SubscriptionView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subscription changed (or went) while the request was served; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field's value is refused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be reached", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "subscriptions"
)]
pub(crate) async fn update(
    State(api): State<Arc<Api>>,
    owner: Owner,
    SubscriptionId(id): SubscriptionId,
    JsonBody(changes): JsonBody<UpdateSubscription>,
) -> Answer<Json<SubscriptionView>> {
    let sub = owned(&api, &owner, id).await?;
    let next = input::update(api.thorn.config(), &sub, changes)?;
    // Written only while the subscription is as read: a change made
    // meanwhile (or a removal) is a 409, never overwritten.
    let stored = api
        .thorn
        .store()
        .update(next)
        .await
        .map_err(|e| Problem::store(&e))?;
    Ok(Json(SubscriptionView::of(&stored)))
}

/// Removes a subscription.
#[utoipa::path(
    delete,
    path = "/{id}",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be reached", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "subscriptions"
)]
pub(crate) async fn remove(
    State(api): State<Arc<Api>>,
    owner: Owner,
    SubscriptionId(id): SubscriptionId,
) -> Answer<StatusCode> {
    owned(&api, &owner, id).await?;
    api.thorn
        .store()
        .remove(id)
        .await
        .map_err(|e| Problem::unavailable(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a subscription a new secret, shown this once; the old one keeps
/// signing (in `webhook-signature`) for the grace period.
#[utoipa::path(
    post,
    path = "/{id}/rotate-secret",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The new secret, shown this once", body = RotatedSecret),
        (status = 401, description = "No owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subscription changed (or went) while the request was served; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be reached", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "subscriptions"
)]
pub(crate) async fn rotate(
    State(api): State<Arc<Api>>,
    owner: Owner,
    SubscriptionId(id): SubscriptionId,
) -> Answer<Json<RotatedSecret>> {
    let sub = owned(&api, &owner, id).await?;
    let until = SystemTime::now() + api.grace;
    let (next, secret) = input::rotate(&sub, until);
    let valid_until = next.previous_until.unwrap_or_default();
    api.thorn
        .store()
        .update(next)
        .await
        .map_err(|e| Problem::store(&e))?;
    Ok(Json(RotatedSecret {
        id,
        secret: secret.expose().to_owned(),
        previous_secret_valid_until: valid_until,
    }))
}

/// Sends a `thorn.ping` event to this subscription now and says what
/// happened.
#[utoipa::path(
    post,
    path = "/{id}/test",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "What the test delivery did", body = TestOutcome),
        (status = 401, description = "No owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store or the backend cannot be reached", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "subscriptions"
)]
pub(crate) async fn test(
    State(api): State<Arc<Api>>,
    owner: Owner,
    SubscriptionId(id): SubscriptionId,
) -> Answer<Json<TestOutcome>> {
    let sub = owned(&api, &owner, id).await?;
    let data = json!({"subscription": id, "test": true});
    let event = Event::new(PING, data)
        .map_err(|e| Problem::unavailable(&e))?
        .only_to(sub);
    let report = api
        .thorn
        .send(event)
        .await
        .map_err(|e| Problem::unavailable(&e))?;
    let Some(o) = report.outcomes.into_iter().next() else {
        return Err(Problem::not_found());
    };
    // Without an HTTP answer, the detail (a refusal naming the address a
    // name resolved to, a DNS error) would tell a caller which internal
    // names exist and where they point: the operator's log keeps it.
    let error = match (&o.error, o.http_status) {
        (Some(detail), None) => {
            tracing::warn!(subscription = %id, error = %detail, "a test delivery reached no receiver");
            Some(if o.status == thorn_core::Status::TimedOut {
                "the target did not answer in time".to_owned()
            } else {
                "the target is not allowed or not reachable".to_owned()
            })
        }
        _ => o.error,
    };
    Ok(Json(TestOutcome {
        delivery: o.delivery,
        status: status_name(o.status),
        http_status: o.http_status,
        attempts: o.attempts,
        duration_ms: u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX),
        error,
    }))
}

/// The event a test sends.
pub const PING: &str = "thorn.ping";

fn status_name(status: thorn_core::Status) -> String {
    let debug = format!("{status:?}");
    let mut out = String::with_capacity(debug.len() + 2);
    for (i, c) in debug.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
