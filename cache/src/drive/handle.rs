//! An open transaction with sequential read-ahead (mountpoint-s3 style): reads that follow
//! each other grow a window, 1 MiB doubling up to the configured cap, fetched in parallel
//! ahead of the reader; a seek resets it, so random access never triggers large prefetches.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{Drive, DriveError};
use crate::arweave::TxId;
use crate::txmap::TxRecord;

const INITIAL_WINDOW: u64 = 1 << 20;
/// A forward skip this small still counts as sequential (readers skip headers, align reads).
const SEQUENTIAL_SLACK: u64 = 256 << 10;

pub struct FileHandle {
    drive: Drive,
    tx: Arc<TxRecord>,
    pattern: Mutex<ReadPattern>,
}

#[derive(Default)]
struct ReadPattern {
    next: u64,
    window: u64,
}

impl ReadPattern {
    /// Updates the pattern with a read and returns how far ahead to prefetch (0: none).
    fn observe(&mut self, offset: u64, len: u64, cap: u64) -> u64 {
        let sequential = offset >= self.next && offset - self.next <= SEQUENTIAL_SLACK;
        self.window = if sequential {
            (self.window * 2).clamp(INITIAL_WINDOW, cap.max(INITIAL_WINDOW))
        } else {
            0
        };
        self.next = offset + len;
        self.window
    }
}

impl FileHandle {
    pub(super) fn new(drive: Drive, tx: Arc<TxRecord>) -> Self {
        FileHandle {
            drive,
            tx,
            pattern: Mutex::new(ReadPattern::default()),
        }
    }

    pub fn id(&self) -> TxId {
        self.tx.id()
    }

    pub fn size(&self) -> u64 {
        self.tx.size()
    }

    pub async fn read_at(&self, offset: u64, len: u64) -> Result<Bytes, DriveError> {
        // Read-ahead beyond half the memory tier would evict itself before it is read.
        let cap = self
            .drive
            .inner
            .config
            .prefetch_max
            .min(self.drive.inner.config.memory_budget / 2);
        let window = self.pattern.lock().unwrap().observe(offset, len, cap);
        if window > 0 {
            let from = offset + len;
            self.drive
                .prefetch(&self.tx, from..from.saturating_add(window));
        }
        self.drive.read_tx(&self.tx, offset, len).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_doubles_on_sequential_reads_and_resets_on_seeks() {
        let cap = 8 << 20;
        let mut p = ReadPattern::default();
        let mib = 1 << 20;
        assert_eq!(p.observe(0, 128 << 10, cap), mib);
        assert_eq!(p.observe(128 << 10, 128 << 10, cap), 2 * mib);
        assert_eq!(p.observe(256 << 10, 128 << 10, cap), 4 * mib);
        assert_eq!(p.observe(384 << 10, 128 << 10, cap), 8 * mib);
        assert_eq!(p.observe(512 << 10, 128 << 10, cap), 8 * mib, "capped");
        // A small forward skip is still sequential; a seek back or far ahead is not.
        assert_eq!(p.observe(700 << 10, 4096, cap), 8 * mib);
        assert_eq!(p.observe(0, 4096, cap), 0);
        assert_eq!(p.observe(100 << 20, 4096, cap), 0);
        assert_eq!(
            p.observe((100 << 20) + 4096, 4096, cap),
            mib,
            "restarts small"
        );
    }
}
