//! Per-connection bandwidth cap, modelling a distant gateway whose single TCP stream is slow.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Paces the body bytes of one connection to `rate` bytes/s. Keeps a virtual "link free at"
/// clock instead of sleeping a fixed time per frame, so timer overshoot (up to a millisecond
/// per sleep, which would cost a third of the rate at 2 ms frames) does not accumulate: within
/// a body, a late frame is followed by frames that sleep less until the average is back.
/// How far behind schedule a body may fall and still catch up.
const MAX_CATCH_UP: Duration = Duration::from_millis(5);

#[derive(Debug)]
pub(crate) struct Pacer {
    rate: u64,
    free_at: Mutex<Instant>,
}

impl Pacer {
    pub fn new(rate: u64) -> Self {
        assert!(rate > 0, "bandwidth must be positive");
        Pacer {
            rate,
            free_at: Mutex::new(Instant::now()),
        }
    }

    /// Frame size giving about 2 ms per frame: smooth at any rate, but not so small that
    /// timer wake-ups dominate.
    pub fn frame_size(&self) -> usize {
        (self.rate / 500).clamp(1024, 64 * 1024) as usize
    }

    /// Waits until `n` more bytes would have crossed the link: a frame is released when its
    /// last byte "arrives", like a real link, so 8 MiB at 8 MiB/s takes one second.
    /// `continuing`: the previous frame of the same body went just before, so lateness is
    /// our timer's and may be caught up (bounded, so a stalled reader gets no big burst); the
    /// first frame of a body starts the clock afresh after any idle time.
    pub async fn send(&self, n: usize, continuing: bool) {
        let done = {
            let mut free_at = self.free_at.lock().unwrap();
            let now = Instant::now();
            let catch_up = if continuing {
                MAX_CATCH_UP
            } else {
                Duration::ZERO
            };
            let earliest = now.checked_sub(catch_up).unwrap_or(now);
            let start = (*free_at).max(earliest);
            *free_at = start + Duration::from_secs_f64(n as f64 / self.rate as f64);
            *free_at
        };
        if done > Instant::now() {
            tokio::time::sleep_until(done).await;
        }
    }
}
