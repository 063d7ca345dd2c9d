//! Each subscription's pace, kept in process: the theoretical arrival time
//! of its rate limit ([`RateLimit::slot`]), its cap on attempts in flight,
//! and its turn when it asks for strict order, for a backend whose
//! deliveries all go out of one process (`"default"`). A backend whose
//! workers share a queue keeps them where every worker sees them instead.
//!
//! A subscription without a limit of its own costs nothing here: each
//! method reads the subscription's field first and returns at once, with
//! no lock taken and no clock read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use thorn_core::Subscriber;
use thorn_core::breaker::now_ms;
use thorn_core::limits::RateLimit;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// Every rate-limited, capped or ordered subscription's pace, in process.
/// Share one (say, in an [`Arc`]) among every task that delivers, so that
/// the limits hold across them.
///
/// - [`wait_for_slot`](Self::wait_for_slot): a subscription with a
///   [`rate_limit`](Subscriber::rate_limit) takes its next slot and waits
///   for it; a delivery over the limit waits, it is never failed for it.
/// - [`in_flight`](Self::in_flight): at most
///   [`max_in_flight`](Subscriber::max_in_flight) holders at once per
///   subscription; the others wait, first come first served.
/// - [`turn`](Self::turn): one holder at a time per
///   [`ordered`](Subscriber::ordered) subscription, in the order they asked.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> thorn_core::Result<()> {
/// use std::time::Duration;
/// use thorn_core::Subscriber;
/// use thorn_http::Pace;
///
/// let pace = Pace::new();
/// let limited = Subscriber::builder("a.*", "https://example.com/", "k")
///     .rate_limit(50, 2)
///     .max_in_flight(1)
///     .build()?;
/// // The burst goes at once; the next waits one interval (20 ms).
/// assert_eq!(pace.wait_for_slot(&limited).await, Duration::ZERO);
/// assert_eq!(pace.wait_for_slot(&limited).await, Duration::ZERO);
/// assert!(pace.wait_for_slot(&limited).await > Duration::ZERO);
/// {
///     let _attempt = pace.in_flight(&limited).await;
///     // Another attempt of `limited` would wait here until `_attempt` ends.
/// }
/// let free = Subscriber::builder("a.*", "https://example.com/", "k").build()?;
/// assert_eq!(pace.wait_for_slot(&free).await, Duration::ZERO);
/// assert_eq!(pace.rate_limited(), 1, "nothing is kept for a subscription without a limit");
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct Pace {
    tats: Mutex<Tats>,
    /// A cap for every subscription, beside its own (`None`: only its
    /// own): a process's share for any one subscription.
    share: Option<u32>,
    caps: Mutex<HashMap<Uuid, Cap>>,
    turns: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

/// The theoretical arrival times of the rate-limited subscriptions.
#[derive(Debug, Default)]
struct Tats {
    by_id: HashMap<Uuid, u64>,
    /// How many the map held after its last sweep: a TAT that has passed
    /// means what none means, and such entries are swept once the map has
    /// doubled since.
    swept: usize,
}

/// How many subscriptions' caps are kept before idle ones are forgotten.
const CAPS_KEPT: usize = 10_000;

/// One subscription's cap on attempts in flight, and the size it was made
/// for.
#[derive(Debug)]
struct Cap {
    size: u32,
    semaphore: Arc<Semaphore>,
}

impl Pace {
    /// Nothing kept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Caps every subscription at `share` attempts in flight in this
    /// process (at least 1), besides its own
    /// [`max_in_flight`](Subscriber::max_in_flight): so that one receiver
    /// that hangs cannot take every attempt a process may have in flight.
    pub fn with_share(share: u32) -> Self {
        Pace {
            share: Some(share.max(1)),
            ..Self::default()
        }
    }

    /// Takes subscription `id`'s next slot under `limit` at `now` (Unix
    /// ms): the time at which its delivery may go. The same arithmetic as
    /// [`RateLimit::slot`], with the subscription's TAT kept here.
    pub fn slot(&self, id: Uuid, limit: &RateLimit, now: u64) -> u64 {
        let mut tats = lock(&self.tats);
        if tats.by_id.len() > 2 * tats.swept.max(32) {
            tats.by_id.retain(|_, tat| *tat > now);
            tats.swept = tats.by_id.len();
        }
        let tat = tats.by_id.entry(id).or_insert(0);
        let (at, next) = limit.slot(*tat, now);
        *tat = next;
        at
    }

    /// When `subscriber` has a [`rate_limit`](Subscriber::rate_limit),
    /// takes its next slot and waits until then; returns how long it
    /// waited. Without a limit, returns at once.
    pub async fn wait_for_slot(&self, subscriber: &Subscriber) -> Duration {
        let Some(limit) = &subscriber.rate_limit else {
            return Duration::ZERO;
        };
        let now = now_ms();
        let at = self.slot(subscriber.id, limit, now);
        let wait = Duration::from_millis(at.saturating_sub(now));
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// How many rate-limited subscriptions have a slot kept.
    pub fn rate_limited(&self) -> usize {
        lock(&self.tats).by_id.len()
    }

    /// When `subscriber` has a [`max_in_flight`](Subscriber::max_in_flight)
    /// of `n` (or the pace a [share](Self::with_share) of `n`; the lower
    /// of the two when both), waits until fewer than `n` of its attempts
    /// are in flight
    /// (first come, first served) and returns a place that counts as one
    /// until it is dropped. Without a cap, returns at once.
    ///
    /// A cap that changes (the subscription was updated) applies to the
    /// attempts that start from then on; those in flight under the old cap
    /// end as they were.
    pub async fn in_flight(&self, subscriber: &Subscriber) -> InFlight {
        let size = match (subscriber.max_in_flight, self.share) {
            (Some(own), Some(share)) => own.min(share),
            (Some(size), None) | (None, Some(size)) => size,
            (None, None) => return InFlight { _permit: None },
        };
        let semaphore = {
            let mut caps = lock(&self.caps);
            if caps.len() >= CAPS_KEPT {
                // Forget the subscriptions with nothing in flight.
                caps.retain(|_, cap| cap.semaphore.available_permits() < cap.size as usize);
            }
            let cap = caps.entry(subscriber.id).or_insert_with(|| Cap::new(size));
            if cap.size != size {
                *cap = Cap::new(size);
            }
            Arc::clone(&cap.semaphore)
        };
        // Only a closed semaphore refuses, and none is ever closed.
        InFlight {
            _permit: semaphore.acquire_owned().await.ok(),
        }
    }

    /// When `subscriber` is [`ordered`](Subscriber::ordered), waits for its
    /// turn (turns are given in the order they were asked for) and returns
    /// it; the next one begins when it is dropped. Otherwise returns at
    /// once.
    pub async fn turn(&self, subscriber: &Subscriber) -> Turn {
        if !subscriber.ordered {
            return Turn { _guard: None };
        }
        let queue = Arc::clone(lock(&self.turns).entry(subscriber.id).or_default());
        Turn {
            _guard: Some(queue.lock_owned().await),
        }
    }
}

impl Cap {
    fn new(size: u32) -> Self {
        let permits = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Cap {
            size,
            semaphore: Arc::new(Semaphore::new(permits)),
        }
    }
}

/// A place among a subscription's attempts in flight
/// ([`Pace::in_flight`]); dropping it frees the place. Holds nothing for a
/// subscription without a cap.
#[derive(Debug)]
#[must_use = "the place is freed when this is dropped"]
pub struct InFlight {
    _permit: Option<OwnedSemaphorePermit>,
}

/// An ordered subscription's turn ([`Pace::turn`]); dropping it gives the
/// turn to the next in line. Holds nothing for a subscription that is not
/// ordered.
#[derive(Debug)]
#[must_use = "the turn passes on when this is dropped"]
pub struct Turn {
    _guard: Option<OwnedMutexGuard<()>>,
}

/// Locks, also after a panic elsewhere: every change under these locks is
/// whole (one entry written), so none is left half-made.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use thorn_core::Subscriber;
    use thorn_core::limits::RateLimit;
    use uuid::Uuid;

    use super::Pace;

    /// Polls `fut` once: whether it is ready without waiting.
    fn ready<F: Future>(fut: Pin<&mut F>) -> Option<F::Output> {
        match fut.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        }
    }

    fn sub() -> thorn_core::SubscriberBuilder {
        Subscriber::builder("a.*", "https://example.com/", "k")
    }

    #[test]
    fn slots_are_kept_per_subscription() {
        let pace = Pace::new();
        let limit = RateLimit::new(5, 1).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let now = 1_000_000;
        let a_slots: Vec<u64> = (0..4).map(|_| pace.slot(a, &limit, now)).collect();
        assert_eq!(a_slots, [now, now + 200, now + 400, now + 600]);
        assert_eq!(pace.slot(b, &limit, now), now, "b has a pace of its own");
        // A quiet spell later, a is back to going at once.
        assert_eq!(pace.slot(a, &limit, now + 5_000), now + 5_000);
        assert_eq!(pace.rate_limited(), 2);
    }

    #[test]
    fn passed_slots_are_swept_once_the_map_has_grown() {
        let pace = Pace::new();
        let limit = RateLimit::new(10, 1).unwrap();
        for i in 0..65 {
            pace.slot(Uuid::new_v4(), &limit, 1_000 + i);
        }
        assert_eq!(pace.rate_limited(), 65);
        // Every TAT above has passed by then: the sweep keeps the new one.
        pace.slot(Uuid::new_v4(), &limit, 100_000);
        assert_eq!(pace.rate_limited(), 1);
    }

    #[tokio::test]
    async fn a_subscription_without_limits_waits_for_nothing_and_leaves_nothing() {
        let pace = Pace::new();
        let free = sub().build().unwrap();
        for _ in 0..100 {
            assert_eq!(pace.wait_for_slot(&free).await, Duration::ZERO);
        }
        let places: Vec<_> = {
            let mut places = Vec::new();
            for _ in 0..10 {
                places.push(pace.in_flight(&free).await);
            }
            places
        };
        let first = pace.turn(&free).await;
        let second = pace.turn(&free).await;
        assert_eq!(pace.rate_limited(), 0);
        assert!(super::lock(&pace.caps).is_empty());
        assert!(super::lock(&pace.turns).is_empty());
        drop((places, first, second));
    }

    #[tokio::test]
    async fn the_burst_goes_at_once_then_one_slot_an_interval() {
        let pace = Pace::new();
        let limited = sub().rate_limit(1, 2).build().unwrap();
        assert_eq!(pace.wait_for_slot(&limited).await, Duration::ZERO);
        assert_eq!(pace.wait_for_slot(&limited).await, Duration::ZERO);
        // The third would wait about a second: it is not ready at once.
        let third = pace.wait_for_slot(&limited);
        let mut third = std::pin::pin!(third);
        assert_eq!(ready(third.as_mut()), None);
        assert_eq!(pace.rate_limited(), 1);
    }

    #[tokio::test]
    async fn at_most_the_cap_in_flight_and_the_next_goes_when_one_ends() {
        let pace = Pace::new();
        let capped = sub().max_in_flight(2).build().unwrap();
        let one = pace.in_flight(&capped).await;
        let _two = pace.in_flight(&capped).await;
        let three = pace.in_flight(&capped);
        let mut three = std::pin::pin!(three);
        assert!(ready(three.as_mut()).is_none(), "a third waits");
        drop(one);
        assert!(ready(three.as_mut()).is_some(), "and goes when one ends");
    }

    #[tokio::test]
    async fn a_changed_cap_applies_to_the_next_attempts() {
        let pace = Pace::new();
        let id = Uuid::new_v4();
        let one = sub().id(id).max_in_flight(1).build().unwrap();
        let _held = pace.in_flight(&one).await;
        let two = sub().id(id).max_in_flight(2).build().unwrap();
        let mut places = Vec::new();
        for _ in 0..2 {
            let next = pace.in_flight(&two);
            let next = std::pin::pin!(next);
            places.push(ready(next).expect("the new cap has room"));
        }
        let third = pace.in_flight(&two);
        let third = std::pin::pin!(third);
        assert!(ready(third).is_none(), "up to 2 under the new cap");
    }

    #[tokio::test]
    async fn turns_of_an_ordered_subscription_go_one_at_a_time_in_order() {
        let pace = Pace::new();
        let ordered = sub().ordered(true).build().unwrap();
        let first = pace.turn(&ordered).await;
        let second = pace.turn(&ordered);
        let third = pace.turn(&ordered);
        let (mut second, mut third) = (std::pin::pin!(second), std::pin::pin!(third));
        assert!(ready(second.as_mut()).is_none());
        assert!(ready(third.as_mut()).is_none());
        drop(first);
        // The third asked after the second: it still waits.
        assert!(ready(third.as_mut()).is_none(), "not before the second");
        let second = ready(second.as_mut()).expect("the second's turn");
        assert!(ready(third.as_mut()).is_none());
        drop(second);
        assert!(ready(third.as_mut()).is_some());
    }
}
