//! Numbering what deliveries share, so that the encoder stores each once.

use std::collections::HashMap;

/// Numbers distinct keys in the order they are first seen: by a scan while
/// there are few (the usual entry: one body, one subscription), through a
/// map once there are many.
#[derive(Debug)]
pub(super) struct Interner<K> {
    keys: Vec<K>,
    index: HashMap<K, u32>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Interner {
            keys: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash> Interner<K> {
    /// Up to this many keys, a scan is cheaper than hashing.
    const SCAN: usize = 16;

    /// The key's number, and whether it is new.
    pub(super) fn intern(&mut self, key: K) -> (u32, bool) {
        let next = self.keys.len() as u32;
        if self.keys.len() < Self::SCAN {
            // The latest key first: deliveries sharing one come in a run.
            if let Some(i) = self.keys.iter().rposition(|k| *k == key) {
                return (i as u32, false);
            }
        } else {
            if self.index.is_empty() {
                self.index = self.keys.iter().copied().zip(0..).collect();
            }
            if let Some(i) = self.index.get(&key) {
                return (*i, false);
            }
            self.index.insert(key, next);
        }
        self.keys.push(key);
        (next, true)
    }

    pub(super) fn clear(&mut self) {
        self.keys.clear();
        self.index.clear();
    }
}
