//! Host inference through the mount, in one program: mounts a Drive in-process, memory-maps
//! all-MiniLM-L6-v2's weights from `<mount>/data/<id>` (every page verified on its way in),
//! and prints the sentence embedding as JSON. With `--local DIR` it also embeds from the same
//! files on local disk and reports the largest difference, which must be 0: same bytes, same
//! numbers. Needs /dev/fuse and root (or fusermount3).
//!
//! cargo run --release --example model_through_mount -- --gateway URL \
//!     CONFIG_ID TOKENIZER_ID WEIGHTS_ID [--local DIR] [--cache-dir DIR]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use weavedrive_cache::{Drive, DriveConfig, GatewayConfig, TxId};
use weavedrive_minilm::{Weights, embed};

const SENTENCE: &str = "WeaveDrive serves model weights from Arweave.";

#[derive(Parser)]
struct Args {
    /// Ids may start with `-` (one in 64 does).
    #[arg(allow_hyphen_values = true)]
    config: TxId,
    #[arg(allow_hyphen_values = true)]
    tokenizer: TxId,
    #[arg(allow_hyphen_values = true)]
    weights: TxId,
    #[arg(long)]
    gateway: String,
    /// Disk cache (default: a temporary directory, so the first load is cold).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// A directory holding config.json, tokenizer.json and model.safetensors to compare with.
    #[arg(long)]
    local: Option<PathBuf>,
}

fn embed_from(config: &Path, tokenizer: &Path, weights: &Path) -> Result<Vec<f32>> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    embed(
        &read(config)?,
        &read(tokenizer)?,
        Weights::Mmap(weights.to_path_buf()),
        SENTENCE,
    )
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("model_through_mount: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let drive = {
        let _entered = runtime.enter();
        Drive::new(DriveConfig {
            gateway: GatewayConfig {
                gateways: vec![args.gateway.clone()],
                ..GatewayConfig::default()
            },
            cache_dir: Some(args.cache_dir.unwrap_or(scratch.path().join("cache"))),
            ..DriveConfig::default()
        })?
    };
    let mountpoint = scratch.path().join("mnt");
    std::fs::create_dir(&mountpoint)?;
    // The FUSE threads serve from the runtime; this thread only reads files, as any program.
    let session = {
        let _entered = runtime.enter();
        weavedrive_fuse::mount(
            drive,
            &mountpoint,
            &weavedrive_fuse::MountOptions::default(),
        )
        .context("mounting (needs /dev/fuse and root)")?
    };
    let data = |id: &TxId| mountpoint.join("data").join(id.to_string());
    let started = std::time::Instant::now();
    let through = embed_from(
        &data(&args.config),
        &data(&args.tokenizer),
        &data(&args.weights),
    );
    let took = started.elapsed();
    session.umount_and_join()?;
    let through = through.context("embedding through the mount")?;
    println!("{}", serde_json::to_string(&through)?);
    eprintln!(
        "through the mount: {} dims in {:.3} s",
        through.len(),
        took.as_secs_f64()
    );
    if let Some(dir) = args.local {
        let local = embed_from(
            &dir.join("config.json"),
            &dir.join("tokenizer.json"),
            &dir.join("model.safetensors"),
        )?;
        let diff = local
            .iter()
            .zip(&through)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("largest difference from local disk: {diff:e}");
        if local.len() != through.len() || diff != 0.0 {
            bail!("the embedding through the mount differs from local disk's by {diff:e}");
        }
    }
    Ok(())
}
