//! The relay: claims committed outbox rows in batches (see
//! [`claim`](super::claim)), hands each claim to the backend in pieces
//! dispatched side by side (see [`pieces`](super::pieces)), and deletes
//! the rows in the claim's transaction once the backend accepted them.
//! While one claim is handed over, the next is taken and its events
//! matched, so that the database's round trips overlap the backend's work;
//! it is handed over only once the one before it was, so an ordered
//! subscription keeps the outbox's order. The relay looks again at
//! once after a claim that found rows, and backs off while the outbox
//! stays empty, woken by a commit's NOTIFY only when it sleeps longer (see
//! [`idle`](super::idle)).
//!
//! At least once: a relay that dies mid-batch leaves its transactions to
//! roll back, and the batch it was handing over is handed over again by
//! another, with the same delivery ids. Rows the backend refused stay, with the error and a count
//! of attempts, and wait a backoff; the rows of the pieces it accepted are
//! deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use thorn_core::{Error, Result, Thorn};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Statements;
use super::claim::{Claim, MAX_BACKOFF};
use super::idle::Idle;

/// The channel a commit notifies when a relay armed the wake-up.
const CHANNEL: &str = "thorn_outbox";
/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A running relay. Dropping it stops it at the next batch boundary.
#[derive(Debug)]
pub struct Relay {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    stats: Arc<Counters>,
}

/// What a relay did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStats {
    /// Events handed to the backend and deleted from the outbox.
    pub relayed: u64,
    /// Batches handed over.
    pub batches: u64,
    /// Batches the backend (or the database) refused, whole or in part:
    /// the refused rows stayed, deferred, or (when their deletion failed)
    /// are relayed again.
    pub failures: u64,
    /// Looks at the outbox (claims), whether they found rows or not.
    pub polls: u64,
    /// Times it asked, before a longer wait, that the next commit adding
    /// rows notify it.
    pub armed: u64,
    /// Waits a commit's NOTIFY cut short.
    pub woken: u64,
    /// The wait after its latest look: zero when that look found rows,
    /// else from a few milliseconds, doubling with each empty look, up to
    /// `THORN_OUTBOX_POLL`.
    pub idle_wait: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    relayed: AtomicU64,
    batches: AtomicU64,
    failures: AtomicU64,
    polls: AtomicU64,
    armed: AtomicU64,
    woken: AtomicU64,
    idle_wait_us: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn set_wait(&self, wait: Duration) {
        let us = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.idle_wait_us.store(us, Ordering::Relaxed);
    }
}

impl Relay {
    pub(super) fn start(statements: Arc<Statements>, pool: PgPool, thorn: Thorn) -> Self {
        let stop = CancellationToken::new();
        let stats = Arc::new(Counters::default());
        let task = tokio::spawn(run(
            statements,
            pool,
            thorn,
            stop.clone(),
            Arc::clone(&stats),
        ));
        Relay {
            stop,
            task: Some(task),
            stats,
        }
    }

