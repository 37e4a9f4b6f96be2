//! Request and byte counters, readable while the gateway runs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
}

impl Counters {
    pub fn request(&self, endpoint: Endpoint) {
        let slot = match endpoint {
            Endpoint::TxHeader => 0,
            Endpoint::Offset => 1,
            Endpoint::Chunk => 2,
            Endpoint::Data => 3,
            Endpoint::Other => 4,
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
        }
    }

    pub fn reset(&self) {
        for counter in self
            .requests
            .iter()
            .chain([&self.body_bytes, &self.connections])
        {
            counter.store(0, Relaxed);
        }
    }
}
