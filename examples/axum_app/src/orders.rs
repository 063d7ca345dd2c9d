//! The application's records: orders, kept in memory in place of a
//! database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// An order as stored, and as sent in `order.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its id, given by the store.
    pub id: u64,
    /// What was ordered.
    pub item: String,
    /// How many.
    pub quantity: u32,
}

/// An order as posted, before it has an id.
#[derive(Debug, Clone, Deserialize)]
pub struct NewOrder {
    /// What is ordered: not blank.
    pub item: String,
    /// How many: at least one.
    pub quantity: u32,
}

impl NewOrder {
    /// What is wrong with it, if anything.
    pub fn problem(&self) -> Option<&'static str> {
        if self.item.trim().is_empty() {
            Some("item is blank")
        } else if self.quantity == 0 {
            Some("quantity is zero")
        } else {
            None
        }
    }
}

/// The orders. Cheap to clone; clones share the records.
#[derive(Debug, Clone, Default)]
pub struct Orders(Arc<Mutex<BTreeMap<u64, Order>>>);

impl Orders {
    /// Locks, also after a panic elsewhere: every change under the lock is
    /// one insert, so none is left half-made.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Order>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `new` under the next id.
    pub fn insert(&self, new: NewOrder) -> Order {
        let mut orders = self.lock();
        let id = orders.last_key_value().map_or(1, |(id, _)| id + 1);
        let order = Order {
            id,
            item: new.item,
            quantity: new.quantity,
        };
        orders.insert(id, order.clone());
        order
    }

    /// The order `id`, if written.
    pub fn get(&self, id: u64) -> Option<Order> {
        self.lock().get(&id).cloned()
    }

    /// How many orders there are.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
