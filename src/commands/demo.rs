//! `weavedrive demo`: an offline tour. Starts the embedded local gateway with sample data
//! (real signed headers, real chunk proofs), then fetches and verifies every sample through
//! the same code path as `weavedrive get`, and shows what to try next.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWrite;
use weavedrive_cache::{GatewayClient, TxId};
use weavedrive_testgw::{GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data};

use super::get::fetch_into;
use crate::gateway_args::GatewayArgs;

pub struct DemoOptions {
    pub large_mib: u64,
    pub latency_ms: u64,
    pub bandwidth_mib: Option<u64>,
    pub serve: bool,
}

struct Sample {
    name: String,
    id: TxId,
    data: Bytes,
}

fn samples(large_mib: u64) -> (GatewayData, Vec<Sample>) {
    let mut gateway = GatewayData::new(TestWallet::fixed());
    let mut samples = Vec::new();
    let mut add = |name: &str, content_type: &str, data: Bytes| {
        let tags = vec![
            ("Content-Type".to_string(), content_type.to_string()),
            ("App-Name".to_string(), "WeaveDrive-Demo".to_string()),
        ];
        let id = gateway.add_tx(data.clone(), tags);
        samples.push(Sample {
            name: name.to_string(),
            id,
            data,
        });
    };
    add(
        "hello.txt",
        "text/plain",
        Bytes::from_static(b"Hello from the permaweb, verified byte by byte.\n"),
    );
    add("empty", "application/octet-stream", Bytes::new());
    add(
        "one-chunk.bin",
        "application/octet-stream",
        pseudo_random_data(1, 256 * 1024),
    );
    add(
        "split-tail.bin",
        "application/octet-stream",
        pseudo_random_data(2, 256 * 1024 + 20_000),
    );
    add(
        "weights-4MiB.bin",
        "application/octet-stream",
        pseudo_random_data(3, 4 << 20),
    );
    if large_mib > 0 {
        let size = usize::try_from(large_mib << 20).expect("size fits in memory");
        add(
            &format!("large-{large_mib}MiB.bin"),
            "application/octet-stream",
            pseudo_random_data(4, size),
        );
    }
    (gateway, samples)
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    eprintln!("weavedrive demo: building sample transactions (signed, with Merkle proofs)...");
    let (data, samples) = samples(opts.large_mib);
    let gateway = TestGateway::start(
        data,
        GatewayOptions {
            latency: Duration::from_millis(opts.latency_ms),
            bandwidth_per_connection: opts.bandwidth_mib.map(|m| m << 20),
            ..GatewayOptions::default()
        },
    )
    .await?;
    let url = gateway.url();
    eprintln!("local gateway: {url}\n");

    let args = GatewayArgs {
        gateways: vec![url.clone()],
        ..GatewayArgs::defaults()
    };
    let client = Arc::new(GatewayClient::new(args.config())?);
    println!(
        "{:<20} {:<44} {:>12} {:>10}  verified",
        "sample", "id", "bytes", "MiB/s"
    );
    let mut failures = 0;
    for sample in &samples {
        let started = Instant::now();
        let mut sink = HashingSink::default();
        let result = fetch_into(&client, sample.id, args.concurrency, &mut sink).await;
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let expected: [u8; 32] = Sha256::digest(&sample.data).into();
        let status = match result {
            Ok(n) if n == sample.data.len() as u64 && sink.digest() == expected => {
                format!("ok  sha256 {}", &hex::encode(expected)[..16])
            }
            Ok(_) => "MISMATCH".to_string(),
            Err(e) => format!("FAILED: {e:#}"),
        };
        if !status.starts_with("ok") {
            failures += 1;
        }
        println!(
            "{:<20} {:<44} {:>12} {:>10.1}  {status}",
            sample.name,
            sample.id,
            sample.data.len(),
            sink.bytes as f64 / secs / (1024.0 * 1024.0),
        );
    }
    let hello = &samples[0].id;
    println!(
        "\nEvery byte above was checked against its transaction's Merkle root, itself covered by\n\
         the RSA-PSS signature that the transaction id commits to."
    );
    if failures > 0 {
        anyhow::bail!("{failures} sample(s) failed verification");
    }
    if opts.serve {
        println!(
            "\nThe gateway stays up until Ctrl-C. Try, in another shell:\n  \
             weavedrive get {hello} --gateway {url}\n  \
             curl -s {url}/tx/{hello} | head -c 300; echo\n  \
             curl -s {url}/tx/{hello}/offset; echo"
        );
        tokio::signal::ctrl_c().await?;
        eprintln!("stopping");
    } else {
        println!(
            "\nRun `weavedrive demo --serve` to keep the gateway up and try `weavedrive get` on it."
        );
    }
    gateway.shutdown().await;
    Ok(())
}

/// An output that keeps only a running sha256 and byte count.
#[derive(Default)]
struct HashingSink {
    hasher: Sha256,
    bytes: u64,
}

impl HashingSink {
    fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
}

impl AsyncWrite for HashingSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
