//! How a relay cuts one claim into batches that go to the backend side by
//! side.
//!
//! Every outbox row is one event sent by the application, and the events
//! of one transaction were sent together: like the events of a buffer's
//! flush, they must reach each subscription in order, and so travel in one
//! batch. The events of different transactions are different sends, which
//! the application could have made at the same moment; handing the whole
//! claim over in one batch made them one lane per subscription, delivered
//! one HTTP round trip after another. So a claim becomes pieces: whole
//! transactions, about `1/concurrency` of the claim each and at most
//! `THORN_CHUNKSIZE` events (a queue's entry, for `"redis"`), dispatched at
//! once, as many at a time as keeps the deliveries in flight near
//! `THORN_CONCURRENCY`.
//!
//! Subscriptions that ask for strict order get every delivery of the claim
//! in one piece of their own, in outbox order; a relay takes its next claim
//! only when every piece of this one has ended.

use std::collections::HashMap;
use std::collections::HashSet;

use thorn_core::{Batch, PreparedEvent};

/// One batch of a claim, and which rows (indices into the claim) it holds
/// deliveries of: a row is done when every piece holding it was accepted.
#[derive(Debug, Default)]
pub(super) struct Piece {
    pub(super) batch: Batch,
    pub(super) rows: Vec<usize>,
}

impl Piece {
    fn push(&mut self, row: usize, event: PreparedEvent) {
        self.batch.events.push(event);
        self.rows.push(row);
    }

    fn append(&mut self, other: Piece) {
        self.batch.events.extend(other.batch.events);
        self.rows.extend(other.rows);
    }

    fn len(&self) -> usize {
        self.batch.events.len()
    }
}

/// A claim cut into pieces.
#[derive(Debug, Default)]
pub(super) struct Pieces {
    /// The pieces; the ordered subscriptions' one first, when there is one.
    pub(super) pieces: Vec<Piece>,
    /// How many to dispatch at once.
    pub(super) at_once: usize,
}

