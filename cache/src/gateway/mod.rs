//! Talking to untrusted Arweave gateways: retries, failover and verification of every answer.

mod arweave_api;
mod block;
mod chunk_endpoint;
mod client;
mod error;
pub mod limits;
mod pacing;
mod source;

pub use arweave_api::{ItemHint, TxLocation, VerifiedChunk, verify_chunk, verify_chunk_json};
pub use block::BlockHeader;
pub use client::{GatewayClient, GatewayConfig, PROGRESS_ROUNDS, Reply};
pub use error::{AttemptError, GatewayError, TransportKind, Unusable};
pub use limits::Limits;
pub use pacing::{MAX_RETRY_AFTER, parse_retry_after};
pub use source::{ChunkProof, Source};
