//! `POST /orders` writes an order and its `order.created` event in one
//! PostgreSQL transaction: the event exists exactly when the order does. A
//! relay hands committed events to the backend `THORN_DISPATCHER` names
//! (`redis`: workers deliver them).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use thorn::postgres::Outbox;
//! let config = thorn::Config::from_env()?;
//! let pool = thorn::postgres::connect(&config).await?;
//! outbox::prepare(&pool, &config).await?;
//! let app: axum::Router = outbox::app(pool, Outbox::new(&config)?);
//! # let _ = app; Ok(()) }
//! ```

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use thorn::Event;
use thorn::postgres::Outbox;
use thorn::postgres::sqlx::{self, PgPool};

/// What `POST /orders` takes.
#[derive(Debug, Deserialize)]
pub struct NewOrder {
    /// What was ordered.
    pub item: String,
    /// How many.
    pub quantity: u32,
}

#[derive(Clone)]
struct Shop {
    pool: PgPool,
    outbox: Outbox,
}

/// Thorn's tables and the shop's own `orders` table.
pub async fn prepare(pool: &PgPool, config: &thorn::Config) -> Result<(), thorn::Error> {
    thorn::postgres::migrate(pool, config).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, item text NOT NULL, quantity integer NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// The routes: `POST /orders`.
pub fn app(pool: PgPool, outbox: Outbox) -> Router {
    Router::new()
        .route("/orders", post(create))
        .with_state(Shop { pool, outbox })
}

async fn create(
    State(shop): State<Shop>,
    Json(order): Json<NewOrder>,
) -> (StatusCode, Json<Value>) {
    match write(&shop, &order).await {
        Ok(Some(id)) => (StatusCode::CREATED, Json(json!({"id": id}))),
        Ok(None) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "quantity must be at least 1; nothing was written"})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        ),
    }
}

/// The order and its event in one transaction; `None` (and nothing
/// written, the event neither) when the order is refused.
async fn write(shop: &Shop, order: &NewOrder) -> Result<Option<i64>, thorn::Error> {
    let mut tx = shop.pool.begin().await.map_err(store_error)?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO orders (item, quantity) VALUES ($1, $2) RETURNING id")
            .bind(&order.item)
            .bind(i32::try_from(order.quantity).unwrap_or(i32::MAX))
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
    let event = Event::new(
        "order.created",
        json!({"id": id, "item": order.item, "quantity": order.quantity}),
    )?;
    shop.outbox.send(&mut *tx, &event).await?;
    // A rule checked after the writes: the rollback takes the event too.
    if order.quantity == 0 {
        tx.rollback().await.map_err(store_error)?;
        return Ok(None);
    }
    tx.commit().await.map_err(store_error)?;
    Ok(Some(id))
}

fn store_error(e: sqlx::Error) -> thorn::Error {
    thorn::Error::Store {
        retryable: true,
        source: e.into(),
    }
}
