//! The worker's cache of decoded subscriptions.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use thorn_core::Subscriber;

/// Subscriptions already decoded, keyed by their stored JSON, so that a
/// worker parses each subscription once rather than once per entry.
/// Bounded: it is emptied when it grows past 10,000.
#[derive(Default)]
pub struct SubscriberCache {
    map: std::sync::Mutex<HashMap<Bytes, Arc<Subscriber>>>,
}

impl fmt::Debug for SubscriberCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberCache").finish_non_exhaustive()
    }
}

impl SubscriberCache {
    const LIMIT: usize = 10_000;

    pub(super) fn get_or_parse(&self, json: &[u8]) -> Result<Arc<Subscriber>, serde_json::Error> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.get(json) {
            return Ok(Arc::clone(s));
        }
        let sub = Arc::new(serde_json::from_slice::<Subscriber>(json)?);
        if map.len() >= Self::LIMIT {
            map.clear();
        }
        // A copy: a slice would keep the whole entry alive.
        map.insert(Bytes::copy_from_slice(json), Arc::clone(&sub));
        Ok(sub)
    }
}
