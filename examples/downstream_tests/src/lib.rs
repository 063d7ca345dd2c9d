//! An order service as a downstream project would write one: it tells
//! subscribers about orders through a [`Thorn`], sending `order.created`
//! and `order.cancelled` on behalf of the shop that owns the order, so
//! only that shop's subscriptions get them.
//!
//! The example is its tests, which use nothing of Thorn's but the `thorn`
//! crate with its `testkit` feature, turned on for the tests alone as a
//! downstream project's `Cargo.toml` would:
//!
//! ```toml
//! [dependencies]
//! thorn = "0.1"
//!
//! [dev-dependencies]
//! thorn = { version = "0.1", features = ["testkit"] }
//! ```
//!
//! - `tests/recording.rs`: the recording backend keeps every delivery,
//!   with no network: which events went to whom with what data, and an
//!   event the backend could not take, held until the next flush.
//! - `tests/receiver.rs`: a `MockReceiver` with expectations gets real,
//!   signed HTTP deliveries through the `"default"` backend.
//!
//! ```text
//! cargo test -p downstream-tests
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use thorn::{Event, Thorn};

/// The events the service sends.
pub mod events {
    /// An order was placed; data `{"id", "customer", "total_cents"}`.
    pub const CREATED: &str = "order.created";
    /// An order was cancelled; data `{"id", "reason"}`.
    pub const CANCELLED: &str = "order.cancelled";
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Order {
    /// Its number, from 1.
    pub id: u64,
    /// The shop it was placed with, which sends its events.
    pub shop: String,
    /// Who placed it.
    pub customer: String,
    /// What it costs, in cents.
    pub total_cents: u64,
    /// Whether it was cancelled.
    pub cancelled: bool,
}

/// What went wrong with an order.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrderError {
    /// There is no such order.
    #[error("no order {0}")]
    NotFound(u64),
    /// The order was cancelled before.
    #[error("order {0} is already cancelled")]
    AlreadyCancelled(u64),
    /// The change is saved, but its event was not sent. When
    /// `source.is_retryable()` (the backend's queue was unreachable), Thorn
    /// holds the event and its next flush sends it.
    #[error("order {order} is saved, but its {event} event was not sent: {source}")]
    Notify {
        /// The order.
        order: u64,
        /// The event's name.
        event: &'static str,
        /// Thorn's error.
        source: thorn::Error,
    },
}

/// The service: orders kept in memory, their events sent through Thorn.
#[derive(Debug)]
pub struct Orders {
    thorn: Thorn,
    orders: Mutex<HashMap<u64, Order>>,
    last_id: AtomicU64,
}

impl Orders {
    /// A service with no orders, sending through `thorn`.
    pub fn new(thorn: Thorn) -> Self {
        Orders { thorn, orders: Mutex::default(), last_id: AtomicU64::new(0) }
    }

    /// The `Thorn` it sends through.
    pub fn thorn(&self) -> &Thorn {
        &self.thorn
    }

    /// Places an order with `shop` and sends `order.created`.
    pub async fn place(
        &self,
        shop: &str,
        customer: &str,
        total_cents: u64,
    ) -> Result<Order, OrderError> {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        let order = Order {
            id,
            shop: shop.into(),
            customer: customer.into(),
            total_cents,
            cancelled: false,
        };
        self.orders().insert(id, order.clone());
        let data = json!({"id": id, "customer": customer, "total_cents": total_cents});
        self.notify(&order, events::CREATED, data).await?;
        Ok(order)
    }

    /// Cancels the order `id` and sends `order.cancelled`; an unknown or
    /// already cancelled order is an error, and sends nothing.
    pub async fn cancel(&self, id: u64, reason: &str) -> Result<Order, OrderError> {
        let order = {
            let mut orders = self.orders();
            let order = orders.get_mut(&id).ok_or(OrderError::NotFound(id))?;
            if order.cancelled {
                return Err(OrderError::AlreadyCancelled(id));
            }
            order.cancelled = true;
            order.clone()
        };
        self.notify(&order, events::CANCELLED, json!({"id": id, "reason": reason})).await?;
        Ok(order)
    }

    /// The order `id`.
    pub fn get(&self, id: u64) -> Option<Order> {
        self.orders().get(&id).cloned()
    }

    fn orders(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Order>> {
        // Every change under the lock is whole, so a panic elsewhere left
        // nothing half-made.
        self.orders.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn notify(
        &self,
        order: &Order,
        event: &'static str,
        data: serde_json::Value,
    ) -> Result<(), OrderError> {
        let failed = |source| OrderError::Notify { order: order.id, event, source };
        let event = Event::new(event, data).map_err(failed)?.sender(order.shop.as_str());
        // What became of each delivery is Thorn's to handle (retries, dead
        // letters, observers): an order does not fail because a subscriber
        // is down, so the report is not the caller's business.
        self.thorn.send(event).await.map_err(failed)?;
        Ok(())
    }
}
