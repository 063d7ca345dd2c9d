//! The delivery ids already taken, to catch replays.

use std::collections::{HashMap, VecDeque};

/// How many ids are remembered when none is said.
///
/// With the Standard Webhooks headers required, a replay older than their
/// five minutes of tolerance is refused as stale whatever is remembered, so
/// this covers about 330 deliveries a second; without them, an id is caught
/// only while it is among the last this many.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The last `capacity` ids taken, oldest forgotten first.
#[derive(Debug)]
pub struct Seen {
    /// Each id and the turn it was taken on: an id given back and taken
    /// again must not be forgotten when its older turn leaves the queue.
    ids: HashMap<String, u64>,
    order: VecDeque<(String, u64)>,
    turn: u64,
    capacity: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl Seen {
    /// Remembers at most `capacity` ids (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Seen {
            ids: HashMap::new(),
            order: VecDeque::new(),
            turn: 0,
            capacity: capacity.max(1),
        }
    }

    /// Takes `id`: true the first time, false while it is remembered.
    pub fn take(&mut self, id: &str) -> bool {
        if self.ids.contains_key(id) {
            return false;
        }
        while self.order.len() >= self.capacity {
            let Some((old, turn)) = self.order.pop_front() else {
                break;
            };
            if self.ids.get(&old) == Some(&turn) {
                self.ids.remove(&old);
            }
        }
        self.turn += 1;
        self.ids.insert(id.to_owned(), self.turn);
        self.order.push_back((id.to_owned(), self.turn));
        true
    }

    /// Gives `id` back, for a delivery that was taken but not kept (the
    /// work queue was full): the sender's retry must be taken again.
    pub fn give_back(&mut self, id: &str) {
        self.ids.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn an_id_is_taken_once_until_forgotten() {
        let mut seen = Seen::with_capacity(2);
        assert!(seen.take("a"));
        assert!(!seen.take("a"));
        assert!(seen.take("b"));
        assert!(seen.take("c"), "the oldest, a, is forgotten");
        assert!(!seen.take("b"));
        assert!(seen.take("a"));
    }

    #[test]
    fn an_id_given_back_can_be_taken_again_and_is_then_kept() {
        let mut seen = Seen::with_capacity(2);
        assert!(seen.take("a"));
        seen.give_back("a");
        assert!(seen.take("a"));
        // The first turn of `a` leaves the queue here; its second stays.
        assert!(seen.take("b"));
        assert!(!seen.take("a"));
    }
}
