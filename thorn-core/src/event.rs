//! Events: a validated name and the data sent with it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result, excerpt};
use crate::subscriber::Subscriber;

/// A validated event name: dot-separated segments of `[A-Za-z0-9_-]`,
/// such as `article.created`.
///
/// Cloning is cheap (the text is shared).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventName(Arc<str>);

impl EventName {
    /// The longest name, in bytes (patterns too).
    pub const MAX_BYTES: usize = 255;

    /// A regular expression of the names [`new`](Self::new) accepts (up
    /// to [`MAX_BYTES`](Self::MAX_BYTES)), for schemas and other
    /// validators.
    pub const REGEX: &'static str = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$";

    /// Validates `name`.
    ///
    /// ```
    /// use thorn_core::EventName;
    /// assert!(EventName::new("article.created").is_ok());
    /// assert!(EventName::new("article..created").is_err());
    /// ```
    pub fn new(name: impl AsRef<str>) -> Result<Self> {
        let name = name.as_ref();
        check_segments(name, "event name", false)?;
        Ok(EventName(Arc::from(name)))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name's segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EventName::new(s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EventName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for EventName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A name compares with text as its text does, so tests can write
/// `assert_eq!(delivery.event, "order.created")`.
///
/// ```
/// use thorn_core::EventName;
/// let name = EventName::new("order.created").unwrap();
/// assert_eq!(name, "order.created");
/// assert_eq!("order.created", name);
/// assert_ne!(name, String::from("order.cancelled"));
/// ```
impl PartialEq<str> for EventName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for EventName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for EventName {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<EventName> for str {
    fn eq(&self, other: &EventName) -> bool {
        self == &*other.0
    }
}

impl PartialEq<EventName> for &str {
    fn eq(&self, other: &EventName) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<EventName> for String {
    fn eq(&self, other: &EventName) -> bool {
        **self == *other.0
    }
}

/// Checks dot-separated segments; `allow_star` admits `*` as a whole segment.
pub(crate) fn check_segments(text: &str, what: &'static str, allow_star: bool) -> Result<()> {
    let fail = |reason: String| Error::InvalidName {
        what,
        value: excerpt(text),
        reason,
    };
    if text.is_empty() {
        return Err(fail(
            "it is empty; use dot-separated segments such as `article.created`".into(),
        ));
    }
    if text.len() > EventName::MAX_BYTES {
        return Err(fail(format!(
            "it is longer than {} bytes",
            EventName::MAX_BYTES
        )));
    }
    for (i, seg) in text.split('.').enumerate() {
        if seg.is_empty() {
            return Err(fail(format!(
                "segment {} is empty; segments are separated by single dots",
                i + 1
            )));
        }
        if allow_star && seg == "*" {
            continue;
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            let allowed = if allow_star {
                "letters, digits, `_`, `-`, or a whole segment `*`"
            } else {
                "letters, digits, `_` and `-`"
            };
            return Err(fail(format!(
                "segment {:?} contains {c:?}; segments may hold only {allowed}",
                excerpt(seg)
            )));
        }
    }
    Ok(())
}

/// One event to send: a name, its data and options for this one send.
///
/// ```
/// use thorn_core::Event;
/// let event = Event::new("article.created", serde_json::json!({"id": 1}))
///     .unwrap()
///     .sender("user1");
/// assert_eq!(event.name().as_str(), "article.created");
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) name: EventName,
    pub(crate) data: serde_json::Value,
    pub(crate) sender: Option<Arc<str>>,
    pub(crate) reference: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) extra: Vec<Arc<Subscriber>>,
    /// Whether the store's matching subscriptions receive it (not when it
    /// is sent [`only_to`](Event::only_to) given subscribers).
    pub(crate) matched: bool,
    /// A stable id and the time the event was first sent, when it has
    /// them: delivery ids are then derived from it.
    pub(crate) id: Option<(Uuid, SystemTime)>,
}

impl Event {
    /// An event named `name` carrying `data`.
    pub fn new(name: impl AsRef<str>, data: serde_json::Value) -> Result<Self> {
        Ok(Self::with_name(EventName::new(name)?, data))
    }

    /// An event from an already validated name.
    pub fn with_name(name: EventName, data: serde_json::Value) -> Self {
        Event {
            name,
            data,
            sender: None,
            reference: None,
            timeout: None,
            extra: Vec::new(),
            matched: true,
            id: None,
        }
    }

