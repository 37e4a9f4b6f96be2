//! An open transaction with sequential read-ahead (mountpoint-s3 style): reads that follow
//! each other grow a window, 1 MiB doubling up to the configured cap, fetched in parallel
//! ahead of the reader; a seek resets it, so random access never triggers large prefetches.
//! The kernel's read-ahead (page cache, mmap faults) hands a sequential stream to several
//! FUSE threads, so its reads arrive a little out of order: a read inside the window already
//! asked for continues the stream, and a short step back leaves it alone.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{Drive, DriveError};
use crate::arweave::TxId;
use crate::txmap::TxRecord;

const INITIAL_WINDOW: u64 = 1 << 20;
/// A forward skip this small still counts as sequential (readers skip headers, align reads).
const SEQUENTIAL_SLACK: u64 = 256 << 10;
/// A read this far behind the stream's end is a late arrival, not a seek.
const REORDER_SLACK: u64 = 2 << 20;

pub struct FileHandle {
    drive: Drive,
    tx: Arc<TxRecord>,
    pattern: Mutex<ReadPattern>,
}

#[derive(Default)]
struct ReadPattern {
    next: u64,
    window: u64,
    /// End of what earlier reads already asked to prefetch, so each read only adds the new
    /// part of the window.
    prefetched_to: u64,
}

impl ReadPattern {
    /// Updates the pattern with a read and returns the range to prefetch now (maybe empty).
    fn observe(&mut self, offset: u64, len: u64, cap: u64) -> Range<u64> {
        if offset < self.next && self.next - offset <= REORDER_SLACK {
            return 0..0;
        }
        let reach = self.prefetched_to.max(self.next + SEQUENTIAL_SLACK);
        let sequential = offset >= self.next && offset <= reach;
        self.next = offset + len;
        if !sequential {
            self.window = 0;
            self.prefetched_to = 0;
            return 0..0;
        }
        self.window = (self.window * 2).clamp(INITIAL_WINDOW, cap.max(INITIAL_WINDOW));
        let end = self.next.saturating_add(self.window);
        let start = self.prefetched_to.max(self.next);
        self.prefetched_to = end.max(self.prefetched_to);
        start..end.max(start)
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
        self.read_ahead(offset, len);
        self.drive.read_tx(&self.tx, offset, len).await
    }

    /// `read_at` for threads outside the runtime (FUSE workers, WASI host calls): cached data
    /// is read on the calling thread with no runtime hop. Must not be called on a runtime
    /// thread.
    pub fn read_at_blocking(&self, offset: u64, len: u64) -> Result<Bytes, DriveError> {
        self.read_ahead(offset, len);
        self.drive.read_tx_blocking(&self.tx, offset, len)
    }

    /// `read_at_blocking` handing the bytes to `consume` (e.g. a FUSE reply) without copying
    /// them when the memory tier holds them in one block; otherwise they are read into `buf`,
    /// which is reused across calls.
    pub fn read_at_blocking_with<R>(
        &self,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
        consume: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, DriveError> {
        self.read_ahead(offset, len);
        self.drive
            .read_tx_blocking_with(&self.tx, offset, len, buf, consume)
    }

    /// `read_at_blocking` straight into `out` (a frontend's buffer, a wasm guest's memory):
    /// fills `out[..n]` and returns `n`, which is short only at the end of the data. Missing
    /// chunks of a large read are fetched in parallel.
    pub fn read_into_blocking(&self, offset: u64, out: &mut [u8]) -> Result<usize, DriveError> {
        self.read_ahead(offset, out.len() as u64);
        self.drive.read_tx_blocking_slice(&self.tx, offset, out)
    }

    /// Starts fetching `range` in the background (a reader's hint that it will need it).
    pub fn prefetch(&self, range: Range<u64>) {
        self.drive.prefetch(&self.tx, range);
    }

    fn read_ahead(&self, offset: u64, len: u64) {
        // Read-ahead beyond half the memory tier would evict itself before it is read.
        let config = &self.drive.inner.config;
        let cap = config.prefetch_max.min(config.memory_budget / 2);
        let ahead = self.pattern.lock().unwrap().observe(offset, len, cap);
        if !ahead.is_empty() {
            self.drive.prefetch(&self.tx, ahead);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_doubles_on_sequential_reads_and_resets_on_seeks() {
        let (cap, k, mib) = (8 << 20, 1 << 10, 1 << 20);
        let mut p = ReadPattern::default();
        // Window 1, 2, 4, 8, 8 MiB ahead of each read's end; only the new part is returned.
        assert_eq!(p.observe(0, 128 * k, cap), 128 * k..128 * k + mib);
        assert_eq!(
            p.observe(128 * k, 128 * k, cap),
            128 * k + mib..256 * k + 2 * mib
        );
        assert_eq!(
            p.observe(256 * k, 128 * k, cap),
            256 * k + 2 * mib..384 * k + 4 * mib
        );
        assert_eq!(
            p.observe(384 * k, 128 * k, cap),
            384 * k + 4 * mib..512 * k + 8 * mib
        );
        let capped = p.observe(512 * k, 128 * k, cap);
        assert_eq!(capped, 512 * k + 8 * mib..640 * k + 8 * mib);
        // A small forward skip is still sequential; a seek back or far ahead is not.
        assert_eq!(
            p.observe(700 * k, 4 * k, cap),
            640 * k + 8 * mib..704 * k + 8 * mib
        );
        assert!(p.observe(100 * mib, 4 * k, cap).is_empty());
        assert!(p.observe(0, 4 * k, cap).is_empty());
        assert!(p.observe(100 * mib, 4 * k, cap).is_empty());
        let restarted = p.observe(100 * mib + 4 * k, 4 * k, cap);
        assert_eq!(
            restarted,
            100 * mib + 8 * k..101 * mib + 8 * k,
            "restarts small"
        );
    }

    #[test]
    fn reads_arriving_out_of_order_keep_the_stream() {
        let (cap, k, mib) = (64 << 20, 1 << 10, 1 << 20);
        let mut p = ReadPattern::default();
        assert_eq!(p.observe(0, 128 * k, cap), 128 * k..128 * k + mib);
        // Two FUSE threads: the later request first, then the earlier one.
        assert_eq!(
            p.observe(256 * k, 128 * k, cap),
            128 * k + mib..384 * k + 2 * mib,
            "a skip inside the window asked for is sequential"
        );
        assert!(
            p.observe(128 * k, 128 * k, cap).is_empty(),
            "late, not a seek"
        );
        assert_eq!(p.window, 2 * mib, "the late read left the window alone");
        assert_eq!(
            p.observe(384 * k, 128 * k, cap),
            384 * k + 2 * mib..512 * k + 4 * mib
        );
        // Past the window is a seek, and so is a step back longer than reordering explains.
        assert!(p.observe(10 * mib, 4 * k, cap).is_empty());
        assert_eq!(p.window, 0);
        assert!(!p.observe(10 * mib + 4 * k, 4 * k, cap).is_empty());
        assert_eq!(p.window, mib);
        assert!(p.observe(7 * mib, 4 * k, cap).is_empty());
        assert_eq!(p.window, 0);
    }
}
