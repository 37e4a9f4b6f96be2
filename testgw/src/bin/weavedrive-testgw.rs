//! Runs the test gateway as a process, for benchmarks and manual poking:
//! prints one JSON line per transaction, then `READY <url>`, and serves until SIGINT/SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use sha2::{Digest, Sha256};
use weavedrive_testgw::{GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data};

#[derive(Parser)]
#[command(about = "Local Arweave gateway with real proofs, latency and bandwidth limits")]
struct Args {
    /// Port to listen on (0: any free port; the READY line tells which).
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Delay before every response head.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Per-connection body bandwidth, e.g. 25MiB (per second).
    #[arg(long, value_parser = parse_size)]
    bandwidth: Option<u64>,
    /// Transactions of deterministic pseudo-random data, e.g. 100MiB,4KiB.
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    random: Vec<u64>,
    /// ANS-104 data items of pseudo-random data (ed25519-signed), all in one bundle
    /// transaction, served by item id as ar.io serves them, e.g. 100MiB.
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    items: Vec<u64>,
    /// Files to serve as transactions.
    #[arg(long, num_args = 1..)]
    file: Vec<PathBuf>,
    /// Seed for generated data and for signatures (hence ids).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Ignore Range headers, like plain Arweave nodes.
    #[arg(long)]
    no_range: bool,
    /// Serve chunks only as JSON (`/chunk/{offset}`), like Arweave nodes: no binary
    /// `/chunk/{offset}/data`.
    #[arg(long)]
    no_binary_chunks: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut data = GatewayData::with_seed(TestWallet::fixed(), args.seed);
    let mut inputs: Vec<(Bytes, Option<PathBuf>)> = Vec::new();
    for (i, &size) in args.random.iter().enumerate() {
        let size = usize::try_from(size).context("size too large")?;
        let seed = args.seed.wrapping_mul(0x1_0000_0001).wrapping_add(i as u64);
        inputs.push((pseudo_random_data(seed, size), None));
    }
    for path in &args.file {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        inputs.push((bytes.into(), Some(path.clone())));
    }
    for (bytes, path) in inputs {
        let size = bytes.len();
        let tags = vec![("Content-Type".into(), "application/octet-stream".into())];
        // Hash for the report while the tree is built: halves start-up for GiB files.
        let (sha256, id) = std::thread::scope(|s| {
            let sha256 = s.spawn(|| hex::encode(Sha256::digest(&bytes)));
            let id = data.add_tx(bytes.clone(), tags);
            (sha256.join().expect("hashing thread"), id)
        });
        let mut line = serde_json::json!({ "id": id, "size": size, "sha256": sha256 });
        if let Some(path) = path {
            line["path"] = path.display().to_string().into();
        }
        println!("{line}");
    }

    if !args.items.is_empty() {
        use weavedrive_cache::arweave::ans104::SignatureType;
        use weavedrive_testgw::items::{BundleItem, signed_item};
        let mut bundled = Vec::new();
        for (i, &size) in args.items.iter().enumerate() {
            let size = usize::try_from(size).context("size too large")?;
            let seed = args.seed.wrapping_mul(0x2_0000_0003).wrapping_add(i as u64);
            let bytes = pseudo_random_data(seed, size);
            let item =
                BundleItem::new(signed_item(SignatureType::Ed25519, None, None, &[], &bytes));
            let line = serde_json::json!({
                "id": item.id,
                "size": size,
                "sha256": hex::encode(Sha256::digest(&bytes)),
                "item": true,
            });
            println!("{line}");
            bundled.push(item);
        }
        let root = data.add_bundle(&bundled, vec![]);
        println!("{}", serde_json::json!({ "bundle": root }));
    }

    let opts = GatewayOptions {
        addr: Some(SocketAddr::new(args.host, args.port)),
        latency: Duration::from_millis(args.latency_ms),
        bandwidth_per_connection: args.bandwidth,
        range_support: !args.no_range,
        head_support: true,
        binary_chunks: !args.no_binary_chunks,
    };
    let gateway = TestGateway::start(data, opts).await?;
    println!("READY {}", gateway.url());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    gateway.shutdown().await;
    Ok(())
}

/// `123`, `4KiB`, `25MiB`, `1GiB`, `1.5MB`, `25MiB/s`: binary units for K/Ki/M/Mi/G/Gi,
/// decimal for KB/MB/GB.
fn parse_size(text: &str) -> anyhow::Result<u64> {
    weavedrive_cache::units::parse_size(text).map_err(anyhow::Error::msg)
}
