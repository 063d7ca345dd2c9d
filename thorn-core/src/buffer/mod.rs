//! Buffering: scopes that hold every send of one task until they end.
//!
//! A scope lives in a tokio task-local, so every `send` made by the task
//! inside it, however deep in the call tree, is held without passing a
//! handle. Scopes nest: only the outermost flushes when it ends. Events never
//! vanish: a scope dropped before it ends (cancelled) or a flush that fails
//! hands its events to the [`Thorn`](crate::Thorn) they belong to, which
//! delivers them on its next flush; a cancelled scope also starts that flush
//! in the background.

use std::time::Duration;

mod held;
mod rescue;
mod scope;

pub(crate) use held::Held;
pub(crate) use rescue::{InFlight, Rescue};
pub(crate) use scope::{flush_due, hold, is_open, run};

/// How a scope flushes before it ends; see
/// [`Thorn::maybe_flush`](crate::Thorn::maybe_flush).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BufferOptions {
    /// Flush after this many sends since the last flush.
    pub flush_freq: Option<usize>,
    /// Flush when this long has passed since the last flush.
    pub flush_timeout: Option<Duration>,
}

impl BufferOptions {
    /// Flush after every `n` sends.
    pub fn flush_freq(mut self, n: usize) -> Self {
        self.flush_freq = Some(n.max(1));
        self
    }

    /// Flush after `t` since the last flush.
    pub fn flush_timeout(mut self, t: Duration) -> Self {
        self.flush_timeout = Some(t);
        self
    }
}
