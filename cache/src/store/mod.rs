//! Content-addressed block store: blocks keyed by sha256 of their bytes (the Merkle leaf's
//! data_hash), verified before they are stored, so a block never needs re-hashing on read.

pub mod block_file;
pub mod disk;
mod index;
pub mod records;

pub use block_file::{BlockCorrupt, BlockKey};
pub use disk::{DiskStats, DiskStore};
