//! Disk-to-memory read-ahead. A sequential reader's window, when its blocks sit in the disk
//! tier, is read into memory by background tasks, several block files at once, so the reader
//! finds them in memory instead of reading one file at a time itself. A reader that reaches
//! a block whose read has started waits for it rather than reading the same file again.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::Semaphore;

use crate::arweave::Hash;

pub(in crate::drive) struct Promotions {
    slots: Arc<Semaphore>,
    pending: Mutex<HashMap<Hash, Arc<Promotion>>>,
}

/// One block on its way from disk to memory.
pub(in crate::drive) struct Promotion {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a slot: a reader is better off reading the block itself.
    Queued,
    Reading,
    Done,
}

impl Promotions {
    pub(in crate::drive) fn new(parallel: usize) -> Self {
        Promotions {
            slots: Arc::new(Semaphore::new(parallel)),
            pending: Mutex::default(),
        }
    }

    /// Registers a promotion of `hash`, or `None` if one is already pending.
    pub(in crate::drive) fn begin(&self, hash: Hash) -> Option<Arc<Promotion>> {
        let mut pending = self.pending.lock().unwrap();
        if pending.contains_key(&hash) {
            return None;
        }
        let promotion = Arc::new(Promotion {
            state: Mutex::new(State::Queued),
            changed: Condvar::new(),
        });
        pending.insert(hash, promotion.clone());
        Some(promotion)
    }

    /// Waits for a slot, then marks `promotion` as reading.
    pub(in crate::drive) async fn start(
        &self,
        promotion: &Promotion,
    ) -> tokio::sync::OwnedSemaphorePermit {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        promotion.set(State::Reading);
        slot
    }

    pub(in crate::drive) fn finish(&self, hash: &Hash, promotion: &Promotion) {
        self.pending.lock().unwrap().remove(hash);
        promotion.set(State::Done);
    }

    /// Blocks while a started read of `hash` is in progress; returns whether it waited (then
    /// the block is likely in memory). Returns false at once if there is none, or if it is
    /// only queued.
    pub(in crate::drive) fn wait_if_reading(&self, hash: &Hash) -> bool {
        let Some(promotion) = self.pending.lock().unwrap().get(hash).cloned() else {
            return false;
        };
        let state = promotion.state.lock().unwrap();
        if *state != State::Reading {
            return false;
        }
        let _done = promotion
            .changed
            .wait_while(state, |s| *s == State::Reading)
            .unwrap();
        true
    }
}

impl Promotion {
    fn set(&self, state: State) {
        *self.state.lock().unwrap() = state;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_reader_waits_for_a_started_read_but_not_a_queued_one() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let promotions = Arc::new(Promotions::new(1));
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let first = promotions.begin(a).unwrap();
        assert!(promotions.begin(a).is_none(), "one promotion per block");
        let second = promotions.begin(b).unwrap();
        let slot = runtime.block_on(promotions.start(&first));
        // `b` is queued behind the only slot: no wait.
        assert!(!promotions.wait_if_reading(&b));
        // `a` is being read: the reader waits until it is finished.
        let finisher = {
            let promotions = promotions.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                promotions.finish(&a, &first);
                drop(slot);
            })
        };
        let waited = std::time::Instant::now();
        assert!(promotions.wait_if_reading(&a));
        assert!(waited.elapsed() >= Duration::from_millis(90));
        finisher.join().unwrap();
        assert!(!promotions.wait_if_reading(&a));
        promotions.finish(&b, &second);
        assert!(promotions.begin(a).is_some(), "can be promoted again later");
    }
}
