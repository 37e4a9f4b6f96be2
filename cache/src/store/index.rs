//! In-memory index of one process's view of the disk tier: sizes, recency and pins.
//!
//! Pinned blocks live outside the LRU list, so eviction pops the LRU head in O(1) and never has
//! to skip over pinned entries.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use lru::LruCache;

use super::block_file::BlockKey;

/// A hit rewrites a block's mtime at most this often, so recency survives restarts cheaply.
pub(super) const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    /// Last recency recorded on disk (mtime), to rate-limit touches.
    touched: SystemTime,
}

#[derive(Debug)]
struct Pin {
    count: u32,
    /// `None` while the pinned block is not (or no longer) on disk.
    entry: Option<Entry>,
}

pub(super) struct Index {
    /// Unpinned blocks, least recently used first.
    lru: LruCache<BlockKey, Entry>,
    pinned: HashMap<BlockKey, Pin>,
    blocks: u64,
    bytes: u64,
}

impl Index {
    pub(super) fn new() -> Index {
        Index {
            lru: LruCache::unbounded(),
            pinned: HashMap::new(),
            blocks: 0,
            bytes: 0,
        }
    }

    pub(super) fn blocks(&self) -> u64 {
        self.blocks
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records a block on disk, as most recently used. Returns false if it was already known.
    pub(super) fn insert(&mut self, key: &BlockKey, size: u64, touched: SystemTime) -> bool {
        let entry = Entry { size, touched };
        if let Some(pin) = self.pinned.get_mut(key) {
            if pin.entry.is_some() {
                return false;
            }
            pin.entry = Some(entry);
        } else if self.lru.get(key).is_some() {
            return false;
        } else {
            self.lru.push(*key, entry);
        }
        self.blocks += 1;
        self.bytes += size;
        true
    }

    /// Records a read hit; returns true if the caller should refresh the file's mtime.
    pub(super) fn hit(&mut self, key: &BlockKey, size: u64, now: SystemTime) -> bool {
        if self.insert(key, size, now) {
            return false;
        }
        let entry = match self.pinned.get_mut(key) {
            Some(pin) => pin.entry.as_mut(),
            None => self.lru.get_mut(key),
        };
        let Some(entry) = entry else { return false };
        // A clock that went backwards (Err) also gets a fresh mtime.
        let stale = now
            .duration_since(entry.touched)
            .map_or(true, |age| age >= TOUCH_INTERVAL);
        if stale {
            entry.touched = now;
        }
        stale
    }

    /// Forgets a block (pins stay). Returns its size if it was known.
    pub(super) fn remove(&mut self, key: &BlockKey) -> Option<u64> {
        let entry = match self.pinned.get_mut(key) {
            Some(pin) => pin.entry.take(),
            None => self.lru.pop(key),
        }?;
        self.blocks -= 1;
        self.bytes -= entry.size;
        Some(entry.size)
    }

    pub(super) fn pin(&mut self, key: &BlockKey) {
        if let Some(pin) = self.pinned.get_mut(key) {
            pin.count += 1;
            return;
        }
        let entry = self.lru.pop(key);
        self.pinned.insert(*key, Pin { count: 1, entry });
    }

    /// Drops one pin; the last one returns the block to the LRU list as most recently used.
    pub(super) fn unpin(&mut self, key: &BlockKey) {
        let Some(pin) = self.pinned.get_mut(key) else {
            return;
        };
        pin.count -= 1;
        if pin.count > 0 {
            return;
        }
        if let Some(Pin {
            entry: Some(entry), ..
        }) = self.pinned.remove(key)
        {
            self.lru.push(*key, entry);
        }
    }

    pub(super) fn is_pinned(&self, key: &BlockKey) -> bool {
        self.pinned.contains_key(key)
    }

    /// Pops least recently used unpinned blocks until at most `target` bytes remain (or only
    /// pinned ones do). The caller deletes the returned files, outside the lock.
    pub(super) fn pop_victims(&mut self, target: u64) -> Vec<(BlockKey, u64)> {
        let mut victims = Vec::new();
        while self.bytes > target {
            let Some((key, entry)) = self.lru.pop_lru() else {
                break;
            };
            self.blocks -= 1;
            self.bytes -= entry.size;
            victims.push((key, entry.size));
        }
        victims
    }

    pub(super) fn contains(&self, key: &BlockKey) -> bool {
        self.lru.contains(key) || self.pinned.get(key).is_some_and(|p| p.entry.is_some())
    }

    /// When the least recently used unpinned block was last used.
    pub(super) fn oldest_unpinned(&self) -> Option<SystemTime> {
        self.lru.peek_lru().map(|(_, entry)| entry.touched)
    }

    /// [`Self::pop_victims`], but only blocks last used before `before`.
    pub(super) fn pop_victims_before(
        &mut self,
        target: u64,
        before: SystemTime,
    ) -> Vec<(BlockKey, u64)> {
        let mut victims = Vec::new();
        while self.bytes > target && self.oldest_unpinned().is_some_and(|t| t < before) {
            let (key, entry) = self.lru.pop_lru().expect("peeked");
            self.blocks -= 1;
            self.bytes -= entry.size;
            victims.push((key, entry.size));
        }
        victims
    }

    /// Pops every unpinned block.
    pub(super) fn pop_all_unpinned(&mut self) -> Vec<(BlockKey, u64)> {
        let mut victims = Vec::with_capacity(self.lru.len());
        while let Some((key, entry)) = self.lru.pop_lru() {
            self.blocks -= 1;
            self.bytes -= entry.size;
            victims.push((key, entry.size));
        }
        victims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn key(n: u8) -> BlockKey {
        [n; 32]
    }

    #[test]
    fn pops_least_recently_used_first_and_skips_pinned() {
        let mut index = Index::new();
        for n in 1..=4 {
            assert!(index.insert(&key(n), 10, T0));
        }
        assert!(
            !index.insert(&key(1), 10, T0),
            "re-insert only bumps recency"
        );
        index.hit(&key(2), 10, T0);
        index.pin(&key(3));
        let popped: Vec<u8> = index.pop_victims(0).iter().map(|(k, _)| k[0]).collect();
        assert_eq!(popped, [4, 1, 2]);
        assert_eq!((index.blocks(), index.bytes()), (1, 10));
        index.unpin(&key(3));
        assert_eq!(index.pop_victims(0), vec![(key(3), 10)]);
    }

    #[test]
    fn pins_are_counted_and_may_precede_the_block() {
        let mut index = Index::new();
        index.pin(&key(1));
        index.pin(&key(1));
        assert!(index.insert(&key(1), 5, T0));
        assert_eq!(index.bytes(), 5);
        index.unpin(&key(1));
        assert!(index.pop_victims(0).is_empty());
        index.unpin(&key(1));
        assert!(!index.is_pinned(&key(1)));
        assert_eq!(index.pop_victims(0).len(), 1);
        index.unpin(&key(1)); // unbalanced unpin is harmless
    }

    #[test]
    fn remove_keeps_pins_and_counts() {
        let mut index = Index::new();
        index.insert(&key(1), 7, T0);
        index.insert(&key(2), 9, T0);
        index.pin(&key(2));
        assert_eq!(index.remove(&key(2)), Some(9));
        assert!(index.is_pinned(&key(2)));
        assert_eq!(index.remove(&key(2)), None);
        assert_eq!((index.blocks(), index.bytes()), (1, 7));
        assert_eq!(index.pop_all_unpinned().len(), 1);
        assert_eq!((index.blocks(), index.bytes()), (0, 0));
    }

    #[test]
    fn touches_are_rate_limited() {
        let mut index = Index::new();
        index.insert(&key(1), 1, T0);
        assert!(index.hit(&key(1), 1, T0 + TOUCH_INTERVAL));
        assert!(!index.hit(&key(1), 1, T0 + TOUCH_INTERVAL + Duration::from_secs(1)));
        assert!(index.hit(&key(1), 1, T0), "clock went backwards");
        assert!(
            !index.hit(&key(9), 1, T0),
            "a newly learned block was just written"
        );
    }
}
