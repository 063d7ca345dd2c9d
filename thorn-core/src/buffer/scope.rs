//! The scopes of a task: one frame per Thorn that buffers in it, holding
//! that Thorn's sends until the outermost scope ends.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Weak};

use tokio::time::Instant;

use super::BufferOptions;
use super::rescue::{Rescue, rescue};
use crate::delivery::PreparedEvent;
use crate::error::Result;
use crate::report::{Outcome, Report, Status};

struct Frame {
    thorn: u64,
    depth: usize,
    events: Vec<PreparedEvent>,
    options: BufferOptions,
    sends: usize,
    last_flush: Instant,
    owner: Weak<dyn Rescue>,
}

impl Drop for Frame {
    fn drop(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.events);
        match self.owner.upgrade() {
            Some(owner) => rescue(owner, events),
            None => tracing::error!(
                events = events.len(),
                "thorn buffer dropped after its Thorn: its events cannot be delivered"
            ),
        }
    }
}

tokio::task_local! {
    static SCOPES: RefCell<Vec<Frame>>;
}

/// Runs `f` on the frame of Thorn `thorn` in this task, if any.
fn with_frame<R>(thorn: u64, f: impl FnOnce(&mut Frame) -> R) -> Option<R> {
    SCOPES
        .try_with(|s| {
            let mut s = s.borrow_mut();
            s.iter_mut().rev().find(|fr| fr.thorn == thorn).map(f)
        })
        .ok()
        .flatten()
}

/// Holds `event` in this task's scope of Thorn `thorn`, returning its
/// deliveries' outcomes ([`Status::Buffered`]); outside such a scope, gives
/// the event back.
pub(crate) fn hold(
    thorn: u64,
    event: PreparedEvent,
) -> std::result::Result<Vec<Outcome>, PreparedEvent> {
    let mut slot = Some(event);
    let buffered = with_frame(thorn, |fr| {
        let p = slot.take()?;
        let outcomes = p
            .deliveries
            .iter()
            .map(|d| Outcome::new(d, Status::Buffered))
            .collect::<Vec<_>>();
        fr.events.push(p);
        fr.sends += 1;
        Some(outcomes)
    })
    .flatten();
    match (buffered, slot) {
        (Some(outcomes), _) => Ok(outcomes),
        (None, Some(p)) => Err(p),
        (None, None) => Ok(Vec::new()),
    }
}

/// Takes the events of this task's scope of Thorn `thorn` for a flush, and
/// starts its count of sends and its time of the last flush over; `None`
/// outside such a scope.
pub(super) fn take_events(thorn: u64) -> Option<Vec<PreparedEvent>> {
    with_frame(thorn, |fr| {
        fr.sends = 0;
        fr.last_flush = Instant::now();
        std::mem::take(&mut fr.events)
    })
}

/// Whether this task's scope of Thorn `thorn` holds events and made its
/// `flush_freq` sends, or its `flush_timeout` passed, since the last flush;
/// `false` outside such a scope.
pub(crate) fn flush_due(thorn: u64) -> bool {
    with_frame(thorn, |fr| {
        let by_count = fr.options.flush_freq.is_some_and(|n| fr.sends >= n);
        let by_time = fr
            .options
            .flush_timeout
            .is_some_and(|t| fr.last_flush.elapsed() >= t);
        (by_count || by_time) && !fr.events.is_empty()
    })
    .unwrap_or(false)
}

/// Whether this task is inside a scope of Thorn `thorn`.
pub(crate) fn is_open(thorn: u64) -> bool {
    with_frame(thorn, |_| ()).is_some()
}

/// Runs `fut` in a scope of Thorn `thorn` (which `owner` is), then, for the
/// outermost scope, the flush that `flush` makes. Inside another scope of
/// that Thorn, nothing is flushed at the end and the report is empty.
pub(crate) async fn run<R, F, Fl>(
    owner: &Arc<R>,
    thorn: u64,
    options: BufferOptions,
    fut: F,
    flush: impl FnOnce() -> Fl,
) -> (F::Output, Result<Report>)
where
    R: Rescue + 'static,
    F: Future,
    Fl: Future<Output = Result<Report>>,
{
    if with_frame(thorn, |fr| fr.depth += 1).is_some() {
        let _guard = ScopeGuard { thorn };
        return (fut.await, Ok(Report::default()));
    }
    let frame = Frame {
        thorn,
        depth: 1,
        events: Vec::new(),
        options,
        sends: 0,
        last_flush: Instant::now(),
        owner: Arc::downgrade(owner) as Weak<dyn Rescue>,
    };
    let body = async move {
        let _guard = ScopeGuard { thorn };
        let out = fut.await;
        let report = flush().await;
        (out, report)
    };
    let mut frame = Some(frame);
    let pushed = SCOPES.try_with(|s| {
        if let Some(f) = frame.take() {
            s.borrow_mut().push(f);
        }
    });
    match (pushed, frame) {
        (Ok(()), _) | (Err(_), None) => body.await,
        (Err(_), Some(f)) => SCOPES.scope(RefCell::new(vec![f]), body).await,
    }
}

/// Removes this scope's frame (or one nesting level of it) when the scope
/// ends, also when its future is dropped.
struct ScopeGuard {
    thorn: u64,
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
