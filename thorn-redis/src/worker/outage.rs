//! A run of failed Redis calls of one of the worker's loops: waited out
//! with a growing backoff, and logged once when it starts and once when it
//! ends, so that an outage of minutes is two log lines, not one per try.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use crate::error::Error;

/// A connection the worker calls Redis over. Each reconnects on its own,
/// and each fails once more after Redis is back (its last reconnect failed
/// while Redis was down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// The connection of short commands, shared by the worker's tasks.
    Commands = 1,
    /// The read loop's own connection, for blocking reads.
    Reads = 2,
}

/// The failures in a row of one loop's calls to Redis (reading the queue,
/// settling entries, moving due retries), and the backoff between them.
///
/// An outage ends when every link the loop calls over has answered since
/// its last failure: Redis being back for one connection does not mean the
/// other will not fail once more. The first answer in an outage starts the
/// backoff over, so that the other links are tried again soon; only the
/// first, so that a link that keeps failing while another answers still
/// backs off as long as it fails.
#[derive(Debug)]
pub(super) struct Outage {
    /// What the loop does, for the log (`"reading the queue"`).
    during: &'static str,
    /// The links the loop calls over (a bit per [`Link`]).
    links: u8,
    backoff: Backoff,
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    since: Instant,
    failures: u64,
    /// The links that have not answered since the last failure.
    down: u8,
    /// Whether an answer already started the backoff over.
    sped_up: bool,
}

impl Outage {
    pub(super) fn new(during: &'static str, links: &[Link]) -> Self {
        Outage {
            during,
            links: links.iter().fold(0, |bits, l| bits | *l as u8),
            backoff: Backoff::default(),
            current: None,
        }
    }

    /// Notes a failed call; the first of an outage is logged as a warning,
    /// the rest only at debug level.
    pub(super) fn failed(&mut self, error: &Error) {
        match &mut self.current {
            Some(current) => {
                current.failures += 1;
                current.down = self.links;
                tracing::debug!(during = self.during, failures = current.failures, error = %error, "Redis still failing");
            }
            None => {
                tracing::warn!(during = self.during, error = %error,
                    "Redis failed; retrying with backoff (100 ms doubling to 5 s) until it answers");
                self.current = Some(Current {
                    since: Instant::now(),
                    failures: 1,
                    down: self.links,
                    sped_up: false,
                });
            }
        }
    }

    /// Waits the next backoff step, or until `stop`.
    pub(super) async fn wait(&mut self, stop: &CancellationToken) {
        tokio::select! {
            () = self.sleep() => {}
            () = stop.cancelled() => {}
        }
    }

    /// Waits the next backoff step, said at debug level so that the steps
    /// can be seen growing.
    pub(super) async fn sleep(&mut self) {
        let pause = self.backoff.step();
        tracing::debug!(
            during = self.during,
            wait_ms = pause.as_millis() as u64,
            "waiting before calling Redis again"
        );
        tokio::time::sleep(pause).await;
    }

    /// Starts the backoff over at its shortest step; the outage goes on.
    pub(super) fn reset_backoff(&mut self) {
        self.backoff.reset();
    }

    /// Notes that Redis answered a call over `link`; ends the outage (logged
    /// with its length) when every link has answered since the last failure.
    pub(super) fn answered(&mut self, link: Link) {
        let Some(current) = &mut self.current else {
            return;
        };
        current.down &= !(link as u8);
        if current.down != 0 {
            if !current.sped_up {
                current.sped_up = true;
                self.backoff.reset();
            }
            return;
        }
        let lasted = Duration::from_millis(current.since.elapsed().as_millis() as u64);
        tracing::info!(
            during = self.during,
            ?lasted,
            failures = current.failures,
            "Redis answers again after an outage"
        );
        self.current = None;
        self.backoff.reset();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Link, Outage};
    use crate::error::Error;

    fn down() -> Error {
        Error::Setting {
            name: "test",
            reason: "down".into(),
        }
    }

    #[test]
    fn an_outage_ends_when_every_link_has_answered_since_the_last_failure() {
        let mut outage = Outage::new("testing", &[Link::Commands, Link::Reads]);
        outage.answered(Link::Reads);
        assert!(outage.current.is_none());
        outage.failed(&down());
        outage.failed(&down());
        outage.answered(Link::Commands);
        assert!(outage.current.is_some(), "reads have not answered yet");
        outage.failed(&down());
        outage.answered(Link::Reads);
        assert!(
            outage.current.is_some(),
            "commands failed since they answered"
        );
        outage.answered(Link::Commands);
        assert!(outage.current.is_none());
        outage.failed(&down());
        assert_eq!(outage.current.map(|c| c.failures), Some(1), "a new outage");
    }

    #[test]
    fn only_the_first_answer_of_an_outage_starts_the_backoff_over() {
        let mut outage = Outage::new("testing", &[Link::Commands, Link::Reads]);
        outage.failed(&down());
        for _ in 0..4 {
            outage.backoff.step();
        }
        outage.answered(Link::Commands);
        assert!(outage.backoff.step() <= Duration::from_millis(100));
        // Reads keep failing while commands answer: the backoff grows.
        for _ in 0..4 {
            outage.failed(&down());
            outage.answered(Link::Commands);
            outage.backoff.step();
        }
        assert!(outage.backoff.step() >= Duration::from_millis(800));
    }
}
