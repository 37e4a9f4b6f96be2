//! WeaveDrive's core: a verified Arweave data plane and (soon) a content-addressed block cache.
//!
//! Nothing here serves a byte that has not been checked against a transaction's Merkle root,
//! which is in turn authenticated by the transaction's signature and id.

pub mod arweave;
pub mod gateway;
pub mod range_fetch;
pub mod tx_fetch;

pub use arweave::TxId;
pub use gateway::{GatewayClient, GatewayConfig, GatewayError};
pub use tx_fetch::{DataStream, VerifiedTx};
