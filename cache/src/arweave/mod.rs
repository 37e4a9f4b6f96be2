//! The Arweave protocol as we need it for reading: ids, transaction headers and their
//! signatures, chunk layout, and Merkle proofs. Written and owned here; nothing in this module
//! trusts its input.

pub mod ans104;
pub mod b64;
pub mod bundle;
pub mod chunking;
pub mod deep_hash;
pub mod id;
pub mod manifest;
pub mod merkle;
pub mod rsa_pss;
pub mod tx;

pub use id::{IdError, TxId};
pub use merkle::{Hash, Leaf, MerkleTree, ProofError};
pub use tx::{Tag, TxError, TxHeader};
