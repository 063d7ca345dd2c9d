//! Expectations, in the model of wiremock's `Mock::expect`: how many
//! requests a receiver should get on a path or of an event, checked by
//! [`MockReceiver::verify`](super::MockReceiver::verify) and, when nobody
//! did, by the receiver's drop.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use super::request::ReceivedRequest;

/// How many requests of some kind a receiver should get: on a path, of an
/// event (its `Hook-Event`), or both; exactly, at least or at most `n`
/// (at least one unless said otherwise).
///
/// Add it with [`MockReceiver::expect`](super::MockReceiver::expect); it
/// counts the requests that arrive from then on, whatever the receiver
/// answers them (so a retried delivery counts once per attempt).
///
/// ```
/// use thorn_testkit::receiver::Expectation;
/// let billing = Expectation::path("/billing").times(2);
/// let created = Expectation::event("order.created").at_least(1);
/// let nothing_else = Expectation::any().at_most(3);
/// let both = Expectation::path("/billing").with_event("order.cancelled").times(0);
/// assert_eq!(both.to_string(), "requests on path \"/billing\" of event \"order.cancelled\": exactly 0");
/// # let _ = (billing, created, nothing_else);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "an expectation does nothing until given to MockReceiver::expect"]
pub struct Expectation {
    path: Option<String>,
    event: Option<String>,
    times: Times,
}

/// The count an expectation wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Times {
    Exactly(usize),
    AtLeast(usize),
    AtMost(usize),
}

impl Times {
    fn contains(self, n: usize) -> bool {
        match self {
            Times::Exactly(want) => n == want,
            Times::AtLeast(min) => n >= min,
            Times::AtMost(max) => n <= max,
        }
    }
}

impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Times::Exactly(n) => write!(f, "exactly {n}"),
            Times::AtLeast(n) => write!(f, "at least {n}"),
            Times::AtMost(n) => write!(f, "at most {n}"),
        }
    }
}

impl Expectation {
    /// Requests on `path`, compared as
    /// [`MockReceiver::requests_on`](super::MockReceiver::requests_on)
    /// does: the path with its query, if any.
    pub fn path(path: impl Into<String>) -> Self {
        Self::any().with_path(path)
    }

    /// Requests whose `Hook-Event` header is `name`.
    pub fn event(name: impl Into<String>) -> Self {
        Self::any().with_event(name)
    }

    /// Every request, whatever its path or event.
    pub fn any() -> Self {
        Expectation {
            path: None,
            event: None,
            times: Times::AtLeast(1),
        }
    }

    /// Only the requests on `path` among those this one counts.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Only the requests of the event `name` among those this one counts.
    pub fn with_event(mut self, name: impl Into<String>) -> Self {
        self.event = Some(name.into());
        self
    }

    /// Exactly `n` such requests (`0`: none).
    pub fn times(mut self, n: usize) -> Self {
        self.times = Times::Exactly(n);
        self
    }

    /// At least `n` such requests.
    pub fn at_least(mut self, n: usize) -> Self {
        self.times = Times::AtLeast(n);
        self
    }

    /// At most `n` such requests.
    pub fn at_most(mut self, n: usize) -> Self {
        self.times = Times::AtMost(n);
        self
    }

    /// Whether this expectation counts `request`.
    pub fn matches(&self, request: &ReceivedRequest) -> bool {
        self.path.as_deref().is_none_or(|p| request.path == p)
            && self
                .event
                .as_deref()
                .is_none_or(|e| request.event() == Some(e))
    }

    /// Whether `received` such requests meet it.
    pub fn is_met_by(&self, received: usize) -> bool {
        self.times.contains(received)
    }
}

impl Expectation {
    /// What it counts: `requests on path "/orders" of event "order.created"`.
    fn counted(&self) -> impl fmt::Display + '_ {
        struct Counted<'a>(&'a Expectation);
        impl fmt::Display for Counted<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("requests")?;
                if let Some(p) = &self.0.path {
                    write!(f, " on path {p:?}")?;
                }
                if let Some(e) = &self.0.event {
                    write!(f, " of event {e:?}")?;
                }
                if self.0.path.is_none() && self.0.event.is_none() {
                    f.write_str(" of any kind")?;
                }
                Ok(())
            }
        }
        Counted(self)
    }
}

