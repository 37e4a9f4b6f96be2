//! Memory tier: verified blocks by content hash, least recently used evicted first, bounded by
//! bytes (not entries: blocks range from a few bytes to 256 KiB).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use lru::LruCache;

use crate::arweave::Hash;

pub struct MemoryTier {
    budget: u64,
    inner: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

struct Lru {
    blocks: LruCache<Hash, Bytes>,
    bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub blocks: u64,
    pub bytes: u64,
    pub budget: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

impl MemoryTier {
    pub fn new(budget: u64) -> Self {
        MemoryTier {
            budget,
            inner: Mutex::new(Lru {
                blocks: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &Hash) -> Option<Bytes> {
        let found = self.inner.lock().unwrap().blocks.get(key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Relaxed);
        found
    }

    /// Whether `key` is held, without counting a hit or refreshing it.
    pub fn contains(&self, key: &Hash) -> bool {
        self.inner.lock().unwrap().blocks.contains(key)
    }

    /// Keeps `data` unless it alone exceeds the budget; evicts the oldest to make room.
    pub fn put(&self, key: Hash, data: Bytes) {
        let size = data.len() as u64;
        if size > self.budget {
            return;
        }
        let mut lru = self.inner.lock().unwrap();
        if let Some(old) = lru.blocks.put(key, data) {
            lru.bytes -= old.len() as u64;
        }
        lru.bytes += size;
        while lru.bytes > self.budget {
            let Some((_, evicted)) = lru.blocks.pop_lru() else {
                break;
            };
            lru.bytes -= evicted.len() as u64;
            self.evictions.fetch_add(1, Relaxed);
        }
    }

    pub fn stats(&self) -> MemoryStats {
        let lru = self.inner.lock().unwrap();
        MemoryStats {
            blocks: lru.blocks.len() as u64,
            bytes: lru.bytes,
            budget: self.budget,
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_bytes_and_least_recent_goes_first() {
        let tier = MemoryTier::new(1000);
        for i in 0..5u8 {
            tier.put([i; 32], Bytes::from(vec![i; 300]));
            assert!(tier.stats().bytes <= 1000);
        }
        // 0 and 1 were evicted; touching 2 makes 3 the next victim.
        assert!(tier.get(&[0; 32]).is_none());
        assert_eq!(tier.get(&[2; 32]).unwrap()[0], 2);
        tier.put([9; 32], Bytes::from(vec![9; 300]));
        assert!(tier.get(&[3; 32]).is_none());
        assert!(tier.get(&[2; 32]).is_some());
        // A block larger than the whole budget is not kept and evicts nothing.
        tier.put([7; 32], Bytes::from(vec![7; 2000]));
        assert!(tier.get(&[7; 32]).is_none());
        assert!(tier.get(&[9; 32]).is_some());
        let stats = tier.stats();
        assert_eq!((stats.blocks, stats.bytes, stats.evictions), (3, 900, 3));
    }
}
