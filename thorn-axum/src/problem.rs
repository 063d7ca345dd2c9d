//! Error answers as `application/problem+json` (RFC 9457), naming the
//! field that was wrong when there is one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the title says the kind of problem.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The kind of problem, the same for every occurrence.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// This occurrence: what exactly was wrong and what to do.
    pub detail: String,
    /// The request field that was wrong, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem with `status`, `title` and `detail`.
    pub fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank",
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    /// The same problem, naming the field that was wrong.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A value that does not pass the checks: 422, naming the field.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid value", detail).field(field)
    }

    /// A request that cannot be read: 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad request", detail)
    }

    /// No such resource for this caller: 404, whether it does not exist or
    /// belongs to someone else.
    pub fn not_found() -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not found",
            "no subscription with this id",
        )
    }

    /// A store's refusal or failure: 409 for a change that lost a race or
    /// met the owner's limit (nothing was changed), else
    /// [`unavailable`](Self::unavailable).
    pub fn store(error: &thorn_core::Error) -> Self {
        match error {
            thorn_core::Error::OwnerLimit { limit, .. } => Problem::new(
                StatusCode::CONFLICT,
                "limit reached",
                format!("an owner may have {limit} subscriptions; remove one first"),
            ),
            thorn_core::Error::Conflict { .. } => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "the subscription changed while this request was served, and nothing was \
                 changed; read it again and retry",
            ),
            other => Problem::unavailable(other),
        }
    }

    /// The store failed: 503, to be retried.
    pub fn unavailable(error: &thorn_core::Error) -> Self {
        tracing::warn!(%error, "the subscription store failed");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the subscription store cannot be reached; retry later",
        )
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_string(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
