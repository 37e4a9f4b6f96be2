//! Reads one transaction start to end through the Drive (as a frontend would: an open handle,
//! 1 MiB sequential reads with read-ahead) and reports its sha256, speed and peak memory.
//! Used by `bench/drive_rss.sh` to check memory stays bounded by the configured budgets.
//!
//! cargo run --release --example read_through_drive -- --gateway URL --cache-dir DIR \
//!     --memory-cache 64MiB ID

use std::time::Instant;

use clap::Parser;
use sha2::{Digest, Sha256};
use weavedrive_cache::units::parse_size;
use weavedrive_cache::{Drive, DriveConfig, GatewayConfig, TxId};

#[derive(Parser)]
struct Args {
    id: TxId,
    #[arg(long)]
    gateway: String,
    #[arg(long)]
    cache_dir: std::path::PathBuf,
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    memory_cache: u64,
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    read_size: u64,
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let drive = Drive::new(DriveConfig {
        gateway: GatewayConfig {
            gateways: vec![args.gateway.clone()],
            ..GatewayConfig::default()
        },
        cache_dir: Some(args.cache_dir.clone()),
        memory_budget: args.memory_cache,
        ..DriveConfig::default()
    })?;
    let file = drive.open(&args.id).await?;
    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < file.size() {
        let piece = file.read_at(offset, args.read_size).await?;
        anyhow::ensure!(!piece.is_empty(), "empty read at {offset}");
        hasher.update(&piece);
        offset += piece.len() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = drive.stats();
    println!(
        "{}",
        serde_json::json!({
            "bytes": offset,
            "sha256": hex::encode(hasher.finalize()),
            "seconds": secs,
            "mib_per_s": offset as f64 / secs / 1048576.0,
            "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
            "memory_tier_peak_budget_mib": args.memory_cache as f64 / 1048576.0,
            "chunks_fetched": stats.chunks_fetched,
        })
    );
    Ok(())
}
