//! Thorn webhooks in PostgreSQL, on `sqlx`:
//!
//! - [`PgStore`]: subscriptions in the application's database, matched in
//!   memory in each process and kept fresh by `LISTEN/NOTIFY`.
//! - [`Outbox`]: events written inside the application's own transaction
//!   (a rollback sends nothing, a commit is never lost), handed to any
//!   backend by [`Relay`]s.
//! - [`migrate`]: the embedded migrations, under `THORN_PG_SCHEMA`.
//!
//! Nothing here needs a database at build time.
#![forbid(unsafe_code)]

/// The `sqlx` this crate is built on, for applications that name its types
/// (a pool, a transaction) through Thorn.
pub use sqlx;

mod cipher;
mod error;
pub mod outbox;
mod schema;
pub mod settings;
pub mod store;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use thorn_core::{Config, Error, Result};

pub use outbox::{Outbox, Relay, RelayStats, Written};
pub use schema::migrate;
pub use settings::SETTINGS;
pub use store::PgStore;

/// A pool of connections to `THORN_PG_URL`; an unreachable database is an
/// error naming it (without its password).
pub async fn connect(config: &Config) -> Result<PgPool> {
    let url = config.get(&settings::URL)?;
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(config.event_timeout.max(std::time::Duration::from_secs(5)))
        .connect(&url)
        .await
        .map_err(|e| Error::Store {
            retryable: true,
            source: format!(
                "cannot connect to {} (THORN_PG_URL): {e}",
                thorn_core::config::redact_url(&url)
            )
            .into(),
        })
}
