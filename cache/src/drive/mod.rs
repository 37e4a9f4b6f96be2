//! The `Drive`: the one API the frontends use. Transactions are opened by id (authenticated
//! header, located data), read by byte range from verified blocks kept in memory and on disk,
//! preloaded and pinned. All policy lives here and below; frontends only translate.
//!
//! This file is the API and its wiring; each concern has its own module:
//! * `span.rs`: what an id names (a transaction's data, or a data item's stretch of it);
//! * `tx.rs`: transactions (headers, located data, relocation);
//! * `item/`: data items (resolution, signature check);
//! * `read.rs`: read planning, the one read core behind every read;
//! * `chunk.rs`: chunks fetched, proven and kept; `flight.rs`: single-flight;
//! * `prefetch/`: prefetch and read-ahead (disk-to-memory promotion, a reader's window);
//! * `extent.rs`: when an id gets an extent file (one file, read by the kernel or one pread);
//! * `keep.rs`: preload, pins, the records' share of the disk, gc and clear;
//! * `handle.rs`: an open file; `info.rs`, `error.rs`, `memo.rs`: reports, errors, memos.

mod chunk;
mod error;
mod extent;
mod flight;
mod handle;
mod in_order;
mod info;
mod item;
mod keep;
mod memo;
mod prefetch;
mod read;
mod scrub;
mod share;
mod span;
mod tx;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Semaphore;

pub use error::{DriveError, ItemRefusal};
pub use extent::EXTENT_MIN_BYTES;
pub use handle::FileHandle;
pub use in_order::InOrderRead;
pub use info::{DriveStats, Metadata, TxInfo, header_json};
pub use item::{ItemInfo, SignatureCheck, VerificationMode, WHOLE_ITEM_MAX};
pub use scrub::CacheCheck;
pub use share::Shared;

use crate::arweave::TxId;
use crate::arweave::manifest::Manifest;
use crate::gateway::{
    AttemptError, BlockHeader, GatewayClient, GatewayConfig, GatewayError, Source,
};
use crate::metrics::Metrics;
use crate::shared::{SharedTier, TieredSource};
use crate::store::DiskStore;
use crate::store::items::ItemStore;
use crate::store::memory::MemoryTier;
use crate::store::pins::PinStore;
use crate::store::records::RecordSpace;
use crate::store::txmap::{TxMapStore, TxRecord};
use flight::Flights;
use info::Counters;
use item::ItemRecord;
use memo::Memo;
use prefetch::{PREFETCH_IN_FLIGHT, PREFETCH_WALKERS, Promotions};
use read::PARALLEL_DISK_READS;
use span::Span;

#[derive(Debug, Clone)]
pub struct DriveConfig {
    pub gateway: GatewayConfig,
    /// Disk tier location; `None` keeps everything in memory.
    pub cache_dir: Option<PathBuf>,
    pub disk_budget: u64,
    pub memory_budget: u64,
    /// Largest sequential read-ahead window (it starts at 1 MiB and doubles).
    pub prefetch_max: u64,
    /// Chunk fetches in flight for one preload.
    pub preload_concurrency: usize,
    /// Serve data items before their own signature has been checked over all of their data,
    /// on the word of whoever signed the bundle holding them (each chunk still proven against
    /// that bundle's data_root), and serve items of signature types this build cannot check.
    /// Whoever signed the bundle (a gateway can) then decides an item's bytes. Off by default.
    pub trust_bundle_signer: bool,
    /// Assemble an extent file for each transaction or item of at least
    /// [`EXTENT_MIN_BYTES`] whose every chunk is on disk (see `store/extents.rs`), and read
    /// it from there. On by default; off, blocks serve every read.
    pub extents: bool,
    /// The shared tier's URL (`s3://BUCKET/PREFIX`, `gs://`, `az://`, `file://`; see
    /// `shared/`): asked after the local disk and before the gateways, written back to.
    pub shared_cache: Option<String>,
}

/// Defaults, named so that the command line's defaults are these same values.
impl DriveConfig {
    pub const DEFAULT_DISK_BUDGET: u64 = 20 << 30;
    pub const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;
    pub const DEFAULT_PRELOAD_CONCURRENCY: usize = 64;
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig {
            gateway: GatewayConfig::default(),
            cache_dir: None,
            disk_budget: Self::DEFAULT_DISK_BUDGET,
            memory_budget: Self::DEFAULT_MEMORY_BUDGET,
            prefetch_max: 64 << 20,
            preload_concurrency: Self::DEFAULT_PRELOAD_CONCURRENCY,
            trust_bundle_signer: false,
            extents: true,
            shared_cache: None,
        }
    }
}

