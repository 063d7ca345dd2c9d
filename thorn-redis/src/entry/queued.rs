//! What a worker reads from the queue: a delivery and the attempts
//! already made on it.

use thorn_core::Delivery;

/// A delivery read from the queue, with the attempts already made.
#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    /// The delivery, as the producer prepared it.
    pub delivery: Delivery,
    /// Attempts made before this one (0 for a fresh delivery).
    pub attempts: u32,
    /// Whether its rate-limit slot was taken before it was queued again
    /// (it waited for the slot in the retry set): it goes without taking
    /// another.
    pub paced: bool,
}
