//! Per-subscription lanes: a worker delivers each subscription's deliveries
//! of one batch one after another, in the order it read them (across the
//! batch's entries), while other subscriptions and batches go in parallel.
//!
//! Each lane of an entry takes a [`Turn`] when the entry is read; the turn
//! waits for the previous turn of the same subscription to be left. Turns
//! are taken in read order, so waits only point to earlier entries and
//! cannot form a cycle.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;
use uuid::Uuid;

/// A batch's id and a subscription's id.
pub(crate) type LaneKey = (Uuid, Uuid);

#[derive(Debug, Default)]
pub(crate) struct Lanes {
    inner: Mutex<Tails>,
}

#[derive(Debug, Default)]
struct Tails {
    next: u64,
    /// The last turn of each subscription with one outstanding.
    last: HashMap<LaneKey, (u64, oneshot::Receiver<()>)>,
}

/// A lane's place in line. Dropping it (or [`Lanes::leave`]) lets the next
/// turn of the subscription go.
#[derive(Debug)]
pub(crate) struct Turn {
    sub: LaneKey,
    seq: u64,
    prev: Option<oneshot::Receiver<()>>,
    _done: oneshot::Sender<()>,
}

impl Lanes {
    fn tails(&self) -> std::sync::MutexGuard<'_, Tails> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the next turn of lane `sub` (a batch and a subscription).
    pub(crate) fn join(&self, sub: LaneKey) -> Turn {
        let (tx, rx) = oneshot::channel();
        let mut t = self.tails();
        t.next += 1;
        let seq = t.next;
        let prev = t.last.insert(sub, (seq, rx)).map(|(_, r)| r);
        Turn {
            sub,
            seq,
            prev,
            _done: tx,
        }
    }

    /// Ends `turn`, forgetting the subscription if no later turn was taken.
    pub(crate) fn leave(&self, turn: Turn) {
        let mut t = self.tails();
        if t.last.get(&turn.sub).is_some_and(|(g, _)| *g == turn.seq) {
            t.last.remove(&turn.sub);
        }
        drop(turn);
    }

    /// How many subscriptions have a turn outstanding.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tails().last.len()
    }
}

impl Turn {
    /// Waits until the previous turn of the subscription is left.
    pub(crate) async fn wait(&mut self) {
        if let Some(prev) = self.prev.take() {
            // An error means the previous turn was dropped: also its end.
            let _ = prev.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::Lanes;

    #[tokio::test]
    async fn turns_of_one_subscription_go_in_order() {
        let lanes = Lanes::default();
        let a = (Uuid::new_v4(), Uuid::new_v4());
        let mut first = lanes.join(a);
        let mut second = lanes.join(a);
        let mut other = lanes.join((a.0, Uuid::new_v4()));
        first.wait().await;
        other.wait().await;
        // The second waits until the first is left.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), second.wait())
                .await
                .is_err()
        );
        lanes.leave(first);
        tokio::time::timeout(Duration::from_secs(1), second.wait())
            .await
            .unwrap();
        lanes.leave(second);
        lanes.leave(other);
        assert_eq!(lanes.len(), 0);
    }
}
