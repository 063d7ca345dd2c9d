//! Buffering: scopes that hold every send of one task until they end.
//!
//! A scope lives in a tokio task-local, so every `send` made by the task
//! inside it, however deep in the call tree, is held without passing a
//! handle. Scopes nest: only the outermost flushes when it ends. Events never
//! vanish: a scope dropped before it ends (cancelled) or a flush that fails
//! hands its events to the [`Thorn`](crate::Thorn) they belong to, which
//! delivers them on its next flush; a cancelled scope also starts that flush
//! in the background.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::delivery::{Batch, PreparedEvent};

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

/// Where events that could not be delivered in their scope go: the owning
/// Thorn's list of held events.
pub(crate) trait Rescue: Send + Sync {
    /// Keeps `events` for the next flush.
    fn hold(&self, events: Vec<PreparedEvent>);
    /// Keeps `events` and starts a flush in the background (their scope is
    /// gone, so nobody else would flush them soon).
    fn rescue(self: Arc<Self>, events: Vec<PreparedEvent>);
}

pub(crate) struct Frame {
    pub(crate) thorn: u64,
    pub(crate) depth: usize,
    pub(crate) events: Vec<PreparedEvent>,
    pub(crate) options: BufferOptions,
    pub(crate) sends: usize,
    pub(crate) last_flush: Instant,
    pub(crate) owner: Weak<dyn Rescue>,
}

impl Drop for Frame {
    fn drop(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.events);
        match self.owner.upgrade() {
            Some(owner) => owner.rescue(events),
            None => tracing::error!(
                events = events.len(),
                "thorn buffer dropped after its Thorn: its events cannot be delivered"
            ),
        }
    }
}

tokio::task_local! {
    pub(crate) static SCOPES: RefCell<Vec<Frame>>;
}

/// Runs `f` on the frame of Thorn `thorn` in this task, if any.
pub(crate) fn with_frame<R>(thorn: u64, f: impl FnOnce(&mut Frame) -> R) -> Option<R> {
    SCOPES
        .try_with(|s| {
            let mut s = s.borrow_mut();
            s.iter_mut().rev().find(|fr| fr.thorn == thorn).map(f)
        })
        .ok()
        .flatten()
}

/// A batch being flushed: if the flush future is dropped before it ends,
/// the events go back to their Thorn.
pub(crate) struct InFlight {
    pub(crate) batch: Batch,
    pub(crate) owner: Arc<dyn Rescue>,
    pub(crate) settled: bool,
}

impl InFlight {
    /// The flush failed: hand the events back at once.
    pub(crate) fn give_back(mut self) {
        self.settled = true;
        let events = std::mem::take(&mut self.batch.events);
        self.owner.hold(events);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.settled && !self.batch.events.is_empty() {
            let events = std::mem::take(&mut self.batch.events);
            Arc::clone(&self.owner).rescue(events);
        }
    }
}

/// Removes this scope's frame (or one nesting level of it) when the scope
/// ends, also when its future is dropped.
pub(crate) struct ScopeGuard {
    pub(crate) thorn: u64,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let _ = SCOPES.try_with(|s| {
            let removed = {
                let mut s = s.borrow_mut();
                match s.iter().rposition(|fr| fr.thorn == self.thorn) {
                    Some(i) if s[i].depth > 1 => {
                        s[i].depth -= 1;
                        None
                    }
                    Some(i) => Some(s.remove(i)),
                    None => None,
                }
            };
            // Dropped outside the borrow: a rescue may look at the scopes.
            drop(removed);
        });
    }
}
