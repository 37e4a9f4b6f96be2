//! Which of a gateway's two chunk endpoints to ask. ar.io gateways serve a chunk's raw bytes
//! at `/chunk/{offset}/data`, its proof in response headers (a quarter fewer bytes than the
//! base64 JSON of `/chunk/{offset}` and nothing to decode); Arweave nodes and arlocal serve
//! only the JSON. Both answers are proven the same way (`verify_chunk`), so the choice is
//! about speed alone: a gateway is asked for binary until it shows it does not serve it.

use std::sync::atomic::{AtomicU8, Ordering};

/// The header holding the chunk's `data_path` (base64url) on a binary answer.
pub const DATA_PATH_HEADER: &str = "x-arweave-chunk-data-path";

/// The path of the binary endpoint for the chunk holding weave offset `weave_offset`.
pub fn binary_path(weave_offset: u64) -> String {
    format!("chunk/{weave_offset}/data")
}

/// The path of the JSON endpoint for the chunk holding weave offset `weave_offset`.
pub fn json_path(weave_offset: u64) -> String {
    format!("chunk/{weave_offset}")
}

/// What one gateway has shown of its chunk endpoints.
#[derive(Debug, Default)]
pub struct ChunkEndpoint(AtomicU8);

const UNKNOWN: u8 = 0;
const BINARY: u8 = 1;
const JSON_ONLY: u8 = 2;

impl ChunkEndpoint {
    /// Whether to ask for binary first (until the gateway is known not to serve it).
    pub fn try_binary(&self) -> bool {
        self.0.load(Ordering::Relaxed) != JSON_ONLY
    }

    /// Whether a binary miss may mean "no such endpoint" rather than "no such chunk", so
    /// that the JSON endpoint is worth asking too. Once the gateway has served binary, a
    /// binary "not found" is taken at its word.
    pub fn may_lack_binary(&self) -> bool {
        self.0.load(Ordering::Relaxed) == UNKNOWN
    }

    pub fn served_binary(&self) {
        self.0.store(BINARY, Ordering::Relaxed);
    }

    /// The JSON endpoint served a chunk its binary endpoint did not: ask JSON from now on.
    pub fn lacks_binary(&self) {
        // Only from UNKNOWN: a gateway that served binary once keeps being asked for it.
        let _ = self
            .0
            .compare_exchange(UNKNOWN, JSON_ONLY, Ordering::Relaxed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_is_asked_for_binary_until_it_shows_it_has_none() {
        let endpoint = ChunkEndpoint::default();
        assert!(endpoint.try_binary() && endpoint.may_lack_binary());
        endpoint.lacks_binary();
        assert!(!endpoint.try_binary());

        let endpoint = ChunkEndpoint::default();
        endpoint.served_binary();
        endpoint.lacks_binary();
        assert!(endpoint.try_binary() && !endpoint.may_lack_binary());
    }
}
