//! Talking to untrusted Arweave gateways: retries, failover and verification of every answer.

mod arweave_api;
mod block;
mod client;
mod error;

pub use arweave_api::{ItemHint, TxLocation, VerifiedChunk, verify_chunk_json};
pub use block::BlockHeader;
pub use client::{GatewayClient, GatewayConfig, Reply};
pub use error::{AttemptError, GatewayError};