/// Bounds of what the Drive remembers about ids in memory (see `memo.rs`): transaction
/// records (a format-1 header holds its data, a large map up to 2 MiB of hashes), data items
/// (a header with its tags) and parsed manifests.
const MEMO_TXS: (usize, u64) = (4096, 128 << 20);
const MEMO_ITEMS: (usize, u64) = (4096, 64 << 20);
const MEMO_MANIFESTS: (usize, u64) = (64, 256 << 20);

#[derive(Clone)]
pub struct Drive {
    inner: Arc<Inner>,
}

struct Inner {
    config: DriveConfig,
    /// Where chunks, headers and places come from: untrusted, every answer verified here.
    source: Arc<dyn Source>,
    /// The gateways alone (`source` without the shared tier in front, when there is one).
    gateways: Arc<dyn Source>,
    /// The HTTP client behind `source`, when the Drive was made with [`Drive::new`].
    client: Option<Arc<GatewayClient>>,
    memory: MemoryTier,
    disk: Option<Arc<DiskStore>>,
    maps: Option<Arc<TxMapStore>>,
    txs: Mutex<Memo<Arc<TxRecord>>>,
    /// Data items resolved in this process, and where resolved ones are kept on disk.
    items: Mutex<Memo<Arc<ItemRecord>>>,
    item_store: Option<ItemStore>,
    item_flights: Flights<TxId, Arc<ItemRecord>>,
    manifests: Mutex<Memo<Arc<Manifest>>>,
    tx_flights: Flights<TxId, Arc<TxRecord>>,
    chunk_flights: Flights<(TxId, usize), Bytes>,
    /// Transactions being located afresh after their chunks failed everywhere (see
    /// [`Drive::relocate`]).
    relocations: Flights<TxId, bool>,
    /// Slots for chunk fetches started ahead of readers, and for the threads that start
    /// them (a hint arriving while all are busy is dropped).
    prefetch_slots: Arc<Semaphore>,
    prefetch_walkers: Arc<Semaphore>,
    /// What the per-id records on disk take (see `store/records.rs`).
    records: Option<Arc<RecordSpace>>,
    /// Pins on disk (`store/pins.rs`), and the pinned ids.
    pins: Option<PinStore>,
    pinned: Mutex<HashSet<TxId>>,
    /// Blocks being read from disk into memory ahead of a sequential reader.
    promotions: Promotions,
    /// Ids whose extent is being assembled by this process.
    assembling: Mutex<HashSet<TxId>>,
    /// Why the disk cache last refused a write (full, read-only), for preload's error.
    last_disk_error: Mutex<Option<String>>,
    counters: Counters,
    /// What this Drive did, for `--metrics` and `stat --json` (shared with the gateway
    /// client and the shared tier).
    metrics: Arc<Metrics>,
    /// The shared tier, when configured.
    shared: Option<Arc<SharedTier>>,
    /// The runtime the Drive was made in: blocking reads and prefetches from frontend threads
    /// outside it run their network work there.
    runtime: Option<tokio::runtime::Handle>,
}

impl Drive {
    pub fn new(config: DriveConfig) -> Result<Drive, DriveError> {
        let metrics = Arc::new(Metrics::new());
        let client = GatewayClient::with_metrics(config.gateway.clone(), metrics.clone())?;
        let client = Arc::new(client);
        Self::build(config, client.clone(), Some(client), metrics)
    }

    /// A Drive over another [`Source`] than the gateways `config.gateway` names (whose
    /// `max_data_size` still applies): a test double, say. What the source serves is
    /// verified exactly as the gateways' answers are.
    pub fn with_source(config: DriveConfig, source: Arc<dyn Source>) -> Result<Drive, DriveError> {
        Self::build(config, source, None, Arc::new(Metrics::new()))
    }