/// Cuts `events` (each with its row's transaction, in outbox order) into
/// pieces for a backend that keeps `concurrency` deliveries in flight and
/// puts `chunk` events in a queue's entry.
pub(super) fn cut(
    events: impl IntoIterator<Item = (i64, PreparedEvent)>,
    concurrency: usize,
    chunk: usize,
) -> Pieces {
    let mut ordered = Piece::default();
    let mut transactions: Vec<Piece> = Vec::new();
    let mut of_tx: HashMap<i64, usize> = HashMap::new();
    let mut subscriptions = HashSet::new();
    for (row, (tx, event)) in events.into_iter().enumerate() {
        let (strict, free): (Vec<_>, Vec<_>) = event
            .deliveries
            .into_iter()
            .partition(|d| d.subscriber.ordered);
        if !strict.is_empty() {
            ordered.push(row, PreparedEvent::new(event.name.clone(), strict));
        }
        if !free.is_empty() {
            subscriptions.extend(free.iter().map(|d| d.subscriber.id));
            let at = *of_tx.entry(tx).or_insert_with(|| {
                transactions.push(Piece::default());
                transactions.len() - 1
            });
            transactions[at].push(row, PreparedEvent::new(event.name, free));
        }
    }
    let concurrency = concurrency.max(1);
    let events: usize = transactions.iter().map(Piece::len).sum();
    let size = events.div_ceil(concurrency).clamp(1, chunk.max(1));
    let mut pieces = Vec::new();
    if !ordered.rows.is_empty() {
        pieces.push(ordered);
    }
    let mut piece = Piece::default();
    for tx in transactions {
        if piece.len() > 0 && piece.len() + tx.len() > size {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.append(tx);
    }
    if piece.len() > 0 {
        pieces.push(piece);
    }
    // Each piece has a lane per subscription: this many pieces at once
    // keep about `concurrency` deliveries in flight.
    let at_once = (concurrency / subscriptions.len().max(1)).max(1);
    Pieces { pieces, at_once }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use thorn_core::{Delivery, EventName, PreparedEvent, Signer, Subscriber};

    use super::cut;

    fn sub(ordered: bool) -> Arc<Subscriber> {
        Arc::new(
            Subscriber::builder("a.*", "https://example.com/", "k")
                .ordered(ordered)
                .build()
                .unwrap(),
        )
    }

    fn event(n: usize, subs: &[&Arc<Subscriber>]) -> PreparedEvent {
        let name = EventName::new("a.b").unwrap();
        let deliveries = subs
            .iter()
            .map(|s| Delivery {
                id: uuid::Uuid::now_v7(),
                event: name.clone(),
                subscriber: Arc::clone(s),
                body: Bytes::from(n.to_string()),
                timeout: None,
                standard_webhooks: false,
                hmac_signer: Signer::Hmac,
            })
            .collect();
        PreparedEvent::new(name, deliveries)
    }

    fn bodies(batch: &thorn_core::Batch) -> Vec<String> {
        batch
            .deliveries()
            .map(|d| String::from_utf8(d.body.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn separate_transactions_spread_over_pieces_up_to_the_concurrency() {
        let a = sub(false);
        let events = (0..500).map(|n| (n as i64, event(n, &[&a])));
        let cut = cut(events, 64, 10);
        // 500 events over 64: pieces of 8 (ceil), whole transactions each.
        assert_eq!(cut.pieces.len(), 63);
        assert!(cut.pieces.iter().all(|p| p.batch.events.len() <= 8));
        assert_eq!(cut.at_once, 64, "one subscription: every piece at once");
        let all: Vec<usize> = cut.pieces.iter().flat_map(|p| p.rows.clone()).collect();
        assert_eq!(all, (0..500).collect::<Vec<_>>(), "each row once, in order");
    }

    #[test]
    fn pieces_hold_at_most_a_chunk_and_run_fewer_at_once_with_more_subscriptions() {
        let subs: Vec<_> = (0..16).map(|_| sub(false)).collect();
        let refs: Vec<_> = subs.iter().collect();
        let events = (0..5000).map(|n| (n as i64, event(n, &refs)));
        let cut = cut(events, 64, 10);
        assert_eq!(
            cut.pieces.len(),
            500,
            "at most THORN_CHUNKSIZE events a piece"
        );
        assert_eq!(cut.at_once, 4, "16 lanes a piece, 64 deliveries in flight");
    }

    #[test]
    fn one_transaction_stays_whole_and_in_order() {
        let a = sub(false);
        // Transaction 7 interleaves with others (ids from concurrent
        // transactions interleave).
        let events = (0..40).map(|n| {
            let tx = if n % 2 == 0 { 7 } else { 100 + n as i64 };
            (tx, event(n, &[&a]))
        });
        let cut = cut(events, 64, 10);
        let of_seven: Vec<_> = cut.pieces.iter().filter(|p| p.rows.contains(&0)).collect();
        assert_eq!(of_seven.len(), 1, "never split, though longer than a chunk");
        let expected: Vec<String> = (0..40).step_by(2).map(|n| n.to_string()).collect();
        assert_eq!(bodies(&of_seven[0].batch), expected);
        assert_eq!(
            cut.pieces.len(),
            21,
            "the other 20 transactions on their own"
        );
    }

    #[test]
    fn ordered_subscriptions_get_the_whole_claim_in_one_piece() {
        let (free, strict) = (sub(false), sub(true));
        let events = (0..30).map(|n| (n as i64, event(n, &[&free, &strict])));
        let cut = cut(events, 64, 10);
        let first = &cut.pieces[0];
        assert!(first.batch.deliveries().all(|d| d.subscriber.ordered));
        assert_eq!(
            bodies(&first.batch),
            (0..30).map(|n| n.to_string()).collect::<Vec<_>>()
        );
        assert!(
            cut.pieces[1..]
                .iter()
                .all(|p| p.batch.deliveries().all(|d| !d.subscriber.ordered))
        );
        assert_eq!(cut.pieces.len(), 31);
    }

    #[test]
    fn events_without_deliveries_make_no_piece() {
        let events = (0..3).map(|n| (n as i64, event(n, &[])));
        assert!(cut(events, 64, 10).pieces.is_empty());
    }
}
