//! How large and how slow each gateway answer may be. Every request states both, so no
//! gateway can make us buffer more than the protocol allows: an answer over its cap is a lie
//! of that gateway, refused from its `Content-Length` before any body byte is read, or as soon
//! as a body without one passes the cap.

use std::time::Duration;

/// Limits on one request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Upper bound on the whole request, body included.
    pub timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_body: u64,
}

impl Limits {
    pub fn new(timeout: Duration, max_body: u64) -> Self {
        Limits { timeout, max_body }
    }
}

/// Length of `n` bytes in unpadded base64.
const fn base64_len(n: u64) -> u64 {
    (n * 4).div_ceil(3)
}

/// A data chunk is at most 256 KiB (the node's `DATA_CHUNK_SIZE`).
const CHUNK_SIZE: u64 = 256 * 1024;
/// A `data_path` or `tx_path` is at most 256 KiB (the node's `MAX_PATH_SIZE`).
const PATH_SIZE: u64 = 256 * 1024;
/// Room for JSON syntax, the `packing` field and whitespace around the base64 fields.
const JSON_SLACK: u64 = 4 * 1024;

/// `/chunk/{offset}`: the chunk, its `data_path` and its `tx_path`, each in base64, plus the
/// JSON around them (about 1 MiB).
pub const CHUNK_JSON_MAX: u64 = base64_len(CHUNK_SIZE) + 2 * base64_len(PATH_SIZE) + JSON_SLACK;

/// `/chunk/{offset}/data`: the chunk's bytes alone (its proof comes in headers, which the
/// HTTP client bounds).
pub const CHUNK_DATA_MAX: u64 = CHUNK_SIZE;

/// `/tx/{id}`: a header may carry format-1 data inline (at most 10 MiB, the node's
/// `TX_DATA_SIZE_LIMIT`: 13.3 MiB in base64) besides owner, signature and tags. Nodes take no
/// POST body over 15 MiB (`MAX_BODY_SIZE`), so no transaction they accepted is larger.
pub const TX_HEADER_MAX: u64 = 15 * 1024 * 1024;

/// `/tx/{id}/offset`: `{"offset":"...","size":"..."}`, two decimals of at most 20 digits;
/// the rest is room for whitespace.
pub const OFFSET_JSON_MAX: u64 = 4 * 1024;

/// `/block/height/{h}`: at most 1000 transaction ids (the node's `BLOCK_TX_COUNT_LIMIT`, 46 KiB
/// as JSON), two proofs of access (a chunk with two paths each, about 1 MiB in base64), VDF
/// checkpoints and small fields: a few MiB at the very most. Blocks are read one at a time, so
/// a generous cap costs little.
pub const BLOCK_JSON_MAX: u64 = 16 * 1024 * 1024;

/// `Range: bytes=0-0` on `/raw/{id}`, asked only for the response headers: one byte.
pub const ITEM_HINT_MAX: u64 = 1;

// The caps hold what the protocol allows: a full chunk and two full paths; 10 MiB of
// format-1 data in base64 with a 512-byte owner and signature and room for tags.
const _: () = assert!(base64_len(CHUNK_SIZE) == 349_526);
const _: () = assert!(CHUNK_JSON_MAX >= 3 * 349_526 && CHUNK_JSON_MAX < 1_100_000);
const _: () = assert!(TX_HEADER_MAX > base64_len(10 << 20) + 2 * base64_len(512) + 64 * 1024);
