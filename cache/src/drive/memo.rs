//! What the Drive keeps in memory about ids (transaction records, data items, manifests):
//! least recently used first out, bounded by count and by an estimate of bytes, because every
//! id a reader names (or a hostile manifest lists) would otherwise stay for the process's life.
//! Dropping an entry only costs a reload from the cache directory or the network.

use std::num::NonZeroUsize;

use lru::LruCache;

use crate::arweave::TxId;

pub(crate) struct Memo<V> {
    entries: LruCache<TxId, (V, u64)>,
    bytes: u64,
    max_bytes: u64,
}

impl<V: Clone> Memo<V> {
    pub fn new(max_entries: usize, max_bytes: u64) -> Self {
        Memo {
            entries: LruCache::new(NonZeroUsize::new(max_entries.max(1)).expect("at least 1")),
            bytes: 0,
            max_bytes,
        }
    }

    pub fn get(&mut self, id: &TxId) -> Option<V> {
        self.entries.get(id).map(|(v, _)| v.clone())
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.entries.contains(id)
    }

    /// Keeps `value`, of about `bytes`, evicting the least recently used past either bound.
    /// One entry larger than the byte bound is not kept at all.
    pub fn put(&mut self, id: TxId, value: V, bytes: u64) {
        self.pop(&id);
        if bytes > self.max_bytes {
            return;
        }
        if let Some((_, (_, old))) = self.entries.push(id, (value, bytes)) {
            self.bytes -= old;
        }
        self.bytes += bytes;
        while self.bytes > self.max_bytes {
            let Some((_, (_, old))) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= old;
        }
    }

    pub fn pop(&mut self, id: &TxId) -> Option<V> {
        let (value, bytes) = self.entries.pop(id)?;
        self.bytes -= bytes;
        Some(value)
    }

    pub fn keys(&self) -> Vec<TxId> {
        self.entries.iter().map(|(k, _)| *k).collect()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count_and_bytes_least_recent_first() {
        let id = |n: u8| TxId([n; 32]);
        let mut memo = Memo::new(3, 100);
        for n in 0..3 {
            memo.put(id(n), n, 10);
        }
        assert_eq!(memo.get(&id(0)), Some(0));
        memo.put(id(3), 3, 10);
        assert_eq!(memo.len(), 3);
        assert!(!memo.contains(&id(1)), "the least recently used went first");
        memo.put(id(4), 4, 85);
        assert_eq!(memo.bytes, 95, "bytes bound: the oldest went until it fit");
        assert!(memo.contains(&id(4)) && memo.contains(&id(3)) && !memo.contains(&id(0)));
        memo.put(id(5), 5, 101);
        assert!(!memo.contains(&id(5)), "larger than the bound: not kept");
        assert_eq!(memo.pop(&id(4)), Some(4));
        assert_eq!(memo.pop(&id(3)), Some(3));
        assert_eq!(memo.len(), 0);
        memo.put(id(6), 6, 100);
        memo.put(id(6), 7, 50);
        assert_eq!((memo.get(&id(6)), memo.bytes), (Some(7), 50));
    }
}
