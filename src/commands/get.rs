//! `weavedrive get`: a verified transaction or data item to stdout or atomically into a file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncWriteExt;
use weavedrive_cache::drive::SignatureCheck;
use weavedrive_cache::range_fetch::{RangeFetchError, fetch_ranges_to_file};
use weavedrive_cache::{Drive, DriveConfig, FileHandle, GatewayClient, TxId, VerifiedTx};

use crate::gateway_args::GatewayArgs;

/// What `get` names: a transaction (`<id>`), or a path in the path manifest `<id>` holds
/// (`<id>/<path>`; `<id>/` is the manifest's index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: TxId,
    pub path: Option<String>,
}

impl std::str::FromStr for Target {
    type Err = weavedrive_cache::arweave::IdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (id, path) = match text.split_once('/') {
            Some((id, path)) => (id, Some(path.to_string())),
            None => (text, None),
        };
        Ok(Target {
            id: id.parse()?,
            path,
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}/{path}", self.id),
            None => write!(f, "{}", self.id),
        }
    }
}

/// The id `target` names: itself, or what its manifest (a transaction or a data item) maps
/// the path to (as ar.io gateways resolve it: index for the empty path, the fallback for
/// unknown paths).
async fn resolve(drive: &Drive, target: &Target) -> anyhow::Result<TxId> {
    let (id, Some(path)) = (target.id, &target.path) else {
        return Ok(target.id);
    };
    let manifest = drive
        .manifest(&id)
        .await
        .with_context(|| format!("cannot resolve {target}"))?;
    manifest
        .resolve(path)
        .with_context(|| format!("{id}: the manifest has no path {path:?} (and no fallback)"))
}

/// A Drive without a disk cache, for what only it reads: manifests and data items.
fn memory_drive(gateway: &GatewayArgs) -> anyhow::Result<Drive> {
    Ok(Drive::new(DriveConfig {
        gateway: gateway.config(),
        cache_dir: None,
        ..DriveConfig::default()
    })?)
}

/// How to fetch: per-chunk proofs (streams, works on every gateway) or large ranges checked
/// against the root at the end (fewer requests; needs ar.io-style ranged `/raw/{id}`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Via {
    #[default]
    Chunks,
    Ranges,
}

