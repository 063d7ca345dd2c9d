//! Delivery ids already seen, to refuse replays.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

/// Remembers delivery ids for a while. Pluggable: a receiver that runs in
/// several processes can back it with a shared store.
pub trait ReplayCache: Send + Sync + 'static {
    /// Records `id` as seen at `now`, to be remembered until `until` (when
    /// the delivery's signed timestamp leaves the tolerance, after which
    /// the delivery is refused whatever its id); `false` when it is
    /// already remembered.
    fn first_sighting(&self, id: &str, until: SystemTime, now: SystemTime) -> bool;

    /// Forgets `id`, for a delivery that was verified but not kept (the
    /// receiver was too busy): the sender's retry must pass.
    fn forget(&self, id: &str);
}

/// Ids in memory, each until its own end, at most `capacity` of them (the
/// one ending first forgotten first).
#[derive(Debug)]
pub struct MemoryReplayCache {
    seen: Mutex<Seen>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Seen {
    /// Each id's end.
    until: HashMap<String, SystemTime>,
    /// The same, ordered by end.
    by_end: BTreeSet<(SystemTime, String)>,
}

impl Seen {
    fn forget_first_ending(&mut self) {
        if let Some((_, id)) = self.by_end.pop_first() {
            self.until.remove(&id);
        }
    }

    fn forget(&mut self, id: &str) {
        if let Some(end) = self.until.remove(id) {
            self.by_end.remove(&(end, id.to_owned()));
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

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ReplayCache for MemoryReplayCache {
    fn first_sighting(&self, id: &str, until: SystemTime, now: SystemTime) -> bool {
        let mut seen = self.seen();
        // Forget what has ended.
        while seen.by_end.first().is_some_and(|(end, _)| *end < now) {
            seen.forget_first_ending();
        }
        if seen.until.contains_key(id) {
            return false;
        }
        while seen.until.len() >= self.capacity {
            seen.forget_first_ending();
        }
        seen.until.insert(id.to_owned(), until);
        seen.by_end.insert((until, id.to_owned()));
        true
    }

    fn forget(&self, id: &str) {
        self.seen().forget(id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::{MemoryReplayCache, ReplayCache};

    const WINDOW: Duration = Duration::from_secs(300);

    #[test]
    fn an_id_is_seen_once_until_its_end() {
        let cache = MemoryReplayCache::with_capacity(2);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let until = now + WINDOW;
        assert!(cache.first_sighting("a", until, now));
        assert!(!cache.first_sighting("a", until, now));
        assert!(cache.first_sighting("b", until + Duration::from_secs(1), now));
        assert!(
            cache.first_sighting("c", until, now),
            "over capacity: a ends first and goes"
        );
        assert!(
            cache.first_sighting("a", until, now),
            "c ends before b: c goes"
        );
        assert!(!cache.first_sighting("b", until, now));
        assert!(cache.first_sighting("c", until, now));
    }

    #[test]
    fn a_forgotten_id_is_new_again() {
        let cache = MemoryReplayCache::default();
        let now = SystemTime::now();
        assert!(cache.first_sighting("a", now + WINDOW, now));
        cache.forget("a");
        assert!(cache.first_sighting("a", now + WINDOW, now));
        assert!(!cache.first_sighting("a", now + WINDOW, now));
    }

    #[test]
    fn after_its_end_an_id_is_new_again() {
        let cache = MemoryReplayCache::default();
        let start = SystemTime::now();
        assert!(cache.first_sighting("a", start + WINDOW, start));
        assert!(!cache.first_sighting("a", start + WINDOW, start + WINDOW));
        let later = start + WINDOW + Duration::from_secs(1);
        assert!(cache.first_sighting("a", later + WINDOW, later));
    }

    #[test]
    fn each_id_keeps_its_own_end() {
        let cache = MemoryReplayCache::default();
        let start = SystemTime::now();
        // Seen first with an end far ahead, then one with a near end.
        assert!(cache.first_sighting("far", start + 2 * WINDOW, start));
        assert!(cache.first_sighting("near", start + WINDOW, start));
        let between = start + WINDOW + Duration::from_secs(10);
        assert!(cache.first_sighting("near", between + WINDOW, between));
        assert!(!cache.first_sighting("far", between + WINDOW, between));
    }
}
