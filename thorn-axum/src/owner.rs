//! Who the caller is: the application's authentication says so by putting
//! an [`Owner`] in the request's extensions.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::problem::Problem;

/// The owner of the subscriptions a request may see and change.
///
/// The subscriptions API reads it from the request's extensions, where the
/// application's own authentication (session, JWT, API key) puts it, in a
/// middleware or a layer in front of the router. A request without one is
/// answered 401.
///
/// ```
/// use axum::{Router, extract::Request, middleware::{self, Next}, response::Response};
/// use thorn_axum::Owner;
///
/// async fn api_key(mut request: Request, next: Next) -> Response {
///     let key = request.headers().get("x-api-key").and_then(|v| v.to_str().ok());
///     if let Some(owner) = key.and_then(|k| k.strip_prefix("key-")) {
///         let owner = Owner::new(owner);
///         request.extensions_mut().insert(owner);
///     }
///     next.run(request).await
/// }
///
/// let app: Router = Router::new().layer(middleware::from_fn(api_key));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner(Arc<str>);

impl Owner {
    /// The owner `id`.
    pub fn new(id: impl AsRef<str>) -> Self {
        Owner(Arc::from(id.as_ref()))
    }

    /// The owner's id.
    pub fn id(&self) -> &str {
        &self.0
    }

    pub(crate) fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Owner {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        parts.extensions.get::<Owner>().cloned().ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this request carries no credentials the application accepts",
            )
        })
    }
}
