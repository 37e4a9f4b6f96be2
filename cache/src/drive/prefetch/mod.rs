//! Prefetch and read-ahead: chunks made ready before a reader gets there. A hint (a reader's
//! `fd_advise`, or a sequential reader's window, see `window.rs`) reads blocks held on disk
//! into memory (`promote.rs`) and fetches missing ones, all in the background and bounded.

mod promote;
mod window;

use std::ops::Range;
use std::sync::Arc;

use super::Drive;
use crate::arweave::Hash;
use crate::store::txmap::TxRecord;

pub(super) use promote::Promotions;
pub(super) use window::Window;

/// Chunks fetched ahead of readers at once, over the whole Drive, and the most one hint
/// (`fd_advise`, read-ahead) may ask for: hints beyond them are dropped, not queued, so a
/// guest advising 100 GiB costs nothing it did not read. The threads walking hints are
/// bounded too (a guest may advise a thousand times a second).
pub(super) const PREFETCH_IN_FLIGHT: usize = 512;
pub(super) const PREFETCH_WALKERS: usize = 16;
const PREFETCH_MAX_CHUNKS: usize = 256;

impl Drive {
    /// Makes `range` ready for a reader about to get there: chunks held on disk are read
    /// into memory, missing ones fetched, all in the background. Deciding which is which
    /// stats block files, slow with a cold dentry cache, so that too happens off the reader's
    /// thread. Bounded: one hint covers at most [`PREFETCH_MAX_CHUNKS`], and fetches ahead of
    /// readers take one of [`PREFETCH_IN_FLIGHT`] slots or are not started at all.
    pub(super) fn prefetch(&self, tx: &Arc<TxRecord>, range: Range<u64>) {
        let end = range.end.min(tx.size());
        if range.start >= end
            || !tx.is_chunked()
            || self.inner.prefetch_slots.available_permits() == 0
        {
            return;
        }
        let Ok(runtime) = self.runtime() else { return };
        let Ok(walker) = self.inner.prefetch_walkers.clone().try_acquire_owned() else {
            return;
        };
        let first = tx.chunk_index(range.start);
        let last = tx.chunk_index(end - 1).min(first + PREFETCH_MAX_CHUNKS - 1);
        let (drive, tx) = (self.clone(), tx.clone());
        runtime.clone().spawn_blocking(move || {
            let _walker = walker;
            for index in first..=last {
                if !drive.prefetch_chunk(&runtime, &tx, index) {
                    break;
                }
            }
        });
    }

    /// Starts making chunk `index` ready; false when no prefetch slot is free.
    fn prefetch_chunk(
        &self,
        runtime: &tokio::runtime::Handle,
        tx: &Arc<TxRecord>,
        index: usize,
    ) -> bool {
        if let Some(hash) = tx.known_hash(index) {
            if self.inner.memory.contains(&hash) {
                return true;
            }
            if self.on_disk(tx, index) {
                self.promote(runtime, hash);
                return true;
            }
        }
        let Ok(slot) = self.inner.prefetch_slots.clone().try_acquire_owned() else {
            return false;
        };
        // The flight is registered here, before anything is spawned: a chunk already asked
        // for is joined, never fetched twice, and each spawned task holds a slot.
        let (flight, joined) = self.chunk_flight(tx, index, true);
        if !joined {
            runtime.spawn(async move {
                // Errors surface when the reader gets there; a prefetch just tries.
                let _ = flight.await;
                drop(slot);
            });
        }
        true
    }

    /// Reads a disk-tier block into the memory tier in the background, a bounded number at a
    /// time. A block that turns out absent or corrupt is left for the reader to refetch.
    fn promote(&self, runtime: &tokio::runtime::Handle, hash: Hash) {
        let Some(promotion) = self.inner.promotions.begin(hash) else {
            return;
        };
        let drive = self.clone();
        runtime.spawn(async move {
            let promotions = &drive.inner.promotions;
            let slot = promotions.start(&promotion).await;
            let reader = drive.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let inner = &reader.inner;
                if !inner.memory.contains(&hash)
                    && let Some(disk) = &inner.disk
                    && let Ok(Some(bytes)) = disk.get(&hash)
                {
                    inner.memory.put(hash, bytes);
                }
            })
            .await;
            promotions.finish(&hash, &promotion);
            drop(slot);
        });
    }
}