    fn build(
        config: DriveConfig,
        source: Arc<dyn Source>,
        client: Option<Arc<GatewayClient>>,
        metrics: Arc<Metrics>,
    ) -> Result<Drive, DriveError> {
        let shared = match &config.shared_cache {
            Some(url) => {
                Some(SharedTier::open(url, metrics.clone()).map_err(DriveError::SharedCache)?)
            }
            None => None,
        };
        let gateways = source.clone();
        let source: Arc<dyn Source> = match &shared {
            Some(tier) => Arc::new(TieredSource::new(tier.clone(), source)),
            None => source,
        };
        let (disk, maps, item_store, records, pins) = match &config.cache_dir {
            Some(dir) => (
                Some(Arc::new(DiskStore::open(dir, config.disk_budget)?)),
                Some(Arc::new(TxMapStore::open(dir)?)),
                Some(ItemStore::open(dir)?),
                Some(Arc::new(RecordSpace::open(dir)?)),
                Some(PinStore::new(dir)),
            ),
            None => (None, None, None, None, None),
        };
        let drive = Drive {
            inner: Arc::new(Inner {
                memory: MemoryTier::new(config.memory_budget),
                config,
                source,
                gateways,
                client,
                disk,
                maps,
                txs: Mutex::new(Memo::new(MEMO_TXS.0, MEMO_TXS.1)),
                items: Mutex::new(Memo::new(MEMO_ITEMS.0, MEMO_ITEMS.1)),
                item_store,
                item_flights: Flights::default(),
                manifests: Mutex::new(Memo::new(MEMO_MANIFESTS.0, MEMO_MANIFESTS.1)),
                tx_flights: Flights::default(),
                chunk_flights: Flights::default(),
                relocations: Flights::default(),
                prefetch_slots: Arc::new(Semaphore::new(PREFETCH_IN_FLIGHT)),
                prefetch_walkers: Arc::new(Semaphore::new(PREFETCH_WALKERS)),
                records,
                pins,
                pinned: Mutex::default(),
                promotions: Promotions::new(PARALLEL_DISK_READS),
                assembling: Mutex::default(),
                last_disk_error: Mutex::default(),
                counters: Counters::default(),
                metrics,
                shared,
                runtime: tokio::runtime::Handle::try_current().ok(),
            }),
        };
        drive.restore_pins()?;
        drive.trim_records(drive.inner.config.disk_budget);
        Ok(drive)
    }

    /// The HTTP gateway client, when the Drive was made with [`Drive::new`] (not with
    /// [`Drive::with_source`]).
    pub fn client(&self) -> Option<&Arc<GatewayClient>> {
        self.inner.client.as_ref()
    }

    /// What this Drive did so far (bytes by source, requests, failed checks...).
    pub fn metrics(&self) -> &Arc<Metrics> {
        if let Some(disk) = &self.inner.disk {
            self.inner.metrics.sync_evictions(disk.stats().evictions);
        }
        &self.inner.metrics
    }

    /// The gateways behind the Drive's source, in priority order, for messages.
    pub fn source_labels(&self) -> Vec<String> {
        self.inner.source.labels()
    }

    /// The block at `height`, shape-checked here whatever the source did; not authenticated
    /// by anything (see [`BlockHeader`]).
    pub async fn block(&self, height: u64) -> Result<BlockHeader, GatewayError> {
        let block = self.inner.source.block(height).await?;
        let json = serde_json::to_vec(&block.json).expect("JSON values serialise");
        BlockHeader::from_json(&json, height)
            .map_err(|detail| self.source_lie(format!("block {height}"), detail))
    }

    /// The error for an answer the source gave that fails the Drive's own check.
    pub(crate) fn source_lie(&self, what: String, detail: String) -> GatewayError {
        let label = self.source_labels().join(", ");
        GatewayError::from_attempts(what, vec![(label, AttemptError::Integrity(detail))])
    }

    /// Opens a transaction or data item for reading, with sequential read-ahead.
    pub async fn open(&self, id: &TxId) -> Result<FileHandle, DriveError> {
        let span = self.span(id).await?;
        span.usable()?;
        Ok(FileHandle::new(self.clone(), span))
    }

    /// Reads up to `len` bytes at `offset` (fewer only at the end of the data). Every byte
    /// returned was verified; any chunk that cannot be had verified fails the whole read. The
    /// first read of a data item waits for its signature check over all of its data.
    pub async fn read_at(&self, id: &TxId, offset: u64, len: u64) -> Result<Bytes, DriveError> {
        let span = self.span(id).await?;
        self.read_span(&span, offset, len).await
    }

    /// [`Self::read_at`] of what `span` names.
    async fn read_span(&self, span: &Span, offset: u64, len: u64) -> Result<Bytes, DriveError> {
        self.ready(span).await?;
        let (offset, len) = span.locate(offset, len)?;
        self.read_tx(&span.tx, offset, len).await
    }

    /// Waits until the span's bytes may be served: at once for a transaction, after the
    /// signature check for a data item (see `item.rs`).
    pub(crate) async fn ready(&self, span: &Span) -> Result<(), DriveError> {
        match &span.item {
            Some(item) => self.ready_item(item).await,
            None => Ok(()),
        }
    }

    /// The size of a transaction's or data item's data, for a filesystem's attributes. For a
    /// data item whose signature is not checked yet this is what its bundle's index says; no
    /// byte of it is served until the check (see [`Self::metadata`] for its tags).
    pub async fn size(&self, id: &TxId) -> Result<u64, DriveError> {
        let span = self.span(id).await?;
        span.usable()?;
        Ok(span.len)
    }