impl fmt::Display for Expectation {
    /// What it counts and how many it wants:
    /// `requests on path "/orders": exactly 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.counted(), self.times)
    }
}

/// A receiver's expectations and what each has counted so far.
#[derive(Debug, Default)]
pub(super) struct Expectations {
    counted: Vec<(Expectation, usize)>,
    /// Whether they were checked since the last one was added: a receiver
    /// dropped unchecked checks them itself.
    checked: bool,
}

impl Expectations {
    pub(super) fn add(&mut self, expectation: Expectation) {
        self.counted.push((expectation, 0));
        self.checked = false;
    }

    /// Counts `request` in every expectation it matches.
    pub(super) fn record(&mut self, request: &ReceivedRequest) {
        for (expectation, n) in &mut self.counted {
            if expectation.matches(request) {
                *n += 1;
            }
        }
    }

    /// Whether a drop should check them: some exist, none checked since.
    pub(super) fn unchecked(&self) -> bool {
        !self.checked && !self.counted.is_empty()
    }

    /// The unmet ones with what each received, in the order they were
    /// added; marks them checked.
    pub(super) fn check(&mut self) -> (Vec<(Expectation, usize)>, usize) {
        self.checked = true;
        let unmet = self
            .counted
            .iter()
            .filter(|(e, n)| !e.is_met_by(*n))
            .cloned()
            .collect();
        (unmet, self.counted.len())
    }
}

/// The expectations of a receiver that were not met, with what each
/// received and a summary of every request recorded. Its `Display` is the
/// message [`MockReceiver::verify`](super::MockReceiver::verify) panics
/// with.
#[derive(Clone, Debug)]
pub struct UnmetExpectations {
    addr: SocketAddr,
    unmet: Vec<(Expectation, usize)>,
    total: usize,
    recorded: Vec<ReceivedKind>,
}

/// Requests of one path and event, counted for the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ReceivedKind {
    path: String,
    event: Option<String>,
    count: usize,
}

/// How many kinds of request the summary lists before it cuts short.
const SUMMARY_KINDS: usize = 20;

impl UnmetExpectations {
    pub(super) fn new(
        addr: SocketAddr,
        unmet: Vec<(Expectation, usize)>,
        total: usize,
        requests: &[ReceivedRequest],
    ) -> Self {
        let mut recorded: Vec<ReceivedKind> = Vec::new();
        let mut index: HashMap<(&str, Option<&str>), usize> = HashMap::new();
        for r in requests {
            let key = (r.path.as_str(), r.event());
            match index.get(&key) {
                Some(&i) => recorded[i].count += 1,
                None => {
                    index.insert(key, recorded.len());
                    recorded.push(ReceivedKind {
                        path: r.path.clone(),
                        event: r.event().map(String::from),
                        count: 1,
                    });
                }
            }
        }
        UnmetExpectations {
            addr,
            unmet,
            total,
            recorded,
        }
    }

    /// The unmet expectations, each with how many requests it counted.
    pub fn unmet(&self) -> impl Iterator<Item = (&Expectation, usize)> {
        self.unmet.iter().map(|(e, n)| (e, *n))
    }
}

