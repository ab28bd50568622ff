//! A small in-memory cache whose entries expire after a fixed time.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ExpiringCache<K, V> {
    time_to_live: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> ExpiringCache<K, V> {
    pub fn new(time_to_live: Duration) -> Self {
        ExpiringCache {
            time_to_live,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(key)
            .filter(|(stored_at, _)| stored_at.elapsed() < self.time_to_live)
            .map(|(_, value)| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|_, (stored_at, _)| stored_at.elapsed() < self.time_to_live);
        entries.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_fresh_entries_and_forgets_expired_ones() {
        let cache = ExpiringCache::new(Duration::from_millis(30));
        cache.insert("packager", true);
        assert_eq!(cache.get(&"packager"), Some(true));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"packager"), None);
    }
}
