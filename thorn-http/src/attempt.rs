//! The result of one HTTP attempt and how a response is classified.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

/// What an attempt means for the delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver answered 2xx.
    Success,
    /// Worth trying again: a connection error, a timeout, 408, 429 or 5xx.
    Retryable,
    /// The receiver answered 410 Gone: the subscription should be removed.
    Gone,
    /// Trying again will not help: other 4xx, a redirect that is not
    /// followed, a refusal by the recipient policy, a certificate error.
    Permanent,
}

impl Verdict {
    /// The verdict of an HTTP status (redirects not followed are permanent).
    pub fn of_status(status: StatusCode) -> Self {
        match status.as_u16() {
            200..=299 => Verdict::Success,
            408 | 429 | 500..=599 => Verdict::Retryable,
            410 => Verdict::Gone,
            _ => Verdict::Permanent,
        }
    }
}

/// The outcome of exactly one HTTP attempt.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// What it means for the delivery.
    pub verdict: Verdict,
    /// The response's status, when there was a response.
    pub status: Option<u16>,
    /// The receiver's `Retry-After`, as a delay from now (not clamped).
    pub retry_after: Option<Duration>,
    /// Whether the attempt ran out of time.
    pub timed_out: bool,
    /// Whether the recipient policy refused the target (nothing was sent).
    pub refused: bool,
    /// How long the attempt took.
    pub duration: Duration,
    /// What went wrong, if anything: never holds a secret.
    pub error: Option<String>,
}

impl Attempt {
    /// Whether the receiver answered 2xx.
    pub fn is_success(&self) -> bool {
        self.verdict == Verdict::Success
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.verdict == Verdict::Retryable
    }

    pub(crate) fn failed(verdict: Verdict, error: String, duration: Duration) -> Self {
        Attempt {
            verdict,
            status: None,
            retry_after: None,
            timed_out: false,
            refused: false,
            duration,
            error: Some(error),
        }
    }
}

/// Reads `Retry-After`: delay-seconds or an HTTP date (a date in the past
/// means now).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use http::{HeaderMap, StatusCode};

    use super::{Verdict, retry_after};

    #[test]
    fn statuses_are_classified() {
        let v = |s: u16| Verdict::of_status(StatusCode::from_u16(s).unwrap());
        assert_eq!(v(200), Verdict::Success);
        assert_eq!(v(204), Verdict::Success);
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(v(s), Verdict::Retryable, "{s}");
        }
        assert_eq!(v(410), Verdict::Gone);
        for s in [301, 302, 400, 401, 404, 422] {
            assert_eq!(v(s), Verdict::Permanent, "{s}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(http::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert(http::header::RETRY_AFTER, later.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        h.insert(http::header::RETRY_AFTER, earlier.parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
    }
}
