//! `weavedrive get`: a verified transaction or data item to stdout or atomically into a file,
//! read through the Drive (the mount's read path: served from the disk cache when it holds
//! the data, and leaving what it fetches there, unless `--no-cache`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncWriteExt;
use weavedrive_cache::drive::{InOrderRead, SignatureCheck};
use weavedrive_cache::range_fetch::{RangeFetchError, fetch_ranges_to_file};
use weavedrive_cache::{Drive, DriveConfig, GatewayClient, TxId, VerifiedTx};

use crate::cache_args::CacheArgs;
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
    cache: &CacheArgs,
    no_cache: bool,
    via: Via,
    quiet: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let drive = Drive::new(cache.get_config(gateway, no_cache))?;
    crate::metrics_endpoint::start(cache.metrics, &drive)?;
    let id = resolve(&drive, &target).await?;
    let to_file = output.as_deref().filter(|path| *path != Path::new("-"));
    if via == Via::Ranges && !cached_whole(&drive, &id).await {
        // Opened beside the Drive (which proves a first chunk when it opens a transaction).
        match VerifiedTx::open(client_of(&drive), &id).await {
            Ok(tx) => {
                get_by_ranges(&drive, &tx, to_file, gateway.concurrency).await?;
                super::finish_shared(&drive).await;
                if !quiet {
                    report(&target, id, tx.size(), started);
                }
                return Ok(());
            }
            // Not a transaction: a data item, always read by proven chunk.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let read = drive.in_order_read(&id).await?;
    get_through_drive(&drive, id, read, to_file, gateway.concurrency, quiet).await?;
    super::finish_shared(&drive).await;
    if !quiet {
        report(&target, id, read.size, started);
        if read.data_item {
            let info = drive.stat(&id).await?;
            if let Some(SignatureCheck::Unsupported(kind)) = info.item.map(|i| i.signature) {
                eprintln!(
                    "note: {id} is signed with type {} ({kind:?}), which this build does not \
                     verify; its bytes were verified against the bundle that holds it",
                    kind as u16
                );
            }
        }
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

/// Whether the disk cache holds every byte of `id` (then ranged reads would only fetch it
/// again). Asks no gateway: ids the cache has no record of are not looked up.
async fn cached_whole(drive: &Drive, id: &TxId) -> bool {
    if !drive.cached_ids().is_ok_and(|ids| ids.contains(id)) {
        return false;
    }
    drive
        .stat(id)
        .await
        .is_ok_and(|info| info.bytes_cached >= info.size)
}

/// `--via ranges` for a transaction not wholly cached: large ranged reads checked against
/// the data root at the end, beside the Drive (what they fetch is not cached).
async fn get_by_ranges(
    drive: &Drive,
    tx: &VerifiedTx,
    to_file: Option<&Path>,
    window: usize,
) -> anyhow::Result<()> {
    let client = client_of(drive);
    match to_file {
        Some(path) => fetch_to_file(client, tx, window, Via::Ranges, path).await,
        None => {
            // Nothing may reach stdout before the root matches: stage in a temp file.
            let staged = tempfile::tempfile().context("creating a temporary file")?;
            fill_file(client, tx, window, Via::Ranges, &staged).await?;
            copy_to_stdout(staged)
        }
    }
}

/// Reads `id` through the Drive (memory, disk cache, then gateways, verified and cached as
/// the mount reads), in order, with progress, `reads_ahead` blocks at once. Into a file:
/// a temporary one beside it, renamed over it once all is verified. To stdout: straight
/// there, unless the bytes must be held until the end (a data item whose signature is not
/// checked yet: the bundle that holds it vouches for nothing, as whoever signed it, a
/// gateway can, may have put a copied header in front of other data), then through an
/// anonymous temporary file.
async fn get_through_drive(
    drive: &Drive,
    id: TxId,
    read: InOrderRead,
    to_file: Option<&Path>,
    reads_ahead: usize,
    quiet: bool,
) -> anyhow::Result<()> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        // Drawn only when stderr is a terminal.
        ProgressBar::new(read.size).with_style(
            ProgressStyle::with_template(
                "{prefix} verifying [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )?
            .progress_chars("=> "),
        )
    };
    bar.set_prefix(format!("{}…", &id.to_string()[..8]));
    let done = std::cell::Cell::new(0);
    let staged = match (to_file, read.must_be_held) {
        (Some(path), _) => Some(Staged::Beside(temp_beside(path)?)),
        (None, true) => Some(Staged::Anonymous(
            tempfile::tempfile().context("creating a temporary file")?,
        )),
        (None, false) => None,
    };
    let written_back = std::cell::Cell::new(0);
    let progress = |at, _| {
        done.set(at);
        bar.set_position(at);
        // The file is synced before it is renamed into place: start its writeback as it
        // grows, so that sync waits for the last few MiB only.
        if let Some(staged) = &staged
            && at >= written_back.get() + WRITEBACK_STEP
        {
            weavedrive_cache::store::start_writeback(staged.file(), 0, 0);
            written_back.set(at);
        }
    };
    let stopped = || match read.must_be_held {
        true => format!("{id}: not written (its bytes must all be verified first)"),
        false => format!("{id}: stopped after {} of {} bytes", done.get(), read.size),
    };
    let result = match &staged {
        Some(staged) => {
            let file = tokio::fs::File::from_std(staged.file().try_clone()?);
            let mut writer = tokio::io::BufWriter::with_capacity(1 << 20, file);
            drive
                .read_in_order(&id, &mut writer, reads_ahead, progress)
                .await
        }
        None => {
            let mut stdout = tokio::io::stdout();
            drive
                .read_in_order(&id, &mut stdout, reads_ahead, progress)
                .await
        }
    };
    bar.finish_and_clear();
    let size = result.with_context(stopped)?;
    if size != read.size {
        bail!("{id}: got {size} of {} bytes", read.size);
    }
    match (staged, to_file) {
        (Some(Staged::Beside(temp)), Some(path)) => persist(temp, path)?,
        (Some(staged), _) => copy_to_stdout(staged.file().try_clone()?)?,
        (None, _) => {}
    }
    Ok(())
}

/// How often (in bytes written) `get` asks the kernel to start writing its output back.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Where `get` holds bytes until they are all verified.
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

/// Streams `id`'s verified bytes (a transaction or a data item) into `out` through a Drive
/// with no disk cache, as `get --no-cache` reads; returns the byte count. A data item's
/// bytes are good only if this returns `Ok`.
pub async fn fetch_into(
    client: &Arc<GatewayClient>,
    id: TxId,
    window: usize,
    mut out: impl tokio::io::AsyncWrite + Unpin,
) -> anyhow::Result<u64> {
    let drive = Drive::new(DriveConfig {
        gateway: client.config().clone(),
        cache_dir: None,
        ..DriveConfig::default()
    })?;
    drive
        .read_in_order(&id, &mut out, window, |_, _| {})
        .await
        .with_context(|| format!("{id}"))
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

/// The gateway client of a Drive made by `Drive::new` (as every Drive here is).
fn client_of(drive: &Drive) -> &Arc<GatewayClient> {
    drive
        .client()
        .expect("a Drive made by Drive::new has its gateway client")
}
