//! Thorn's subscriptions API in an axum app: mounted at `/hooks`, behind a
//! toy API-key check that says who the caller is.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use subscriptions_api::{ApiKeys, app};
//! let thorn = thorn::Thorn::from_env()?;
//! let keys = ApiKeys::parse("key-alice=alice,key-bob=bob")?;
//! let router: axum::Router = app(thorn, keys)?;
//! # let _ = router; Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use thorn::Thorn;
use thorn::axum::Owner;

/// Where the API is mounted.
pub const MOUNT: &str = "/hooks";

/// API keys and the owner each stands for: `Authorization: Bearer KEY`.
/// A toy: a real application checks its sessions, JWTs or hashed keys.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(Arc<HashMap<String, Owner>>);

impl ApiKeys {
    /// Reads `KEY=OWNER,KEY=OWNER`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, owner)) = pair.split_once('=') else {
                return Err(format!("{pair:?} is not KEY=OWNER"));
            };
            if key.len() < 8 {
                return Err(format!("the key of {owner:?} is shorter than 8 characters"));
            }
            keys.insert(key.to_owned(), Owner::new(owner));
        }
        if keys.is_empty() {
            return Err("no API key given; set KEY=OWNER pairs".into());
        }
        Ok(ApiKeys(Arc::new(keys)))
    }

    fn owner(&self, request: &Request) -> Option<Owner> {
        let value = request.headers().get("authorization")?.to_str().ok()?;
        let key = value.strip_prefix("Bearer ")?;
        self.0.get(key).cloned()
    }
}

/// The app: the subscriptions API at [`MOUNT`], each request's owner said
/// by its API key (none: the API answers 401).
pub fn app(thorn: Thorn, keys: ApiKeys) -> thorn::Result<Router> {
    async fn authenticate(
        State(keys): State<ApiKeys>,
        mut request: Request,
        next: Next,
    ) -> Response {
        if let Some(owner) = keys.owner(&request) {
            request.extensions_mut().insert(owner);
        }
        next.run(request).await
    }
    let api = thorn::axum::subscriptions(thorn)?;
    Ok(Router::new()
        .nest(MOUNT, api)
        .layer(middleware::from_fn_with_state(keys, authenticate)))
}
