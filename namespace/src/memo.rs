//! Bounded memos of what the mount has shown (header JSON, block JSON, manifest trees): the
//! most recently used values within a count and a byte budget. Names come from whoever
//! looks things up, ids and heights are unbounded, so a memo that only grows is a way to
//! fill memory one lookup at a time.

use std::hash::Hash;
use std::sync::Mutex;

use lru::LruCache;

pub struct Memo<K, V> {
    /// For the debug log.
    name: &'static str,
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    /// Values with their weight in bytes, least recently used first out.
    lru: LruCache<K, (V, usize)>,
    bytes: usize,
}

impl<K: Hash + Eq + Copy, V: Clone> Memo<K, V> {
    pub fn new(name: &'static str, max_entries: usize, max_bytes: usize) -> Self {
        Memo {
            name,
            max_entries,
            max_bytes,
            inner: Mutex::new(Inner {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.inner
            .lock()
            .unwrap()
            .lru
            .get(key)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value`, which weighs `bytes`, dropping the least recently used beyond the
    /// budget. A value heavier than the whole budget is not kept (it is asked for again).
    pub fn insert(&self, key: K, value: V, bytes: usize) {
        if bytes > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap();
        if let Some((_, old)) = inner.lru.put(key, (value, bytes)) {
            inner.bytes -= old;
        }
        inner.bytes += bytes;
        while inner.lru.len() > self.max_entries || inner.bytes > self.max_bytes {
            let (_, (_, dropped)) = inner.lru.pop_lru().expect("over budget means not empty");
            inner.bytes -= dropped;
        }
        tracing::debug!(
            memo = self.name,
            entries = inner.lru.len(),
            bytes = inner.bytes,
            "memo"
        );
    }

    /// The keys held, in no particular order.
    pub fn keys(&self) -> Vec<K> {
        let inner = self.inner.lock().unwrap();
        inner.lru.iter().map(|(key, _)| *key).collect()
    }

    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap();
        (inner.lru.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_within_count_and_bytes() {
        let memo: Memo<u64, Vec<u8>> = Memo::new("test", 3, 100);
        for key in 0..10 {
            memo.insert(key, vec![key as u8; 10], 10);
        }
        assert_eq!(memo.usage(), (3, 30), "count bound");
        let mut keys = memo.keys();
        keys.sort();
        assert_eq!(keys, [7, 8, 9]);

        // Using a value makes it recent: 7 stays, 8 goes.
        assert_eq!(memo.get(&7), Some(vec![7; 10]));
        memo.insert(10, vec![0; 60], 60);
        assert_eq!(memo.usage(), (3, 80));
        assert_eq!(memo.get(&8), None);
        assert!(memo.get(&7).is_some() && memo.get(&9).is_some());

        // Bytes bound: a heavy value pushes out as many as it needs, least recent first
        // (10, then 7; 9 was used last).
        memo.insert(11, vec![0; 90], 90);
        assert_eq!(memo.usage(), (2, 100));
        let mut keys = memo.keys();
        keys.sort();
        assert_eq!(keys, [9, 11]);

        // Heavier than the whole budget: not kept, nothing dropped for it.
        memo.insert(12, vec![0; 101], 101);
        assert_eq!(memo.get(&12), None);
        assert_eq!(memo.usage(), (2, 100));

        // Replacing a key does not count it twice.
        memo.insert(11, vec![0; 5], 5);
        assert_eq!(memo.usage(), (2, 15));
    }
}
