//! A subscription's pace and room in the worker: its rate limit and cap of
//! deliveries in flight, shared by every worker of the queue through
//! Redis, and its share of this worker's deliveries in flight.
//!
//! - **Rate limit** ([`Subscriber::rate_limit`](thorn_core::Subscriber::rate_limit)): each delivery takes the
//!   subscription's next slot in one script call (`pace.lua`, the generic
//!   cell rate algorithm of [`thorn_core::limits`]). A slot more than
//!   [`PACE_WAIT`] away defers the delivery to the retry set at its slot,
//!   marked as having taken it, without an attempt.
//! - **Cap in flight** ([`Subscriber::max_in_flight`](thorn_core::Subscriber::max_in_flight)): a delivery counts
//!   itself in the subscription's set of deliveries in flight
//!   (`flight.lua`) before its attempt, and leaves it after. While the set
//!   is full it waits in its lane, then is deferred.
//! - **Share of the worker**: one subscription has at most a quarter of
//!   `THORN_CONCURRENCY` attempts in flight in one worker (or its cap, if
//!   lower), so that a receiver that hangs cannot take every one: kept by
//!   [`thorn_http::Pace::with_share`].
//!
//! None of this costs a subscription without a limit or a cap anything
//! beyond its share's count.

use std::time::Duration;

use thorn_core::breaker::now_ms;

use super::Shared;
use crate::entry::QueuedDelivery;
use crate::scripts;

/// A rate-limit slot this close is waited for in the lane.
pub(super) const PACE_WAIT: Duration = Duration::from_millis(20);

/// How often a delivery of a full subscription looks again.
const FLIGHT_POLL: Duration = Duration::from_millis(20);

/// How many times it looks before it is deferred.
const FLIGHT_TRIES: u32 = 25;

/// How long a deferred delivery of a full subscription waits.
const FLIGHT_DEFER: Duration = Duration::from_secs(1);

/// Takes the delivery's rate-limit slot: `Some(at)` when it must wait in
/// the retry set until `at` (Unix ms). A delivery that waited for its
/// slot already, or whose subscription has no limit, goes at once; so does
/// one whose slot Redis could not give (the limit is then not kept).
pub(super) async fn slot(shared: &Shared, item: &QueuedDelivery) -> Option<u64> {
    let limit = item.delivery.subscriber.rate_limit?;
    if item.paced {
        return None;
    }
    let now = now_ms();
    let result = match shared.conn.get().await {
        Ok(mut conn) => scripts::PACE
            .key(&shared.keys.pace)
            .arg(item.delivery.subscriber.id.to_string())
            .arg(now)
            .arg(limit.interval_ms())
            .arg(limit.tolerance_ms())
            .invoke_async::<u64>(&mut conn)
            .await
            .map_err(|e| shared.conn.err(e)),
        Err(e) => Err(e),
    };
    let at = match result {
        Ok(at) => at,
        Err(e) => {
            tracing::warn!(error = %e, subscription = %item.delivery.subscriber.id,
                "taking a rate-limit slot failed; delivering without one");
            return None;
        }
    };
    let wait = at.saturating_sub(now_ms());
    if wait == 0 {
        return None;
    }
    if wait <= PACE_WAIT.as_millis() as u64 {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        return None;
    }
    Some(at)
}

/// A delivery's place among its subscription's deliveries in flight, for
/// a subscription with a cap.
pub(super) struct Flight(Option<(String, String)>);

impl Flight {
    /// Takes a place, waiting in the lane while the subscription is full;
    /// `Err(until)` when it stayed full: the delivery waits in the retry
    /// set until then. A subscription without a cap takes no place.
    pub(super) async fn enter(shared: &Shared, item: &QueuedDelivery) -> Result<Flight, u64> {
        let sub = &item.delivery.subscriber;
        let Some(cap) = sub.max_in_flight else {
            return Ok(Flight(None));
        };
        let key = shared.keys.of("flight", sub.id);
        let member = item.delivery.id.to_string();
        let timeout = item.delivery.timeout.unwrap_or(shared.config.event_timeout);
        // A place lapses after the longest an attempt can take, and some:
        // a worker that dies does not hold it for ever.
        let lapse = timeout + shared.ack_deadline;
        for _ in 0..FLIGHT_TRIES {
            let now = now_ms();
            let result = match shared.conn.get().await {
                Ok(mut conn) => scripts::FLIGHT
                    .key(&key)
                    .arg(now)
                    .arg(now.saturating_add(lapse.as_millis() as u64))
                    .arg(&member)
                    .arg(cap)
                    .invoke_async::<u8>(&mut conn)
                    .await
                    .map_err(|e| shared.conn.err(e)),
                Err(e) => Err(e),
            };
            match result {
                Ok(1) => return Ok(Flight(Some((key, member)))),
                Ok(_) => tokio::time::sleep(FLIGHT_POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, subscription = %sub.id,
                        "counting a delivery in flight failed; delivering without the cap");
                    return Ok(Flight(None));
                }
            }
        }
        Err(now_ms().saturating_add(FLIGHT_DEFER.as_millis() as u64))
    }

    /// Leaves the place (it lapses anyway should this fail).
    pub(super) async fn leave(self, shared: &Shared) {
        let Some((key, member)) = self.0 else { return };
        if let Ok(mut conn) = shared.conn.get().await {
            let left: redis::RedisResult<()> = redis::cmd("ZREM")
                .arg(&key)
                .arg(&member)
                .query_async(&mut conn)
                .await;
            if let Err(e) = left {
                tracing::debug!(error = %e, "leaving a place in flight failed; it lapses");
            }
        }
    }
}
