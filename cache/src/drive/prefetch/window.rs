//! A reader's sequential read-ahead window (mountpoint-s3 style): reads that follow each
//! other grow a window, 1 MiB growing fourfold up to the configured cap each time the reader
//! has used half of it, fetched in parallel ahead of the reader; a seek resets it, so random
//! access never triggers large prefetches.
//! The kernel's read-ahead (page cache, mmap faults) hands a sequential stream to several
//! FUSE threads, so its reads arrive a little out of order: a read inside the window already
//! asked for continues the stream, and a short step back leaves it alone.

use std::ops::Range;
use std::sync::Mutex;

use crate::drive::Drive;
use crate::drive::span::Span;

const INITIAL_WINDOW: u64 = 1 << 20;
/// A forward skip this small still counts as sequential (readers skip headers, align reads).
const SEQUENTIAL_SLACK: u64 = 256 << 10;
/// A read this far behind the stream's end is a late arrival, not a seek.
const REORDER_SLACK: u64 = 2 << 20;

/// One open file's window.
#[derive(Default)]
pub(in crate::drive) struct Window(Mutex<ReadPattern>);

impl Window {
    /// Notes a read of `len` bytes at `offset` of `span`, and prefetches what the window
    /// reaches beyond what earlier reads asked for.
    pub fn observe(&self, drive: &Drive, span: &Span, offset: u64, len: u64) {
        // Read-ahead beyond half the memory tier would evict itself before it is read.
        let config = &drive.inner.config;
        let cap = config.prefetch_max.min(config.memory_budget / 2);
        let ahead = self.0.lock().unwrap().observe(offset, len, cap);
        if !ahead.is_empty() {
            drive.prefetch(&span.tx, span.to_tx(ahead));
        }
    }
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
        // More is asked for only once the reader has used half of what is already on its way
        // (Linux's asynchronous read-ahead mark), and the window grows fourfold (Linux does the
        // same while it is small). One large read, which the kernel hands over as a burst of
        // small sequential requests, then prefetches a few times its size instead of ramping
        // to the cap: a random 1 MiB reader used to pull 30 MiB per read, now under 5. Growing
        // twofold pulled 2 but made a cold 87 MiB load 12% slower (bench/model.sh (b)).
        let ahead = self.prefetched_to.saturating_sub(self.next);
        if ahead > self.window / 2 {
            return 0..0;
        }
        self.window = (self.window * 4).clamp(INITIAL_WINDOW, cap.max(INITIAL_WINDOW));
        let end = self.next.saturating_add(self.window);
        let start = self.prefetched_to.max(self.next);
        self.prefetched_to = end.max(self.prefetched_to);
        start..end.max(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_grows_as_the_reader_uses_it_and_resets_on_seeks() {
        let (cap, k, mib) = (8 << 20, 1 << 10, 1 << 20);
        let mut p = ReadPattern::default();
        let stream = |p: &mut ReadPattern, from: u64, to: u64| {
            (from..to)
                .step_by(128 << 10)
                .map(|at| p.observe(at, 128 * k, cap))
                .filter(|r| !r.is_empty())
                .collect::<Vec<_>>()
        };
        // 1 MiB ahead at once; 4 MiB once half of it is used; then 8 (the cap), each step
        // starting where the last ended and none larger than the cap.
        // (vec![r] of a variable: clippy reads [a..b] as a mistaken range array.)
        let one = |r: Range<u64>| vec![r];
        assert_eq!(stream(&mut p, 0, 128 * k), one(128 * k..128 * k + mib));
        assert_eq!(stream(&mut p, 128 * k, 512 * k), []);
        assert_eq!(
            stream(&mut p, 512 * k, 640 * k),
            one(128 * k + mib..640 * k + 4 * mib)
        );
        let later = stream(&mut p, 640 * k, 40 * mib);
        assert_eq!(later[0].start, 640 * k + 4 * mib);
        for pair in later.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "gap or overlap: {later:?}");
        }
        assert!(later.iter().all(|r| r.end - r.start <= cap), "{later:?}");
        assert_eq!(p.window, cap);
        assert!(
            p.prefetched_to - p.next >= 4 * mib,
            "fell behind the reader"
        );

        // A small forward skip is still sequential; a seek back or far ahead is not.
        let before = p.prefetched_to;
        let _ = p.observe(p.next + 100 * k, 4 * k, cap);
        assert_eq!(p.window, cap);
        assert!(p.prefetched_to >= before);
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

    /// The kernel splits one large read into 128 KiB requests: read-ahead for a random 1 MiB
    /// reader stays within a few times the read's own size.
    #[test]
    fn a_large_random_read_prefetches_a_few_times_its_size() {
        let (cap, k, mib) = (32 << 20, 1 << 10, 1 << 20);
        let mut p = ReadPattern::default();
        let mut prefetched = 0;
        for start in [50 * mib, 3 * mib, 900 * mib, 200 * mib] {
            for at in (start..start + mib).step_by(128 << 10) {
                let r = p.observe(at, 128 * k, cap);
                prefetched += r.end - r.start;
            }
        }
        assert!(prefetched <= 4 * 5 * mib, "{} MiB", prefetched / mib);
    }

    #[test]
    fn reads_arriving_out_of_order_keep_the_stream() {
        let (cap, k, mib) = (64 << 20, 1 << 10, 1 << 20);
        let mut p = ReadPattern::default();
        assert_eq!(p.observe(0, 128 * k, cap), 128 * k..128 * k + mib);
        // Two FUSE threads: the later request first, then the earlier one.
        assert!(
            p.observe(256 * k, 128 * k, cap).is_empty(),
            "a skip inside the window asked for is sequential (and needs nothing new yet)"
        );
        assert_eq!(p.next, 384 * k);
        assert!(
            p.observe(128 * k, 128 * k, cap).is_empty(),
            "late, not a seek"
        );
        assert_eq!(p.next, 384 * k, "the late read left the stream alone");
        assert_eq!(p.window, mib);
        assert_eq!(
            p.observe(640 * k, 128 * k, cap),
            128 * k + mib..768 * k + 4 * mib
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
