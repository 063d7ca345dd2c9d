//! Reading requests, every failure answered as a problem document: the
//! JSON body, the subscription id in the path, the list's query.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::model::ListQuery;
use crate::problem::Problem;

/// A JSON body; a body that is not JSON of the expected shape, too large
/// or of another content type is a problem.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(body_problem(&rejection)),
        }
    }
}

fn body_problem(rejection: &JsonRejection) -> Problem {
    let status = rejection.status();
    let title = match rejection {
        JsonRejection::MissingJsonContentType(_) => "unsupported media type",
        JsonRejection::JsonDataError(_) => "invalid body",
        JsonRejection::JsonSyntaxError(_) => "malformed JSON",
        _ => "unreadable body",
    };
    Problem::new(status, title, rejection.body_text())
}

/// The subscription id of the path; one that is not a UUID names no
/// subscription: 404.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubscriptionId(pub(crate) Uuid);

impl<S: Send + Sync> FromRequestParts<S> for SubscriptionId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(text)) => Uuid::parse_str(&text)
                .map(SubscriptionId)
                .map_err(|_| Problem::not_found()),
            Err(_) => Err(Problem::not_found()),
        }
    }
}

/// The list's query, read by hand so that a bad value is a problem naming
/// its parameter.
impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let mut query = ListQuery::default();
        let text = parts.uri.query().unwrap_or_default();
        for (key, value) in form_urlencoded::parse(text.as_bytes()) {
            match key.as_ref() {
                "limit" => {
                    let limit = value.parse::<u32>().ok().filter(|n| (1..=100).contains(n));
                    query.limit = Some(limit.ok_or_else(|| {
                        Problem::bad_request(format!(
                            "limit {value:?} is not a whole number from 1 to 100"
                        ))
                        .field("limit")
                    })?);
                }
                "cursor" => query.cursor = Some(value.into_owned()),
                "event" => query.event = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(query)
    }
}
