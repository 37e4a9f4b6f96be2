//! Request and byte counters, readable while the gateway runs.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crate::faults::Endpoint;

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub tx: u64,
    pub offset: u64,
    pub chunk: u64,
    pub data: u64,
    pub other: u64,
    /// Response body bytes handed to the connections.
    pub body_bytes: u64,
    /// TCP connections accepted.
    pub connections: u64,
    /// Requests being answered now (from arrival until the body is sent or dropped).
    pub in_flight: u64,
    /// The most requests ever answered at once (since start or the last reset).
    pub max_in_flight: u64,
}

impl Stats {
    pub fn requests(&self) -> u64 {
        self.tx + self.offset + self.chunk + self.data + self.other
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: [AtomicU64; 5],
    pub body_bytes: AtomicU64,
    pub connections: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// Every request answered, while logging is on.
    log: Mutex<Option<Vec<RequestRecord>>>,
}

/// One answered request, as the request log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: Instant,
    pub path: String,
    /// The status answered (after faults), or 0 for a connection reset or hang.
    pub status: u16,
    /// Requests being answered when it arrived, itself included.
    pub in_flight: u64,
}

/// Counts a request as in flight until dropped.
pub(crate) struct InFlight {
    counters: Arc<Counters>,
    /// Requests in flight when this one arrived, itself included.
    pub at_arrival: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Relaxed);
    }
}

impl Counters {
    pub fn request(&self, endpoint: Endpoint) {
        let slot = match endpoint {
            Endpoint::TxHeader => 0,
            Endpoint::Offset => 1,
            Endpoint::Chunk => 2,
            Endpoint::Data => 3,
            Endpoint::Other | Endpoint::Block => 4,
        };
        self.requests[slot].fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let r = |i: usize| self.requests[i].load(Relaxed);
        Stats {
            tx: r(0),
            offset: r(1),
            chunk: r(2),
            data: r(3),
            other: r(4),
            body_bytes: self.body_bytes.load(Relaxed),
            connections: self.connections.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            max_in_flight: self.max_in_flight.load(Relaxed),
        }
    }

    /// Counts a request in flight (and the peak) until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        let now = self.in_flight.fetch_add(1, Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Relaxed);
        InFlight {
            counters: self.clone(),
            at_arrival: now,
        }
    }

    /// Starts (or restarts, empty) the request log.
    pub fn start_log(&self) {
        *self.log.lock().unwrap() = Some(Vec::new());
    }

    pub fn log(&self, record: RequestRecord) {
        if let Some(log) = self.log.lock().unwrap().as_mut() {
            log.push(record);
        }
    }

    pub fn logged(&self) -> Vec<RequestRecord> {
        self.log.lock().unwrap().clone().unwrap_or_default()
    }

    pub fn reset(&self) {
        for counter in self
            .requests
            .iter()
            .chain([&self.body_bytes, &self.connections])
        {
            counter.store(0, Relaxed);
        }
        // The peak restarts from the requests still being answered.
        self.max_in_flight
            .store(self.in_flight.load(Relaxed), Relaxed);
    }
}
