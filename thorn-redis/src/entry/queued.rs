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
}
