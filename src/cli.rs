//! Command-line interface definition.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use weavedrive_cache::TxId;

use crate::cache_args::CacheArgs;
use crate::commands::{CacheCommand, Via};
use crate::gateway_args::GatewayArgs;

#[derive(Parser)]
#[command(
    name = "weavedrive",
    version,
    about = "Read Arweave data as a local disk, verified"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Fetch a transaction's data, verify every byte, write it to stdout or a file.
    Get {
        /// Transaction id (43 base64url characters).
        id: TxId,
        /// Write here (atomically: temp file + rename, never partial); `-` or absent = stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        gateway: GatewayArgs,
        /// `chunks`: per-chunk Merkle proofs, streamed as verified (any gateway).
        /// `ranges`: large ranged reads of `/raw/{id}` checked against the data root at the
        /// end (ar.io gateways); falls back to chunks when that cannot be verified.
        #[arg(long, value_enum, default_value_t)]
        via: Via,
        /// Do not print the summary line on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Fetch whole transactions into the disk cache (verified), with progress.
    Preload {
        #[arg(required = true)]
        ids: Vec<TxId>,
        /// Keep them from eviction, across restarts, until `weavedrive cache unpin`.
        #[arg(long)]
        pin: bool,
        /// No progress bar or summary.
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Show a transaction's size, owner, tags and how much of it is cached.
    Stat {
        id: TxId,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Inspect and trim the disk cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Offline demo: start the embedded local gateway with sample data and fetch and verify it.
    Demo {
        /// Size of the large sample transaction, in MiB.
        #[arg(long, default_value_t = 300)]
        large_mib: u64,
        /// Make the local gateway behave like a distant one: delay per request (ms).
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// ... and a bandwidth cap per connection (MiB/s).
        #[arg(long)]
        bandwidth_mib: Option<u64>,
        /// Keep the gateway running (until Ctrl-C) after the checks, to try other commands.
        #[arg(long)]
        serve: bool,
    },
}
