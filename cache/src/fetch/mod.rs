//! Whole transactions from the gateways, verified, for `get` and streaming readers (the Drive
//! reads chunk by chunk through its cache instead; see `drive/`). Two ways:
//! * [`stream`]: the data as a stream of pieces, in order, each chunk proven against the
//!   signed data_root as it arrives, many requests in flight;
//! * [`ranges`]: "range then root", large byte ranges in parallel, the Merkle tree rebuilt
//!   from the chunks' hashes and compared with the data_root once all have landed.
//!
//! Both are re-exported at their old paths, `crate::tx_fetch` and `crate::range_fetch`.

pub mod ranges;
pub mod stream;

pub use ranges::{RangeFetchError, fetch_ranges_to_file};
pub use stream::{DataStream, VerifiedTx};
