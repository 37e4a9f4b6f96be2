//! `weavedrive get`: stream a verified transaction to stdout or atomically into a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use weavedrive_cache::{GatewayClient, TxId, VerifiedTx};

use crate::gateway_args::GatewayArgs;

pub async fn run(
    id: TxId,
    output: Option<PathBuf>,
    gateway: &GatewayArgs,
    quiet: bool,
) -> anyhow::Result<()> {
    let client = Arc::new(GatewayClient::new(gateway.config())?);
    let started = Instant::now();
    let size = match output.as_deref() {
        None => fetch_into(&client, id, gateway.concurrency, tokio::io::stdout()).await?,
        Some(path) if path == Path::new("-") => {
            fetch_into(&client, id, gateway.concurrency, tokio::io::stdout()).await?
        }
        Some(path) => fetch_to_file(&client, id, gateway.concurrency, path).await?,
    };
    if !quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{id}: {size} bytes verified in {secs:.2} s ({:.1} MiB/s)",
            size as f64 / secs.max(1e-9) / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

/// Writes verified bytes as they arrive; returns the byte count. On stdout, bytes already
/// written before a failure stay written (they were verified), and the error says where
/// the data stopped.
pub async fn fetch_into(
    client: &Arc<GatewayClient>,
    id: TxId,
    window: usize,
    mut out: impl tokio::io::AsyncWrite + Unpin,
) -> anyhow::Result<u64> {
    let tx = VerifiedTx::open(client, &id).await?;
    let mut stream = tx.stream(client.clone(), window);
    while let Some(piece) = stream.next().await {
        let piece = piece.with_context(|| {
            format!(
                "{id}: stopped after {} of {} bytes",
                stream.position(),
                tx.size()
            )
        })?;
        out.write_all(&piece).await.context("writing output")?;
    }
    out.flush().await.context("writing output")?;
    if stream.position() != tx.size() {
        bail!("{id}: got {} of {} bytes", stream.position(), tx.size());
    }
    Ok(tx.size())
}

/// A temp file beside `path`, renamed over it only once every byte is verified and synced,
/// so `path` never holds partial or unverified data.
async fn fetch_to_file(
    client: &Arc<GatewayClient>,
    id: TxId,
    window: usize,
    path: &Path,
) -> anyhow::Result<u64> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".weavedrive-get-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let file = tokio::fs::File::from_std(temp.reopen()?);
    let mut writer = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let size = fetch_into(client, id, window, &mut writer).await?;
    let file = writer.into_inner();
    file.sync_all()
        .await
        .with_context(|| format!("syncing {}", temp.path().display()))?;
    drop(file);
    temp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(size)
}
