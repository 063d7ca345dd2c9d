//! The schema's tables: the embedded migrations, and the SQL of each
//! statement with the schema's name in it.

use sqlx::PgPool;
use thorn_core::{Config, Result};

use crate::error::db;
use crate::settings::SCHEMA;

/// The migrations, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Makes the schema `THORN_PG_SCHEMA` (default `thorn`) and its tables, or
/// brings them up to date: the migrations not yet applied there run, each
/// in a transaction, under the migrator's lock. Safe to call from several
/// processes at once and at every start.
pub async fn migrate(pool: &PgPool, config: &Config) -> Result<()> {
    let schema = config.get(&SCHEMA)?;
    let mut conn = pool.acquire().await.map_err(db)?;
    sqlx::query(&format!(r#"CREATE SCHEMA IF NOT EXISTS "{schema}""#))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    sqlx::query(&format!(r#"SET search_path TO "{schema}""#))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    let ran = MIGRATOR.run_direct(&mut *conn).await;
    // The connection goes back to the pool as it came.
    let _ = sqlx::query("RESET search_path").execute(&mut *conn).await;
    ran.map_err(|e| db(sqlx::Error::Migrate(Box::new(e))))
}

/// `"schema".table`.
pub(crate) fn table(schema: &str, table: &str) -> String {
    format!(r#""{schema}".{table}"#)
}
