//! `weavedrive demo`: an offline tour. Starts the embedded local gateway with sample data
//! (real signed headers, real chunk proofs), fetches and verifies every sample through the
//! same code path as `weavedrive get`, mounts the drive, reads every sample back through the
//! mount, and serves it until Ctrl-C with suggestions of what to try.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWrite;
use weavedrive_cache::{GatewayClient, TxId};
use weavedrive_testgw::{
    GatewayData, GatewayOptions, MANIFEST_CONTENT_TYPE, TestGateway, TestWallet, path_manifest,
    pseudo_random_data,
};

use weavedrive_cache::{Drive, DriveConfig};

use super::get::fetch_into;
use super::mount;
use crate::gateway_args::GatewayArgs;

pub struct DemoOptions {
    pub large_mib: u64,
    pub latency_ms: u64,
    pub bandwidth_mib: Option<u64>,
    /// Where to mount (default: a temporary directory).
    pub mountpoint: Option<PathBuf>,
    /// Check and exit instead of serving until Ctrl-C.
    pub exit: bool,
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
        id
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
    // Real weights, if scripts/fetch-model.sh (or the test command) has fetched them.
    let model = std::env::var_os("WEAVEDRIVE_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/models/all-minilm-l6-v2".into());
    if model.join(".complete").exists() {
        let mut files = Vec::new();
        for (name, content_type) in [
            ("config.json", "application/json"),
            ("tokenizer.json", "application/json"),
            ("model.safetensors", "application/octet-stream"),
        ] {
            if let Ok(bytes) = std::fs::read(model.join(name)) {
                let id = add(
                    &format!("all-minilm-l6-v2/{name}"),
                    content_type,
                    bytes.into(),
                );
                files.push((name, id));
            }
        }
        // One id that names the others: the model's path manifest.
        add(
            "all-minilm-l6-v2/",
            MANIFEST_CONTENT_TYPE,
            path_manifest(Some("config.json"), &files),
        );
    }
    if large_mib > 0 {
        let size = usize::try_from(large_mib << 20).expect("size fits in memory");
        add(
            &format!("large-{large_mib}MiB.bin"),
            "application/octet-stream",
            pseudo_random_data(4, size),
        );
    }
    add_bundle(&mut gateway, &mut samples);
    add_llm(&mut gateway, &mut samples);
    (gateway, samples)
}

/// A real GGUF language model, if scripts/fetch-llm.sh (or the test command) has fetched it,
/// published as such weights are: a data item in a bundle, and a path manifest naming it.
fn add_llm(gateway: &mut GatewayData, samples: &mut Vec<Sample>) {
    use weavedrive_cache::arweave::ans104::SignatureType;
    use weavedrive_testgw::items::{BundleItem, signed_item, tags};
    const GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let dir = std::env::var_os("WEAVEDRIVE_LLM_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/models/smollm2-135m".into());
    let Ok(bytes) = std::fs::read(dir.join(GGUF)) else {
        return;
    };
    if !dir.join(".complete").exists() {
        return;
    }
    let data = Bytes::from(bytes);
    let item_tags = tags(&[
        ("Content-Type", "application/octet-stream"),
        ("App-Name", "WeaveDrive-Demo"),
    ]);
    let item = BundleItem::new(signed_item(
        SignatureType::Ed25519,
        None,
        None,
        &item_tags,
        &data,
    ));
    let id = item.id;
    samples.push(Sample {
        name: format!("smollm2-135m/{GGUF}"),
        id,
        data,
    });
    let tags = vec![("App-Name".to_string(), "WeaveDrive-Demo".to_string())];
    gateway.add_bundle(&[item], tags.clone());
    let manifest = path_manifest(Some(GGUF), &[(GGUF, id)]);
    let manifest_tags = [
        vec![(
            "Content-Type".to_string(),
            MANIFEST_CONTENT_TYPE.to_string(),
        )],
        tags,
    ]
    .concat();
    samples.push(Sample {
        name: "smollm2-135m/".into(),
        id: gateway.add_tx(manifest.clone(), manifest_tags),
        data: manifest,
    });
}

/// ANS-104 data items, as most data on Arweave is stored: a bundle transaction holding an
/// ed25519 item, an Ethereum-signed one, and a nested bundle with an Arweave-signed one.
fn add_bundle(gateway: &mut GatewayData, samples: &mut Vec<Sample>) {
    use weavedrive_cache::arweave::ans104::SignatureType;
    use weavedrive_testgw::items::{BundleItem, nested_bundle_item, signed_item, tags};
    let mut item = |name: &str, kind: SignatureType, data: Bytes| {
        let tags = tags(&[
            ("Content-Type", "text/plain"),
            ("App-Name", "WeaveDrive-Demo"),
        ]);
        let item = BundleItem::new(signed_item(kind, None, None, &tags, &data));
        samples.push(Sample {
            name: name.to_string(),
            id: item.id,
            data,
        });
        item
    };
    let ed = item(
        "item-ed25519.txt",
        SignatureType::Ed25519,
        Bytes::from_static(b"A data item in a bundle, signed with ed25519.\n"),
    );
    let eth = item(
        "item-ethereum.bin",
        SignatureType::Ethereum,
        pseudo_random_data(5, 600 * 1024),
    );
    let deep = item(
        "item-nested.bin",
        SignatureType::Arweave,
        pseudo_random_data(6, 100 * 1024),
    );
    let tags = vec![("App-Name".to_string(), "WeaveDrive-Demo".to_string())];
    gateway.add_bundle(&[ed, eth, nested_bundle_item(&[deep])], tags);
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
    println!(
        "\nEvery byte above was checked against its transaction's Merkle root, itself covered by\n\
         the RSA-PSS signature that the transaction id commits to. The items were found in\n\
         their bundle's verified bytes and their own signatures checked over all their data."
    );
    if failures > 0 {
        anyhow::bail!("{failures} sample(s) failed verification");
    }
    let hello = samples[0].id;
    match mount_and_check(&opts, &url, &samples).await {
        Ok(()) => {}
        Err(MountFailure::Unavailable(why)) => {
            println!("\n(no mount: {why})");
            if !opts.exit {
                let mut stop = mount::StopSignals::install()?;
                println!(
                    "The gateway stays up until Ctrl-C. Try, in another shell:\n  \
                     weavedrive get {hello} --gateway {url}\n  \
                     curl -s {url}/tx/{hello}/offset; echo"
                );
                stop.received().await;
            }
        }
        Err(MountFailure::Failed(e)) => return Err(e),
    }
    gateway.shutdown().await;
    Ok(())
}

