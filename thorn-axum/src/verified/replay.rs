//! Delivery ids already seen, to refuse replays.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Remembers delivery ids for a while. Pluggable: a receiver that runs in
/// several processes can back it with a shared store.
pub trait ReplayCache: Send + Sync + 'static {
    /// Records `id` as seen now; `false` when it was already seen within
    /// `window`.
    fn first_sighting(&self, id: &str, window: Duration) -> bool;

    /// Forgets `id`, for a delivery that was verified but not kept (the
    /// receiver was too busy): the sender's retry must pass.
    fn forget(&self, id: &str);
}

/// The ids of the last `window` in memory, at most `capacity` of them
/// (the oldest forgotten first).
#[derive(Debug)]
pub struct MemoryReplayCache {
    seen: Mutex<Seen>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Seen {
    at: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    fn forget_oldest(&mut self) {
        if let Some((when, old)) = self.order.pop_front() {
            if self.at.get(&old) == Some(&when) {
                self.at.remove(&old);
            }
        }
    }
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

impl MemoryReplayCache {
    /// Remembers at most `capacity` ids (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryReplayCache {
            seen: Mutex::new(Seen::default()),
            capacity: capacity.max(1),
        }
    }
}

impl ReplayCache for MemoryReplayCache {
    fn first_sighting(&self, id: &str, window: Duration) -> bool {
        self.sighting_at(id, window, Instant::now())
    }

    fn forget(&self, id: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.at.remove(id);
    }
}

impl MemoryReplayCache {
    /// [`ReplayCache::first_sighting`] at `now`.
    fn sighting_at(&self, id: &str, window: Duration, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // Forget what is out of the window.
        while let Some((when, _)) = seen.order.front() {
            if now.duration_since(*when) <= window {
                break;
            }
            seen.forget_oldest();
        }
        if seen.at.contains_key(id) {
            return false;
        }
        // Make room: the oldest goes first.
        while seen.order.len() >= self.capacity {
            seen.forget_oldest();
        }
        seen.at.insert(id.to_owned(), now);
        seen.order.push_back((now, id.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{MemoryReplayCache, ReplayCache};

    #[test]
    fn an_id_is_seen_once_within_the_window() {
        let cache = MemoryReplayCache::with_capacity(2);
        let window = Duration::from_secs(300);
        assert!(cache.first_sighting("a", window));
        assert!(!cache.first_sighting("a", window));
        assert!(cache.first_sighting("b", window));
        assert!(cache.first_sighting("c", window), "over capacity: a goes");
        assert!(cache.first_sighting("a", window));
        assert!(!cache.first_sighting("c", window));
    }

    #[test]
    fn a_forgotten_id_is_new_again() {
        let cache = MemoryReplayCache::default();
        let window = Duration::from_secs(300);
        assert!(cache.first_sighting("a", window));
        cache.forget("a");
        assert!(cache.first_sighting("a", window));
        assert!(!cache.first_sighting("a", window));
    }

    #[test]
    fn outside_the_window_an_id_is_new_again() {
        let cache = MemoryReplayCache::default();
        let window = Duration::from_secs(300);
        let start = std::time::Instant::now();
        assert!(cache.sighting_at("a", window, start));
        assert!(!cache.sighting_at("a", window, start + window));
        assert!(cache.sighting_at("a", window, start + window + Duration::from_secs(1)));
    }
}
