//! The `PgStore` rows: matching with 100 and with 100,000 subscriptions in
//! PostgreSQL. Matching never queries the database (each process keeps an
//! in-memory index), so both should cost the same.

use std::time::Instant;

use thorn::postgres::PgStore;
use thorn::{Config, EventName, SubscriberStore};

/// Matches per row.
const MATCHES: usize = 200_000;

/// Loads `counts` subscriptions in turn (each in a fresh table) and times
/// `MATCHES` matches of an event one of them receives.
pub(crate) async fn store_rows(pool: &sqlx::PgPool, config: &Config) {
    let event = EventName::new("bench.item.7").unwrap();
    for count in [100_usize, 100_000] {
        sqlx::query("DELETE FROM thorn.subscriptions")
            .execute(pool)
            .await
            .unwrap();
        // One subscription to `bench.item.7`, the rest to other names.
        sqlx::query(
            "INSERT INTO thorn.subscriptions (id, pattern, url, secret) \
             SELECT gen_random_uuid(), 'bench.item.' || n, 'https://example.com/' || n, 'k' \
             FROM generate_series(0, $1 - 1) AS n",
        )
        .bind(i64::try_from(count).unwrap())
        .execute(pool)
        .await
        .unwrap();
        let loading = Instant::now();
        let store = PgStore::new(pool.clone(), config).await.unwrap();
        let loaded = loading.elapsed();
        let started = Instant::now();
        let mut found = 0;
        for _ in 0..MATCHES {
            found += store.matching(&event, None).await.unwrap().len();
        }
        let elapsed = started.elapsed();
        println!(
            "pg store match  {count:>7} subscriptions: {:>6.0} ns per match ({} found each; loaded in {:.2} s)",
            elapsed.as_nanos() as f64 / MATCHES as f64,
            found / MATCHES,
            loaded.as_secs_f64()
        );
    }
    sqlx::query("DELETE FROM thorn.subscriptions")
        .execute(pool)
        .await
        .unwrap();
}