enum MountFailure {
    /// This machine cannot mount (no /dev/fuse, not root and no fusermount3): not an error.
    Unavailable(String),
    Failed(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for MountFailure {
    fn from(e: E) -> Self {
        MountFailure::Failed(e.into())
    }
}

fn can_mount() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse is missing".into());
    }
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let helper = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("fusermount3").exists()));
    if !root && !helper {
        return Err("not root and fusermount3 is not installed (apt-get install fuse3)".into());
    }
    Ok(())
}

/// Mounts the demo gateway's data, reads every sample back through the mount and checks its
/// sha256, then (unless `--exit`) serves until Ctrl-C.
async fn mount_and_check(
    opts: &DemoOptions,
    url: &str,
    samples: &[Sample],
) -> Result<(), MountFailure> {
    can_mount().map_err(MountFailure::Unavailable)?;
    let scratch = tempfile::Builder::new()
        .prefix("weavedrive-demo-")
        .tempdir()?;
    let mountpoint = match &opts.mountpoint {
        Some(path) => path.clone(),
        None => {
            let path = scratch.path().join("mnt");
            std::fs::create_dir(&path)?;
            path
        }
    };
    mount::prepare_mountpoint(&mountpoint)?;
    // Before mounting: from here on a signal must unmount, not kill us with the mount left.
    let mut stop = mount::StopSignals::install()?;
    let drive = Drive::new(DriveConfig {
        gateway: GatewayArgs {
            gateways: vec![url.to_string()],
            ..GatewayArgs::defaults()
        }
        .config(),
        cache_dir: Some(scratch.path().join("cache")),
        ..DriveConfig::default()
    })?;
    let session = weavedrive_fuse::mount(
        drive,
        &mountpoint,
        &weavedrive_fuse::MountOptions::default(),
    )?;
    println!(
        "\nMounted at {}; reading every sample back through it:",
        mountpoint.display()
    );
    let checks = {
        let (mountpoint, expected) = (
            mountpoint.clone(),
            samples
                .iter()
                .map(|s| (s.name.clone(), s.id, Sha256::digest(&s.data)))
                .collect::<Vec<_>>(),
        );
        // File reads through our own mount: off the runtime, whose threads serve them.
        tokio::task::spawn_blocking(move || {
            expected
                .into_iter()
                .map(|(name, id, want)| {
                    let path = mountpoint.join("data").join(id.to_string());
                    let started = Instant::now();
                    let got =
                        std::fs::read(&path).map(|bytes| (Sha256::digest(&bytes), bytes.len()));
                    (name, path, want, got, started.elapsed())
                })
                .collect::<Vec<_>>()
        })
        .await?
    };
    let mut failures = 0;
    for (name, path, want, got, took) in &checks {
        let status = match got {
            Ok((digest, _)) if digest == want => "ok  sha256 matches".to_string(),
            Ok(_) => "MISMATCH".to_string(),
            Err(e) => format!("FAILED: {e}"),
        };
        failures += usize::from(!status.starts_with("ok"));
        println!(
            "  {name:<20} {:>8.1} ms  {status}  {}",
            took.as_secs_f64() * 1000.0,
            path.display()
        );
    }
    if failures > 0 {
        let _ = mount::finish(session, &mountpoint);
        return Err(MountFailure::Failed(anyhow::anyhow!(
            "{failures} sample(s) read wrong through the mount"
        )));
    }
    let hello = mountpoint.join("data").join(samples[0].id.to_string());
    let largest = samples
        .iter()
        .max_by_key(|s| s.data.len())
        .expect("samples");
    let big = mountpoint.join("data").join(largest.id.to_string());
    let item = samples
        .iter()
        .find(|s| s.name.starts_with("item-"))
        .expect("a bundled item");
    let item_tx = mountpoint.join("tx").join(item.id.to_string());
    let item = mountpoint.join("data").join(item.id.to_string());
    let tx = mountpoint.join("tx").join(samples[0].id.to_string());
    if !opts.exit {
        println!(
            "\nThe drive stays mounted until Ctrl-C. Try, in another shell:\n  \
             ls -l {data}\n  \
             cat {hello}\n  \
             cat {tx}\n  \
             cat {item}; cat {item_tx}\n  \
             getfattr -d {item}\n  \
             sha256sum {big}\n  \
             python3 -c 'import mmap,sys; f=open(sys.argv[1],\"rb\"); m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ); print(len(m), m[:16].hex())' {big}",
            data = mountpoint.join("data").display(),
            hello = hello.display(),
            tx = tx.display(),
            item = item.display(),
            item_tx = item_tx.display(),
            big = big.display(),
        );
        stop.wait(&session).await;
    }
    mount::finish(session, &mountpoint)?;
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
