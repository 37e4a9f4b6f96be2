//! WeaveDrive's core: a verified Arweave data plane and (soon) a content-addressed block cache.
//!
//! Nothing here serves a byte that has not been checked against a transaction's Merkle root,
//! which is in turn authenticated by the transaction's signature and id.

pub mod arweave;
pub mod drive;
pub mod gateway;
pub mod memory;
pub mod policy;
pub mod range_fetch;
pub mod store;
pub mod tx_fetch;
pub mod txmap;
pub mod units;

pub use arweave::TxId;
pub use drive::{Drive, DriveConfig, DriveError, DriveStats, FileHandle, TxInfo};
pub use gateway::{GatewayClient, GatewayConfig, GatewayError};
pub use policy::AccessPolicy;
pub use tx_fetch::{DataStream, VerifiedTx};