    /// The counters now.
    pub fn stats(&self) -> RelayStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RelayStats {
            relayed: get(&self.stats.relayed),
            batches: get(&self.stats.batches),
            failures: get(&self.stats.failures),
            polls: get(&self.stats.polls),
            armed: get(&self.stats.armed),
            woken: get(&self.stats.woken),
            idle_wait: Duration::from_micros(get(&self.stats.idle_wait_us)),
        }
    }

    /// Stops after the batch in hand (handed over and deleted, or left
    /// whole) and returns the counters.
    pub async fn shutdown(mut self) -> RelayStats {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.stats()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn run(
    statements: Arc<Statements>,
    pool: PgPool,
    thorn: Thorn,
    stop: CancellationToken,
    stats: Arc<Counters>,
) {
    let mut listener: Option<PgListener> = None;
    let mut idle = Idle::new(statements.poll);
    let mut backoff = FIRST_BACKOFF;
    // Taken and prepared while the claim before it was handed over.
    let mut ahead: Option<Claim> = None;
    while !stop.is_cancelled() {
        if listener.is_none() {
            listener = listen(&pool).await;
        }
        let claim = match ahead.take() {
            Some(claim) => Ok(claim),
            None => {
                // Armed before the look, not after it: a row committed
                // between the two is found by this look, or notifies.
                if idle.arms() && listener.is_some() {
                    match sqlx::query(&statements.arm).execute(&pool).await {
                        Ok(_) => Counters::add(&stats.armed, 1),
                        // Still looked for, at the poll interval at the latest.
                        Err(e) => tracing::debug!(error = %e, "arming the outbox wake-up failed"),
                    }
                }
                take(&statements, &pool, &thorn, &stats).await
            }
        };
        let error = match claim {
            Ok(claim) if claim.is_empty() => {
                if let Err(e) = claim.release().await {
                    tracing::debug!(error = %e, "ending an empty outbox claim failed");
                }
                backoff = FIRST_BACKOFF;
                let wait = idle.empty();
                stats.set_wait(wait);
                let woken = async {
                    let Some(l) = listener.as_mut() else {
                        return std::future::pending().await;
                    };
                    // Outboxes of other schemas notify the same channel.
                    loop {
                        if l.recv().await?.payload() == statements.schema {
                            return Ok::<(), sqlx::Error>(());
                        }
                    }
                };
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                    woke = woken => match woke {
                        Ok(()) => Counters::add(&stats.woken, 1),
                        Err(_) => listener = None,
                    },
                }
                continue;
            }
            Ok(claim) => {
                idle.found();
                stats.set_wait(Duration::ZERO);
                match relay(claim, &statements, &pool, &thorn, &stats).await {
                    Ok(next) => {
                        backoff = FIRST_BACKOFF;
                        ahead = next;
                        continue;
                    }
                    Err(error) => error,
                }
            }
            Err(error) => {
                Counters::add(&stats.failures, 1);
                error
            }
        };
        if !back_off(&error, &mut backoff, &stop).await {
            return;
        }
        listener = None;
    }
}

/// Hands `claim` over while the next claim is taken and prepared, then
/// deletes the rows the backend accepted: the next claim (it may hold
/// nothing), or what went wrong, counted as a failure. The claim ahead is
/// only locked and matched, never dispatched, while this one is in
/// flight: a relay that dies hands over again at most the one claim it
/// was handing over.
async fn relay(
    mut claim: Claim,
    statements: &Statements,
    pool: &PgPool,
    thorn: &Thorn,
    stats: &Counters,
) -> Result<Option<Claim>> {
    let (refused, next) =
        tokio::join!(claim.hand_over(thorn), take(statements, pool, thorn, stats));
    let Some(refused) = refused else {
        return match claim.delete(statements).await {
            Ok(n) => {
                Counters::add(&stats.relayed, n);
                Counters::add(&stats.batches, 1);
                // A failed look ahead is only a look to make again.
                Ok(next.ok())
            }
            // Rolled back: the rows are handed over again (at least once),
            // after the backoff.
            Err(e) => {
                Counters::add(&stats.failures, 1);
                Err(e)
            }
        };
    };
    // The rows taken ahead go back, for after the backoff.
    drop(next);
    // Counted before the rows are deferred: whoever sees them deferred
    // sees the failure counted.
    Counters::add(&stats.failures, 1);
    match claim.defer(statements, &refused).await {
        Ok(relayed) => Counters::add(&stats.relayed, relayed),
        // Rolled back: every row of the claim stays as it was.
        Err(e) => tracing::warn!(error = %e, "deferring refused outbox rows failed"),
    }
    Err(refused.error)
}

/// Claims the next rows and prepares their events, counting the look.
async fn take(
    statements: &Statements,
    pool: &PgPool,
    thorn: &Thorn,
    stats: &Counters,
) -> Result<Claim> {
    Counters::add(&stats.polls, 1);
    let mut claim = Claim::take(statements, pool).await?;
    claim.prepare(thorn).await;
    Ok(claim)
}

/// Waits `backoff` after `error` and doubles it; false when stopped
/// meanwhile.
async fn back_off(error: &Error, backoff: &mut Duration, stop: &CancellationToken) -> bool {
    tracing::warn!(error = %error, wait_ms = backoff.as_millis() as u64, "relaying outbox events failed; backing off");
    tokio::select! {
        () = stop.cancelled() => return false,
        () = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    true
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(CHANNEL).await.ok()?;
    Some(listener)
}
