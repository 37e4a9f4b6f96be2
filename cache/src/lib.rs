//! WeaveDrive's core: a verified Arweave data plane and (soon) a content-addressed block cache.
//!
//! Nothing here serves a byte that has not been checked against a transaction's Merkle root,
//! which is in turn authenticated by the transaction's signature and id.

pub mod arweave;
