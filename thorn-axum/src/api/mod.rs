//! The subscriptions API: the REST resource `/` and `/{id}`, scoped to the
//! caller's [`Owner`](crate::Owner), with its OpenAPI document at
//! `/openapi.json`.

mod extract;
mod handlers;
mod input;
pub mod model;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use thorn_core::{Result, Thorn};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use handlers::PING;

use crate::settings::{MAX_SUBSCRIPTIONS_PER_OWNER, ROTATION_GRACE};

/// The largest request body the API reads.
pub const BODY_LIMIT: usize = 16 * 1024;

/// What the routes share.
#[derive(Debug)]
pub(crate) struct Api {
    pub(crate) thorn: Thorn,
    pub(crate) grace: Duration,
    pub(crate) max_per_owner: usize,
}

/// The subscriptions API over `thorn`'s store, to nest wherever the
/// application wants it. Its settings (`THORN_ROTATION_GRACE`,
/// `THORN_MAX_SUBSCRIPTIONS_PER_OWNER`) and the recipient policy URLs are
/// checked against come from `thorn`'s config; `POST /{id}/test` sends
/// through `thorn`'s backend.
///
/// ```no_run
/// # fn app(thorn: thorn_core::Thorn) -> thorn_core::Result<axum::Router> {
/// let app = axum::Router::new().nest("/hooks", thorn_axum::subscriptions(thorn)?);
/// // Put the application's authentication in front: it inserts an `Owner`.
/// # Ok(app) }
/// ```
pub fn subscriptions(thorn: Thorn) -> Result<Router> {
    let (router, document) = parts(thorn)?;
    let document = Arc::new(document);
    Ok(router.route(
        "/openapi.json",
        get(move || {
            let document = Arc::clone(&document);
            async move { axum::Json(document.as_ref().clone()) }
        }),
    ))
}

/// The OpenAPI 3.1 document of the subscriptions API, made from its
/// routes.
pub fn openapi() -> OpenApi {
    router().split_for_parts().1
}

fn router() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::with_openapi(document_head())
        .routes(routes!(handlers::list, handlers::create))
        .routes(routes!(handlers::show, handlers::update, handlers::remove))
        .routes(routes!(handlers::rotate))
        .routes(routes!(handlers::test))
}

fn parts(thorn: Thorn) -> Result<(Router, OpenApi)> {
    let config = thorn.config();
    let api = Api {
        grace: config.get(&ROTATION_GRACE)?,
        max_per_owner: config.get(&MAX_SUBSCRIPTIONS_PER_OWNER)?,
        thorn,
    };
    let (router, document) = router().split_for_parts();
    let router = router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::new(api));
    Ok((router, document))
}

fn document_head() -> OpenApi {
    use utoipa::openapi::{InfoBuilder, OpenApiBuilder};
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Thorn subscriptions")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Webhook subscriptions of the caller: create, list, change, remove, rotate secrets, test. Errors are application/problem+json (RFC 9457).",
                ))
                .build(),
        )
        .build()
}
