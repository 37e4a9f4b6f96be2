//! WeaveDrive's core: a verified Arweave data plane and (soon) a content-addressed block cache.
//!
//! Nothing here serves a byte that has not been checked against a transaction's Merkle root,
//! which is in turn authenticated by the transaction's signature and id.

pub mod arweave;
pub mod drive;
pub mod fetch;
pub mod gateway;
pub mod metrics;
pub mod policy;
pub mod shared;
pub mod store;
pub mod units;

// Old paths of modules that moved: the persisted state under `store/`, fetching whole
// transactions under `fetch/`.
pub use fetch::{ranges as range_fetch, stream as tx_fetch};
pub use store::{memory, txmap};

pub use arweave::TxId;
pub use drive::{CacheCheck, Drive, DriveConfig, DriveError, DriveStats, FileHandle, TxInfo};
pub use gateway::{GatewayClient, GatewayConfig, GatewayError};
pub use policy::AccessPolicy;
pub use tx_fetch::{DataStream, VerifiedTx};