impl fmt::Display for UnmetExpectations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.total == 1 { "" } else { "s" };
        writeln!(
            f,
            "MockReceiver on {}: {} of {} expectation{s} unmet",
            self.addr,
            self.unmet.len(),
            self.total
        )?;
        for (expectation, received) in &self.unmet {
            let (counted, times) = (expectation.counted(), expectation.times);
            writeln!(f, "  - {counted}: expected {times}, received {received}")?;
        }
        let n: usize = self.recorded.iter().map(|k| k.count).sum();
        write!(f, "requests recorded: {n}")?;
        for kind in self.recorded.iter().take(SUMMARY_KINDS) {
            write!(f, "\n  - {} × {}", kind.count, kind.path)?;
            match &kind.event {
                Some(e) => write!(f, ", event {e:?}")?,
                None => f.write_str(", no Hook-Event")?,
            }
        }
        if self.recorded.len() > SUMMARY_KINDS {
            write!(
                f,
                "\n  - and {} more kinds",
                self.recorded.len() - SUMMARY_KINDS
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for UnmetExpectations {}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method, Version};

    use super::{Expectation, Expectations, UnmetExpectations};
    use crate::receiver::ReceivedRequest;

    fn request(path: &str, event: Option<&'static str>) -> ReceivedRequest {
        let mut headers = HeaderMap::new();
        if let Some(e) = event {
            headers.insert("hook-event", HeaderValue::from_static(e));
        }
        ReceivedRequest {
            method: Method::POST,
            path: path.into(),
            version: Version::HTTP_11,
            headers,
            body: Bytes::new(),
            connection: 1,
            received_at: std::time::Instant::now(),
            signature_ok: None,
        }
    }

    #[test]
    fn matches_by_path_event_or_both() {
        let created = request("/orders", Some("order.created"));
        let cancelled = request("/orders", Some("order.cancelled"));
        let other = request("/orders?page=2", None);
        assert!(Expectation::path("/orders").matches(&created));
        assert!(
            !Expectation::path("/orders").matches(&other),
            "the query is part of the path"
        );
        assert!(Expectation::event("order.created").matches(&created));
        assert!(!Expectation::event("order.created").matches(&cancelled));
        assert!(!Expectation::event("order.created").matches(&other));
        let both = Expectation::path("/orders").with_event("order.cancelled");
        assert!(both.matches(&cancelled) && !both.matches(&created));
        assert!(
            [&created, &cancelled, &other]
                .iter()
                .all(|r| Expectation::any().matches(r))
        );
    }

    #[test]
    fn counts_are_exact_at_least_or_at_most() {
        let e = Expectation::any();
        assert!(!e.is_met_by(0) && e.is_met_by(1), "at least one by default");
        let e = Expectation::any().times(2);
        assert!(!e.is_met_by(1) && e.is_met_by(2) && !e.is_met_by(3));
        let e = Expectation::any().at_least(2);
        assert!(!e.is_met_by(1) && e.is_met_by(2) && e.is_met_by(9));
        let e = Expectation::any().at_most(1);
        assert!(e.is_met_by(0) && e.is_met_by(1) && !e.is_met_by(2));
        assert!(Expectation::any().times(0).is_met_by(0));
    }

    #[test]
    fn the_message_lists_each_unmet_expectation_and_what_was_recorded() {
        let mut expectations = Expectations::default();
        expectations.add(Expectation::path("/orders").times(2));
        expectations.add(Expectation::event("order.created").at_least(1));
        expectations.add(Expectation::event("order.cancelled").times(1));
        let requests = [
            request("/orders", Some("order.cancelled")),
            request("/other", None),
            request("/other", None),
        ];
        requests.iter().for_each(|r| expectations.record(r));
        assert!(expectations.unchecked());
        let (unmet, total) = expectations.check();
        assert!(!expectations.unchecked(), "checked until one more is added");
        let addr = "127.0.0.1:4000".parse().unwrap();
        let message = UnmetExpectations::new(addr, unmet, total, &requests).to_string();
        assert_eq!(
            message,
            "MockReceiver on 127.0.0.1:4000: 2 of 3 expectations unmet\n\
             \x20 - requests on path \"/orders\": expected exactly 2, received 1\n\
             \x20 - requests of event \"order.created\": expected at least 1, received 0\n\
             requests recorded: 3\n\
             \x20 - 1 × /orders, event \"order.cancelled\"\n\
             \x20 - 2 × /other, no Hook-Event"
        );
        expectations.add(Expectation::any());
        assert!(expectations.unchecked(), "a new expectation is unchecked");
    }
}
