//! Stopping a worker from elsewhere.

use tokio_util::sync::CancellationToken;

/// Stops a [`Worker`](super::Worker): it stops reading, finishes the
/// entries in flight, settles them, and [`Worker::run`](super::Worker::run)
/// returns. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ShutdownHandle(pub(super) CancellationToken);

impl ShutdownHandle {
    /// Asks the worker to stop.
    pub fn shutdown(&self) {
        self.0.cancel();
    }

    /// Whether a stop was asked for.
    pub fn is_shutdown(&self) -> bool {
        self.0.is_cancelled()
    }
}