    /// An event whose data is any serialisable value.
    pub fn from_serialize<T: Serialize + ?Sized>(name: impl AsRef<str>, data: &T) -> Result<Self> {
        let name = EventName::new(name)?;
        let data = serde_json::to_value(data).map_err(|e| Error::Encode {
            event: name.to_string(),
            content_type: "application/json",
            reason: e.to_string(),
        })?;
        Ok(Self::with_name(name, data))
    }

    /// The owner id of whoever sends this event: only subscriptions of that
    /// owner match it.
    pub fn sender(mut self, owner: impl Into<Arc<str>>) -> Self {
        self.sender = Some(owner.into());
        self
    }

    /// A reference (such as the URL of the changed object) carried in the
    /// envelope's `ref` field.
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// The timeout of each HTTP attempt for this event, instead of
    /// `THORN_EVENT_TIMEOUT`; brought within that setting's range (1 ms to
    /// 24 h).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(crate::config::parse::clamp_duration(timeout));
        self
    }

    /// A subscriber that receives this one send in addition to the matching
    /// subscriptions.
    pub fn also_to(mut self, subscriber: impl Into<Arc<Subscriber>>) -> Self {
        self.extra.push(subscriber.into());
        self
    }

    /// Sends this event to `subscriber` only, whatever the store's
    /// subscriptions match (a test ping to one subscription, say); call
    /// [`also_to`](Self::also_to) for more.
    pub fn only_to(mut self, subscriber: impl Into<Arc<Subscriber>>) -> Self {
        self.matched = false;
        self.extra.push(subscriber.into());
        self
    }

    /// Gives the event a stable `id` and the time it was first `sent`:
    /// each delivery's id is then derived from them and the subscription
    /// ([`delivery::derived_id`](crate::delivery::derived_id)), so that
    /// sending the same event again (a relay after a crash) repeats each
    /// delivery under the id it had, and receivers can deduplicate.
    pub fn with_id(mut self, id: Uuid, sent: SystemTime) -> Self {
        self.id = Some((id, sent));
        self
    }

    /// The event's name.
    pub fn name(&self) -> &EventName {
        &self.name
    }

    /// The event's data.
    pub fn data(&self) -> &serde_json::Value {
        &self.data
    }

    /// The sender's owner id, if any.
    pub fn sender_id(&self) -> Option<&str> {
        self.sender.as_deref()
    }

    /// The reference given with [`reference`](Self::reference), if any.
    pub fn reference_text(&self) -> Option<&str> {
        self.reference.as_deref()
    }

    /// The per-attempt timeout given with [`timeout`](Self::timeout), if
    /// any.
    pub fn timeout_value(&self) -> Option<Duration> {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::EventName;

    #[test]
    fn names() {
        for ok in ["a", "article.created", "A-b_c.9", "x.y.z.w"] {
            assert!(EventName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "a b", "a.*", "ä.b", "a/b"] {
            let err = EventName::new(bad).unwrap_err();
            assert!(err.is_invalid_input());
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn a_name_compares_with_its_text() {
        let name = EventName::new("order.created").unwrap();
        assert_eq!(name, "order.created");
        assert_eq!(name, *"order.created");
        assert_eq!(name, String::from("order.created"));
        assert_eq!("order.created", name);
        assert_eq!(String::from("order.created"), name);
        assert_ne!(name, "order.cancelled");
        let names = [name.clone()];
        assert!(names.iter().any(|n| n == "order.created"));
        let set: std::collections::HashSet<EventName> = names.into_iter().collect();
        assert!(set.contains("order.created"));
    }

    #[test]
    fn a_huge_name_is_shown_in_part() {
        for name in ["a".repeat(10_000), format!("{}!", "b".repeat(200))] {
            let err = EventName::new(&name).unwrap_err();
            let text = err.to_string();
            assert!(text.len() < 300, "{} bytes: {text}", text.len());
            assert!(
                text.contains(&format!("({} characters)", name.len())),
                "{text}"
            );
            assert!(format!("{err:?}").len() < 400);
        }
        let err = crate::Registry::new()
            .build_named(&"x".repeat(5_000), &crate::Config::default())
            .unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
        let err = crate::Config::builder()
            .var("THORN_CHUNKSIZE", "no spaces ".repeat(500))
            .build()
            .unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
    }
}
