//! Scripting the receiver: the answers it gives, in order, per path or
//! for any path.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Bytes,
    pub(super) delay: Option<Duration>,
    pub(super) action: Action,
}

/// What the receiver does with a request once it is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    Answer,
    Close,
    Hang,
}

impl Reply {
    /// Answers with `status` and an empty body.
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: None,
            action: Action::Answer,
        }
    }

    /// Closes the connection without answering.
    pub fn close() -> Self {
        Reply {
            action: Action::Close,
            ..Reply::status(200)
        }
    }

    /// Never answers (until the receiver is dropped).
    pub fn hang() -> Self {
        Reply {
            action: Action::Hang,
            ..Reply::status(200)
        }
    }

    /// Adds a response header (such as `Retry-After` or `Location`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the response body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Waits `delay` before answering (or closing).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// The replies queued for the next requests.
#[derive(Default)]
pub(super) struct Script {
    pub(super) by_path: HashMap<String, VecDeque<Reply>>,
    pub(super) any: VecDeque<Reply>,
    pub(super) otherwise: Option<Reply>,
}

impl Script {
    /// The reply to the next request on `path`: its path's script first,
    /// then the path-less one, then the reply once both are used up.
    pub(super) fn next_reply(&mut self, path: &str) -> Reply {
        if let Some(r) = self.by_path.get_mut(path).and_then(VecDeque::pop_front) {
            return r;
        }
        if let Some(r) = self.any.pop_front() {
            return r;
        }
        self.otherwise.clone().unwrap_or_else(|| Reply::status(200))
    }
}
