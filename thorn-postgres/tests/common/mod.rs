//! A private PostgreSQL with Thorn's tables, and Thorns over it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use sqlx::PgPool;
use thorn::{Config, RecipientPolicy, Thorn};
use thorn_postgres::PgStore;
use thorn_testkit::postgres_server::PostgresServer;

/// A private server, its pool, and a config naming it (loopback receivers
/// allowed), the migrations applied.
pub async fn database(vars: &[(&str, &str)]) -> (PostgresServer, PgPool, Config) {
    let pg = PostgresServer::start()
        .await
        .expect("PostgreSQL starts (apt-get install postgresql)");
    let url = pg.url();
    let mut all = vec![("THORN_PG_URL", url.as_str())];
    all.extend_from_slice(vars);
    let mut config = Config::from_vars(all).unwrap();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    let pool = thorn_postgres::connect(&config).await.unwrap();
    thorn_postgres::migrate(&pool, &config).await.unwrap();
    (pg, pool, config)
}

/// A Thorn over a new `PgStore` of `pool`.
pub async fn thorn(pool: &PgPool, config: &Config) -> (Thorn, Arc<PgStore>) {
    let store = Arc::new(PgStore::new(pool.clone(), config).await.unwrap());
    let thorn = Thorn::builder()
        .config(config.clone())
        .store(store.clone())
        .build()
        .unwrap();
    (thorn, store)
}
