//! Write-back: what a host verified from a gateway goes to the shared tier in the background,
//! in bounded memory (an offer that does not fit is dropped and counted) and with bounded
//! concurrency; failures are counted and logged (once at warn), never a read's failure.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};

use super::store::SharedTier;
use crate::metrics::Upload;

/// Uploads in flight at once.
const CONCURRENCY: usize = 16;
/// Bytes waiting or in flight, at most (in KiB permits).
const MEMORY_KIB: usize = 64 << 10;

pub struct WriteBack {
    budget: Arc<Semaphore>,
    slots: Semaphore,
    pending: Arc<Pending>,
    /// Keys being uploaded.
    offering: Mutex<HashSet<String>>,
    failure_said: AtomicBool,
}

#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

/// Decrements the pending count when an upload ends, however it ends.
struct InFlight(Arc<Pending>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What [`SharedTier::flush`] left undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Uploads still pending when the wait ended (0: all done).
    pub left: usize,
}

impl WriteBack {
    pub fn new() -> WriteBack {
        WriteBack {
            budget: Arc::new(Semaphore::new(MEMORY_KIB)),
            slots: Semaphore::new(CONCURRENCY),
            pending: Arc::default(),
            offering: Mutex::default(),
            failure_said: AtomicBool::new(false),
        }
    }

    pub(super) fn failed(&self, url: &str, key: &str, error: &dyn std::fmt::Display) {
        if !self.failure_said.swap(true, Ordering::Relaxed) {
            tracing::warn!(tier = url, key, %error,
                "could not write to the shared cache (reads are not affected; further \
                 failures at debug level, counted in weavedrive_shared_uploads_total)");
        } else {
            tracing::debug!(tier = url, key, %error, "shared cache write failed");
        }
    }
}

impl SharedTier {
    /// Uploads `bytes` (verified by the caller) as `key` in the background, unless the tier
    /// is known to have it. Outside a runtime, or over the memory bound, it is dropped (and
    /// counted).
    pub fn offer(self: &Arc<Self>, key: String, bytes: Bytes) {
        if !self.wanted(&key) {
            return;
        }
        // A tier that is not answering gets nothing new (each upload would wait for its
        // time limit); a demoted one only the verified copies of what it served falsely.
        if !self.first() && !self.is_suspect(&key) {
            self.metrics.upload(Upload::Dropped);
            return;
        }
        // One upload per key at a time (64 readers may offer a transaction's offset at once).
        if !self.writeback.offering.lock().unwrap().insert(key.clone()) {
            return;
        }
        let kib = bytes.len().div_ceil(1024).clamp(1, MEMORY_KIB) as u32;
        let (Ok(runtime), Ok(budget)) = (
            tokio::runtime::Handle::try_current(),
            self.writeback.budget.clone().try_acquire_many_owned(kib),
        ) else {
            self.writeback.offering.lock().unwrap().remove(&key);
            self.metrics.upload(Upload::Dropped);
            return;
        };
        let pending = self.writeback.pending.clone();
        pending.count.fetch_add(1, Ordering::AcqRel);
        let in_flight = InFlight(pending);
        let tier = self.clone();
        runtime.spawn(async move {
            let _in_flight = in_flight;
            let _budget = budget;
            let _slot = tier.writeback.slots.acquire().await;
            tier.put_if_absent(&key, bytes).await;
            tier.writeback.offering.lock().unwrap().remove(&key);
        });
    }

    /// Waits (at most `timeout`) for the uploads offered so far.
    pub async fn flush(&self, timeout: Duration) -> Flushed {
        let pending = &self.writeback.pending;
        let wait = async {
            loop {
                let idle = pending.idle.notified();
                tokio::pin!(idle);
                // Registered before the check, so a last upload ending in between wakes us.
                idle.as_mut().enable();
                if pending.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
        Flushed {
            left: pending.count.load(Ordering::Acquire),
        }
    }
}
