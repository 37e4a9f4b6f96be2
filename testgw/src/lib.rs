//! A local Arweave gateway for tests and benchmarks: real signed headers, real chunk proofs,
//! the node and ar.io endpoints WeaveDrive reads, a per-connection bandwidth cap and latency
//! that model a distant gateway, and count-based fault injection.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use weavedrive_testgw::*;
//! let mut data = GatewayData::new(TestWallet::fixed());
//! let id = data.add_tx(bytes::Bytes::from_static(b"hello"), vec![]);
//! let gw = TestGateway::start(data, GatewayOptions::default()).await?;
//! gw.faults().inject(Target::Chunk, Fault::CorruptChunk, 3);
//! println!("{}/{id}", gw.url());
//! # Ok(()) }
//! ```

mod body;
mod conn;
mod data;
mod faults;
pub mod format1;
mod hostile;
pub mod items;
mod manifest;
mod routes;
mod server;
mod source;
mod stats;
mod throttle;
mod wallet;

pub use data::{GatewayData, ItemPlace, Reported, StoredTx, WEAVE_START, pseudo_random_data};
pub use faults::{Fault, FaultId, Faults, LIES, Pick, RuleStatus, Target};
pub use format1::{Format1, Format1Serving, Resplit};
pub use manifest::{MANIFEST_CONTENT_TYPE, path_manifest};
pub use server::{BackgroundGateway, GatewayHandle, GatewayOptions, TestGateway};
pub use source::{FaultySource, MEMORY_LABEL, MemorySource, SourceFault};
pub use stats::{RequestRecord, Stats};
pub use wallet::TestWallet;