pub async fn run(
    target: Target,
    output: Option<PathBuf>,
    gateway: &GatewayArgs,
    via: Via,
    quiet: bool,
) -> anyhow::Result<()> {
    let client = Arc::new(GatewayClient::new(gateway.config())?);
    let started = Instant::now();
    let window = gateway.concurrency;
    let drive = memory_drive(gateway)?;
    let id = resolve(&drive, &target).await?;
    let tx = match VerifiedTx::open(&client, &id).await {
        Ok(tx) => tx,
        Err(e) if e.is_not_found() => {
            let size = get_item(&drive, &id, output.as_deref(), quiet).await?;
            if !quiet {
                report(&target, id, size, started);
                let info = drive.stat(&id).await?;
                if let Some(SignatureCheck::Unsupported(kind)) = info.item.map(|i| i.signature) {
                    eprintln!(
                        "note: {id} is signed with type {} ({kind:?}), which this build does not \
                         verify; its bytes were verified against the bundle that holds it",
                        kind as u16
                    );
                }
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    match output.as_deref() {
        Some(path) if path != Path::new("-") => {
            fetch_to_file(&client, &tx, window, via, path).await?
        }
        _ if via == Via::Ranges => {
            // Nothing may reach stdout before the root matches: stage in a temp file.
            let staged = tempfile::tempfile().context("creating a temporary file")?;
            fill_file(&client, &tx, window, via, &staged).await?;
            copy_to_stdout(staged)?;
        }
        _ => stream_into(&client, &tx, window, tokio::io::stdout()).await?,
    }
    if !quiet {
        report(&target, id, tx.size(), started);
    }
    Ok(())
}

fn report(target: &Target, id: TxId, size: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let named = match target.path {
        Some(_) => format!("{target} ({id})"),
        None => id.to_string(),
    };
    eprintln!(
        "{named}: {size} bytes verified in {secs:.2} s ({:.1} MiB/s)",
        size as f64 / secs.max(1e-9) / (1024.0 * 1024.0)
    );
}

/// A data item through the Drive: read in order, with progress, into a temporary file while
/// its own signature is checked over all of it. Nothing reaches the output (file or stdout)
/// unless the signature matches: the bundle that holds an item vouches for nothing, as
/// whoever signed it (a gateway can) may have put a copied header in front of other data.
async fn get_item(
    drive: &Drive,
    id: &TxId,
    output: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<u64> {
    let size = drive.size(id).await?;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        // Drawn only when stderr is a terminal.
        ProgressBar::new(size).with_style(
            ProgressStyle::with_template(
                "{prefix} verifying [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )?
            .progress_chars("=> "),
        )
    };
    bar.set_prefix(format!("{}…", &id.to_string()[..8]));
    let progress = |done, _| bar.set_position(done);
    let stopped = || format!("{id}: not written (its bytes must all be verified first)");
    let to_file = output.filter(|path| *path != Path::new("-"));
    let staged = match to_file {
        Some(path) => Staged::Beside(temp_beside(path)?),
        None => Staged::Anonymous(tempfile::tempfile().context("creating a temporary file")?),
    };
    let file = tokio::fs::File::from_std(staged.file().try_clone()?);
    let mut writer = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let checked = drive.read_item_checked(id, &mut writer, progress).await;
    bar.finish_and_clear();
    checked.with_context(stopped)?;
    match (staged, to_file) {
        (Staged::Beside(temp), Some(path)) => persist(temp, path)?,
        (staged, _) => copy_to_stdout(staged.file().try_clone()?)?,
    }
    Ok(size)
}

/// Where `get` holds an item's bytes until its signature is checked.
enum Staged {
    Beside(tempfile::NamedTempFile),
    Anonymous(std::fs::File),
}

impl Staged {
    fn file(&self) -> &std::fs::File {
        match self {
            Staged::Beside(temp) => temp.as_file(),
            Staged::Anonymous(file) => file,
        }
    }
}

async fn copy_item(
    handle: &FileHandle,
    mut out: impl tokio::io::AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    let (id, size) = (handle.id(), handle.size());
    let mut offset = 0;
    while offset < size {
        // One block at a time: each read is then a slice of the memory tier, not a copy (a
        // 4 MiB read spent a third of the time allocating and copying).
        let piece = handle
            .read_at(offset, handle.block_remaining(offset))
            .await
            .with_context(|| format!("{id}: stopped after {offset} of {size} bytes"))?;
        if piece.is_empty() {
            bail!("{id}: got {offset} of {size} bytes");
        }
        out.write_all(&piece).await.context("writing output")?;
        offset += piece.len() as u64;
    }
    out.flush().await.context("writing output")?;
    Ok(())
}

/// Opens `id` (a transaction or, failing that, a data item) and streams its verified bytes
/// into `out`; returns the byte count.
pub async fn fetch_into(
    client: &Arc<GatewayClient>,
    id: TxId,
    window: usize,
    mut out: impl tokio::io::AsyncWrite + Unpin,
) -> anyhow::Result<u64> {
    match VerifiedTx::open(client, &id).await {
        Ok(tx) => {
            stream_into(client, &tx, window, out).await?;
            Ok(tx.size())
        }
        Err(e) if e.is_not_found() => {
            let drive = Drive::new(DriveConfig {
                gateway: client.config().clone(),
                cache_dir: None,
                ..DriveConfig::default()
            })?;
            let handle = drive.open(&id).await?;
            copy_item(&handle, &mut out).await?;
            Ok(handle.size())
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes verified bytes as they arrive. Bytes written before a failure were verified; the
/// error says where the data stopped.
async fn stream_into(
    client: &Arc<GatewayClient>,
    tx: &VerifiedTx,
    window: usize,
    mut out: impl tokio::io::AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    let id = tx.id();
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
    Ok(())
}

/// Fills `file` (empty) with the verified data: by ranges when asked and possible, falling
/// back to per-chunk proofs when the ranged data does not reproduce the root or no gateway
/// serves ranges.
async fn fill_file(
    client: &Arc<GatewayClient>,
    tx: &VerifiedTx,
    window: usize,
    via: Via,
    file: &std::fs::File,
) -> anyhow::Result<()> {
    if via == Via::Ranges
        && let Some(location) = tx.location
    {
        let target = Arc::new(file.try_clone()?);
        match fetch_ranges_to_file(client.clone(), &location, target, window).await {
            Ok(()) => return Ok(()),
            Err(RangeFetchError::Io(e)) => return Err(e).context("writing output"),
            Err(e) => {
                eprintln!("weavedrive: ranged read failed ({e}); verifying chunk by chunk instead");
                file.set_len(0)?;
            }
        }
    }
    let mut writer =
        tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file.try_clone()?));
    stream_into(client, tx, window, &mut writer).await
}

/// A temp file beside `path`, renamed over it only once every byte is verified and synced,
/// so `path` never holds partial or unverified data.
async fn fetch_to_file(
    client: &Arc<GatewayClient>,
    tx: &VerifiedTx,
    window: usize,
    via: Via,
    path: &Path,
) -> anyhow::Result<()> {
    let temp = temp_beside(path)?;
    fill_file(client, tx, window, via, temp.as_file()).await?;
    persist(temp, path)
}

fn temp_beside(path: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".weavedrive-get-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))
}

/// Syncs the verified temp file and renames it over `path`.
fn persist(temp: tempfile::NamedTempFile, path: &Path) -> anyhow::Result<()> {
    temp.as_file()
        .sync_all()
        .with_context(|| format!("syncing {}", temp.path().display()))?;
    temp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

fn copy_to_stdout(mut file: std::fs::File) -> anyhow::Result<()> {
    use std::io::Seek;
    file.rewind()?;
    let mut stdout = std::io::stdout().lock();
    std::io::copy(&mut file, &mut stdout).context("writing output")?;
    stdout.flush().context("writing output")?;
    Ok(())
}
