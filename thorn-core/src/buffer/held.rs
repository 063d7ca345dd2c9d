//! The events a Thorn holds outside any scope (their flush failed, or their
//! scope was dropped), and the background flushes of dropped scopes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use super::scope::take_events;
use crate::delivery::PreparedEvent;

/// A Thorn's held events and background flushes.
#[derive(Default)]
pub(crate) struct Held {
    /// Events whose flush failed or whose scope was dropped, oldest first.
    events: Mutex<Vec<PreparedEvent>>,
    /// Background flushes of dropped scopes under way.
    background: AtomicUsize,
    /// Notified when the last background flush ends.
    background_done: Notify,
}

impl Held {
    fn events(&self) -> MutexGuard<'_, Vec<PreparedEvent>> {
        // Pushing and taking whole events cannot be left half-done.
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `events` for the next flush.
    pub(crate) fn hold(&self, events: Vec<PreparedEvent>) {
        tracing::warn!(
            events = events.len(),
            "thorn holds events for the next flush"
        );
        self.events().extend(events);
    }

    /// How many events are held.
    pub(crate) fn len(&self) -> usize {
        self.events().len()
    }

    /// Everything to flush, in send order: the events held, then those of
    /// this task's scope of Thorn `thorn`, if any (its count of sends and
    /// its time of the last flush start over).
    pub(crate) fn take_all(&self, thorn: u64) -> Vec<PreparedEvent> {
        let mut events = std::mem::take(&mut *self.events());
        if let Some(scoped) = take_events(thorn) {
            events.extend(scoped);
        }
        events
    }

    /// Counts a background flush as under way.
    pub(super) fn background_started(&self) {
        self.background.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a background flush as ended, waking the waiters after the last.
    pub(super) fn background_ended(&self) {
        if self.background.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.background_done.notify_waiters();
        }
    }

    /// Waits until no background flush is under way.
    pub(crate) async fn background_flushes(&self) {
        loop {
            // Made before the check, so an end between the two is seen.
            let done = self.background_done.notified();
            if self.background.load(Ordering::SeqCst) == 0 {
                break;
            }
            done.await;
        }
    }
}
