//! Subscription patterns and the index that matches event names against them.
//!
//! A pattern is dot-separated segments; `*` matches one segment, a trailing
//! `*` matches one or more, and a lone `*` matches every event. The index is a
//! trie over segments, so matching costs in proportion to the event name's
//! length and the number of matches, not to the number of subscriptions.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Result;
use crate::event::{EventName, check_segments};
use crate::subscriber::Subscriber;

/// A validated subscription pattern such as `article.*` or `*.created`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Pattern(Arc<str>);

impl Pattern {
    /// A regular expression of the patterns [`new`](Self::new) accepts (up
    /// to [`EventName::MAX_BYTES`]), for schemas and other validators.
    pub const REGEX: &'static str = r"^(\*|[A-Za-z0-9_-]+)(\.(\*|[A-Za-z0-9_-]+))*$";

    /// Validates `pattern`.
    pub fn new(pattern: impl AsRef<str>) -> Result<Self> {
        let p = pattern.as_ref();
        check_segments(p, "event pattern", true)?;
        Ok(Pattern(Arc::from(p)))
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` matches, without an index.
    ///
    /// ```
    /// use thorn_core::{EventName, Pattern};
    /// let p = Pattern::new("foo.*").unwrap();
    /// assert!(p.matches(&EventName::new("foo.created").unwrap()));
    /// assert!(!p.matches(&EventName::new("foo").unwrap()));
    /// ```
    pub fn matches(&self, name: &EventName) -> bool {
        let pat: Vec<&str> = self.0.split('.').collect();
        let ev: Vec<&str> = name.segments().collect();
        for (i, p) in pat.iter().enumerate() {
            let last = i + 1 == pat.len();
            match ev.get(i) {
                None => return false,
                Some(_) if *p == "*" && last => return true,
                Some(e) if *p == "*" || p == e => {}
                Some(_) => return false,
            }
        }
        pat.len() == ev.len()
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Pattern::new(s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<Box<str>, Node>,
    star: Option<Box<Node>>,
    /// Subscriptions whose pattern ends at this node.
    here: Vec<Arc<Subscriber>>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.here.is_empty() && self.literal.is_empty() && self.star.is_none()
    }
}

/// A trie of subscriptions keyed by pattern segments.
///
/// ```
/// use thorn_core::{EventName, Subscriber, SubscriptionIndex};
/// let mut index = SubscriptionIndex::default();
/// index.insert(Subscriber::builder("foo.*", "https://a.example/", "k").build().unwrap());
/// index.insert(Subscriber::builder("bar.*", "https://b.example/", "k").build().unwrap());
/// let hits = index.matching(&EventName::new("foo.created").unwrap(), None);
/// assert_eq!(hits.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    root: Node,
    by_id: HashMap<Uuid, Arc<Subscriber>>,
}

impl SubscriptionIndex {
    /// Adds (or replaces, by id) a subscription.
    pub fn insert(&mut self, sub: impl Into<Arc<Subscriber>>) {
        let sub = sub.into();
        self.remove(sub.id);
        let mut node = &mut self.root;
        for seg in sub.pattern.as_str().split('.') {
            node = if seg == "*" {
                node.star.get_or_insert_with(Box::default)
            } else {
                node.literal.entry(Box::from(seg)).or_default()
            };
        }
        node.here.push(Arc::clone(&sub));
        self.by_id.insert(sub.id, sub);
    }

    /// Removes a subscription by id, returning it.
    pub fn remove(&mut self, id: Uuid) -> Option<Arc<Subscriber>> {
        let sub = self.by_id.remove(&id)?;
        let segs: Vec<&str> = sub.pattern.as_str().split('.').collect();
        remove_at(&mut self.root, &segs, id);
        Some(sub)
    }

    /// The subscription with this id.
    pub fn get(&self, id: Uuid) -> Option<&Arc<Subscriber>> {
        self.by_id.get(&id)
    }

    /// How many subscriptions the index holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the index holds none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every subscription, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Subscriber>> {
        self.by_id.values()
    }

    /// The subscriptions matching `name`; with a `sender`, only those whose
    /// owner is the sender.
    pub fn matching(&self, name: &EventName, sender: Option<&str>) -> Vec<Arc<Subscriber>> {
        let mut out = Vec::new();
        self.matching_into(name, sender, &mut out);
        out
    }

    /// Like [`matching`](Self::matching), appending to `out`.
    pub fn matching_into(
        &self,
        name: &EventName,
        sender: Option<&str>,
        out: &mut Vec<Arc<Subscriber>>,
    ) {
        // Event names are short: a small fixed array keeps the walk free of
        // allocation for up to 16 segments.
        let mut buf: [&str; 16] = [""; 16];
        let mut n = 0;
        let mut spill = Vec::new();
        for seg in name.segments() {
            if n < buf.len() {
                buf[n] = seg;
            } else {
                if spill.is_empty() {
                    spill.extend_from_slice(&buf);
                }
                spill.push(seg);
            }
            n += 1;
        }
        let segs: &[&str] = if spill.is_empty() { &buf[..n] } else { &spill };
        walk(&self.root, segs, sender, out);
    }
}

fn keep(sub: &Subscriber, sender: Option<&str>) -> bool {
    if !sub.enabled {
        return false;
    }
    match sender {
        None => true,
        Some(s) => sub.owner.as_deref() == Some(s),
    }
}

fn push_all(subs: &[Arc<Subscriber>], sender: Option<&str>, out: &mut Vec<Arc<Subscriber>>) {
    out.extend(subs.iter().filter(|s| keep(s, sender)).cloned());
}

fn walk(node: &Node, rest: &[&str], sender: Option<&str>, out: &mut Vec<Arc<Subscriber>>) {
    let Some((head, tail)) = rest.split_first() else {
        push_all(&node.here, sender, out);
        return;
    };
    if let Some(child) = node.literal.get(*head) {
        walk(child, tail, sender, out);
    }
    if let Some(star) = &node.star {
        // A pattern ending in this `*` matches one or more remaining segments.
        push_all(&star.here, sender, out);
        if !tail.is_empty() {
            walk(star, tail, sender, out);
        }
    }
}

fn remove_at(node: &mut Node, segs: &[&str], id: Uuid) {
    match segs.split_first() {
        None => node.here.retain(|s| s.id != id),
        Some((&"*", tail)) => {
            if let Some(star) = node.star.as_mut() {
                remove_at(star, tail, id);
                if star.is_empty() {
                    node.star = None;
                }
            }
        }
        Some((head, tail)) => {
            if let Some(child) = node.literal.get_mut(*head) {
                remove_at(child, tail, id);
                if child.is_empty() {
                    node.literal.remove(*head);
                }
            }
        }
    }
}