    /// The authenticated header of a transaction (not of a data item: see [`Self::metadata`]).
    pub async fn header(&self, id: &TxId) -> Result<crate::arweave::TxHeader, DriveError> {
        Ok(self.tx(id).await?.header.clone())
    }

    /// Size, tags and `/tx/<id>` JSON of a transaction or data item, as frontends show them.
    /// A data item's tags are signed with its data: they are given only once its signature is
    /// checked (which this waits for; [`Self::size`] does not).
    pub async fn metadata(&self, id: &TxId) -> Result<Metadata, DriveError> {
        let span = self.span(id).await?;
        self.ready(&span).await?;
        Ok(match span.item {
            None => Metadata {
                id: *id,
                data_size: span.len,
                tags: span.tx.header.tags.clone(),
                source: info::Source::Tx(span.tx),
            },
            Some(item) => Metadata {
                id: *id,
                data_size: item.size,
                tags: item.tags().to_vec(),
                source: info::Source::Item(item),
            },
        })
    }

    /// What `id` names: a transaction's data, or a data item's (tried when no gateway has a
    /// transaction of that id).
    async fn span(&self, id: &TxId) -> Result<Span, DriveError> {
        // Known transactions first: frontends ask on every lookup, and this needs no I/O.
        if let Some(tx) = self.inner.txs.lock().unwrap().get(id) {
            return Ok(Span::whole(tx));
        }
        if self.item_on_disk(id) {
            return Ok(Span::of_item(self.item(id).await?));
        }
        match self.tx(id).await {
            Ok(tx) => Ok(Span::whole(tx)),
            Err(not_a_tx) if not_a_tx.is_not_found() => match self.item(id).await {
                Ok(item) => Ok(Span::of_item(item)),
                Err(e) if e.is_not_found() => Err(not_a_tx),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The path manifest that transaction `id` holds, read through the cache (so verified
    /// like any data), parsed, and kept for the Drive's life (transactions never change).
    pub async fn manifest(&self, id: &TxId) -> Result<Arc<Manifest>, DriveError> {
        if let Some(manifest) = self.inner.manifests.lock().unwrap().get(id) {
            return Ok(manifest);
        }
        let span = self.span(id).await?;
        let not_a_manifest = |error| DriveError::NotAManifest { id: *id, error };
        Manifest::check_size(span.len).map_err(not_a_manifest)?;
        let bytes = self.read_span(&span, 0, span.len).await?;
        // Parsing up to 64 MiB of JSON is CPU work: off the runtime's threads.
        let parsed = tokio::task::spawn_blocking(move || Manifest::parse(&bytes))
            .await
            .map_err(std::io::Error::other)?;
        let manifest = Arc::new(parsed.map_err(not_a_manifest)?);
        // Parsed, a manifest takes about twice its JSON.
        let weight = 2 * span.len + 1024;
        self.inner
            .manifests
            .lock()
            .unwrap()
            .put(*id, manifest.clone(), weight);
        Ok(manifest)
    }

    /// Ids of transactions with a cached header and chunk map, and of resolved data items
    /// (no network, no per-chunk checks).
    pub fn cached_ids(&self) -> Result<Vec<TxId>, DriveError> {
        let mut ids: Vec<TxId> = match &self.inner.maps {
            Some(maps) => maps.list()?,
            None => self.inner.txs.lock().unwrap().keys(),
        };
        match &self.inner.item_store {
            Some(items) => ids.extend(items.list()?),
            None => ids.extend(self.inner.items.lock().unwrap().keys()),
        }
        Ok(ids)
    }

    pub async fn stat(&self, id: &TxId) -> Result<TxInfo, DriveError> {
        let span = self.span(id).await?;
        Ok(self.info(&span))
    }

    /// The transactions in the disk cache (or, without one, opened in this process), and
    /// the data items resolved there whose bundle is still cached.
    pub async fn list(&self) -> Result<Vec<TxInfo>, DriveError> {
        let mut infos = Vec::new();
        for id in self.cached_ids()? {
            if let Some(tx) = self.stored_tx(&id).await? {
                infos.push(self.info(&Span::whole(tx)));
            } else if let Ok(item) = self.item(&id).await {
                infos.push(self.info(&Span::of_item(item)));
            }
        }
        Ok(infos)
    }

    fn runtime(&self) -> Result<tokio::runtime::Handle, DriveError> {
        tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.inner.runtime.clone())
            .ok_or(DriveError::NoRuntime)
    }
}

/// Runs blocking work (file I/O, signature checks) off the runtime's threads.
async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, DriveError>
where
    T: Send + 'static,
    E: Into<DriveError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
        .map_err(Into::into)
}
