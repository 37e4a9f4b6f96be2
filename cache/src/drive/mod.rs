//! The `Drive`: the one API the frontends use. Transactions are opened by id (authenticated
//! header, located data), read by byte range from verified blocks kept in memory and on disk,
//! preloaded and pinned. All policy lives here and below; frontends only translate.

mod error;
mod handle;
mod info;
mod item;
mod memo;
mod promote;
mod span;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

pub use error::DriveError;
pub use handle::FileHandle;
pub use info::{DriveStats, Metadata, TxInfo, header_json};
pub use item::{ItemInfo, SignatureCheck, VerificationMode, WHOLE_ITEM_MAX};

use crate::arweave::manifest::Manifest;
use crate::arweave::{Hash, TxHeader, TxId};
use crate::gateway::{GatewayClient, GatewayConfig, TxLocation, VerifiedChunk};
use crate::memory::MemoryTier;
use crate::store::DiskStore;
use crate::store::records::{RecordKind, RecordSpace};
use crate::txmap::{TxMapStore, TxRecord};
use info::Counters;
use item::{ItemFlights, ItemRecord, ItemStore};
use memo::Memo;
use promote::Promotions;
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
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig {
            gateway: GatewayConfig::default(),
            cache_dir: None,
            disk_budget: 20 << 30,
            memory_budget: 256 << 20,
            prefetch_max: 64 << 20,
            preload_concurrency: 64,
            trust_bundle_signer: false,
        }
    }
}

/// Block files read at once for one large read, or for read-ahead from the disk tier: enough
/// to keep an SSD's queue busy (one at a time leaves it mostly idle with a cold page cache).
const PARALLEL_DISK_READS: usize = 8;
/// A read must span at least this many chunks before it is split across threads.
const PARALLEL_FILL_MIN_CHUNKS: usize = 8;
/// Bounds of what the Drive remembers about ids in memory (see `memo.rs`): transaction
/// records (a format-1 header holds its data, a large map up to 2 MiB of hashes), data items
/// (a header with its tags) and parsed manifests.
const MEMO_TXS: (usize, u64) = (4096, 128 << 20);
const MEMO_ITEMS: (usize, u64) = (4096, 64 << 20);
const MEMO_MANIFESTS: (usize, u64) = (64, 256 << 20);
/// Chunks fetched ahead of readers at once, over the whole Drive, and the most one hint
/// (`fd_advise`, read-ahead) may ask for: hints beyond them are dropped, not queued, so a
/// guest advising 100 GiB costs nothing it did not read. The threads walking hints are
/// bounded too (a guest may advise a thousand times a second).
const PREFETCH_IN_FLIGHT: usize = 512;
const PREFETCH_WALKERS: usize = 16;
/// The share of the disk budget the per-id records (headers, chunk maps, item places) may
/// take: a sixteenth, 1.25 GiB of the default 20 GiB (a few hundred thousand records).
const RECORDS_SHARE: u64 = 16;
const PREFETCH_MAX_CHUNKS: usize = 256;

type Flight<T> = Shared<BoxFuture<'static, Result<T, DriveError>>>;

#[derive(Clone)]
pub struct Drive {
    inner: Arc<Inner>,
}

struct Inner {
    config: DriveConfig,
    client: Arc<GatewayClient>,
    memory: MemoryTier,
    disk: Option<Arc<DiskStore>>,
    maps: Option<Arc<TxMapStore>>,
    txs: Mutex<Memo<Arc<TxRecord>>>,
    /// Data items resolved in this process, and where resolved ones are kept on disk.
    items: Mutex<Memo<Arc<ItemRecord>>>,
    item_store: Option<ItemStore>,
    item_flights: ItemFlights,
    manifests: Mutex<Memo<Arc<Manifest>>>,
    tx_flights: Mutex<HashMap<TxId, Flight<Arc<TxRecord>>>>,
    chunk_flights: Mutex<HashMap<(TxId, usize), Flight<Bytes>>>,
    /// Transactions being located afresh after their chunks failed everywhere (see
    /// [`Drive::relocate`]).
    relocations: Mutex<HashMap<TxId, Flight<bool>>>,
    /// Slots for chunk fetches started ahead of readers, and for the threads that start
    /// them (a hint arriving while all are busy is dropped).
    prefetch_slots: Arc<Semaphore>,
    prefetch_walkers: Arc<Semaphore>,
    /// What the per-id records on disk take (see `store/records.rs`).
    records: Option<Arc<RecordSpace>>,
    pinned: Mutex<HashSet<TxId>>,
    /// Blocks being read from disk into memory ahead of a sequential reader.
    promotions: Promotions,
    /// Why the disk cache last refused a write (full, read-only), for preload's error.
    last_disk_error: Mutex<Option<String>>,
    counters: Counters,
    /// The runtime the Drive was made in: blocking reads and prefetches from frontend threads
    /// outside it run their network work there.
    runtime: Option<tokio::runtime::Handle>,
}

impl Drive {
    pub fn new(config: DriveConfig) -> Result<Drive, DriveError> {
        let client = Arc::new(GatewayClient::new(config.gateway.clone())?);
        let (disk, maps, item_store, records) = match &config.cache_dir {
            Some(dir) => (
                Some(Arc::new(DiskStore::open(dir, config.disk_budget)?)),
                Some(Arc::new(TxMapStore::open(dir)?)),
                Some(ItemStore::open(dir)?),
                Some(Arc::new(RecordSpace::open(dir)?)),
            ),
            None => (None, None, None, None),
        };
        let drive = Drive {
            inner: Arc::new(Inner {
                memory: MemoryTier::new(config.memory_budget),
                config,
                client,
                disk,
                maps,
                txs: Mutex::new(Memo::new(MEMO_TXS.0, MEMO_TXS.1)),
                items: Mutex::new(Memo::new(MEMO_ITEMS.0, MEMO_ITEMS.1)),
                item_store,
                item_flights: Mutex::default(),
                manifests: Mutex::new(Memo::new(MEMO_MANIFESTS.0, MEMO_MANIFESTS.1)),
                tx_flights: Mutex::default(),
                chunk_flights: Mutex::default(),
                relocations: Mutex::default(),
                prefetch_slots: Arc::new(Semaphore::new(PREFETCH_IN_FLIGHT)),
                prefetch_walkers: Arc::new(Semaphore::new(PREFETCH_WALKERS)),
                records,
                pinned: Mutex::default(),
                promotions: Promotions::new(PARALLEL_DISK_READS),
                last_disk_error: Mutex::default(),
                counters: Counters::default(),
                runtime: tokio::runtime::Handle::try_current().ok(),
            }),
        };
        drive.restore_pins()?;
        drive.trim_records(drive.inner.config.disk_budget);
        Ok(drive)
    }

    pub fn client(&self) -> &Arc<GatewayClient> {
        &self.inner.client
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
        self.ready(&span).await?;
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
        self.ready(&span).await?;
        let (start, len) = span.locate(0, span.len)?;
        let bytes = self.read_tx(&span.tx, start, len).await?;
        // Parsing up to 64 MiB of JSON is CPU work: off the runtime's threads.
        let parsed = tokio::task::spawn_blocking(move || Manifest::parse(&bytes))
            .await
            .map_err(std::io::Error::other)?;
        let manifest = Arc::new(parsed.map_err(not_a_manifest)?);
        // Parsed, a manifest takes about twice its JSON.
        let weight = 2 * len + 1024;
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

    pub fn stats(&self) -> DriveStats {
        let c = &self.inner.counters;
        DriveStats {
            memory: self.inner.memory.stats(),
            disk: self.inner.disk.as_ref().map(|d| d.stats()),
            chunks_fetched: Counters::get(&c.chunks_fetched),
            bytes_fetched: Counters::get(&c.bytes_fetched),
            headers_fetched: Counters::get(&c.headers_fetched),
            disk_write_errors: Counters::get(&c.disk_write_errors),
        }
    }

    /// Fetches every chunk not yet on disk, `preload_concurrency` at a time, reporting
    /// `(bytes done, total)` as it goes. Returns the bytes that came from the network. A data
    /// item's signature is then checked over all its data, if that was not done yet.
    pub async fn preload(
        &self,
        id: &TxId,
        pin: bool,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<u64, DriveError> {
        if self.inner.disk.is_none() {
            return Err(DriveError::NeedsDiskCache("preload"));
        }
        let span = self.span(id).await?;
        span.usable()?;
        if pin {
            self.pin(id).await?;
        }
        let tx = &span.tx;
        let total = span.len;
        let mut done = 0;
        let mut fetched = 0;
        progress(0, total);
        let mut pieces = futures::stream::iter(span.chunks())
            .map(|index| {
                let (tx, len) = (tx.clone(), span.overlap(index));
                async move {
                    if self.on_disk(&tx, index) {
                        return Ok((len, 0));
                    }
                    self.fetch_chunk(&tx, index, false)
                        .await
                        .map(|b| (len, b.len() as u64))
                }
            })
            .buffer_unordered(self.inner.config.preload_concurrency.max(1));
        while let Some((len, from_network)) = pieces.try_next().await? {
            done += len;
            fetched += from_network;
            progress(done, total);
        }
        // Fetched and verified is not enough: a preload promises the data is on disk.
        let missing = self.chunks_not_kept(&span).await?;
        if missing > 0 {
            let reason = self.inner.last_disk_error.lock().unwrap().clone();
            return Err(DriveError::NotKept {
                id: *id,
                missing,
                chunks: span.chunks().len(),
                reason: reason.unwrap_or_else(|| "evicted: more than the disk budget".into()),
            });
        }
        // Every chunk is on disk; a data item's signature is checked over them now (even when
        // the bundle's signer is trusted: that only lets reads go first).
        if let Some(item) = &span.item {
            match item.needs_check() {
                true => self.ready_item(item).await?,
                false => drop(self.check_item_signature(item).await?),
            }
        }
        Ok(fetched)
    }

    /// Keeps the transaction's blocks from eviction, now and across restarts. Pinning a data
    /// item pins the transaction that holds it.
    pub async fn pin(&self, id: &TxId) -> Result<(), DriveError> {
        let tx = self.span(id).await?.tx;
        let id = &tx.id();
        let Some(dir) = self.pins_dir() else {
            return Err(DriveError::NeedsDiskCache("pin"));
        };
        let marker = dir.join(id.to_string());
        blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(marker, b"")
        })
        .await?;
        if self.inner.pinned.lock().unwrap().insert(*id) {
            let disk = self.inner.disk.as_ref().expect("pins need a disk");
            tx.known_hashes().iter().for_each(|h| disk.pin(h));
        }
        Ok(())
    }

    pub async fn unpin(&self, id: &TxId) -> Result<(), DriveError> {
        let Some(dir) = self.pins_dir() else {
            return Ok(());
        };
        let root = match self.item_on_disk(id) {
            true => Some(self.item(id).await?.root.id()),
            false => None,
        };
        let id = &root.unwrap_or(*id);
        let marker = dir.join(id.to_string());
        blocking(move || match std::fs::remove_file(marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await?;
        let unpinned = self.inner.pinned.lock().unwrap().remove(id);
        if unpinned && let Some(tx) = self.stored_tx(id).await? {
            let disk = self.inner.disk.as_ref().expect("pins need a disk");
            tx.known_hashes().iter().for_each(|h| disk.unpin(h));
        }
        Ok(())
    }

    /// Whether transaction `id` is pinned (a data item is pinned with its root transaction).
    pub fn is_pinned(&self, id: &TxId) -> bool {
        self.inner.pinned.lock().unwrap().contains(id)
    }

    /// Evicts unpinned blocks, and records past their share, until the disk cache is within
    /// `target` bytes. Returns the bytes of blocks freed.
    pub fn gc(&self, target: u64) -> Result<u64, DriveError> {
        let records = self.trim_records(target);
        match &self.inner.disk {
            Some(disk) => Ok(disk.evict_to(target.saturating_sub(records))?),
            None => Ok(0),
        }
    }

    /// Notes a record written or read (blocking), and trims the records to their share of
    /// the budget if they went past it.
    fn record_used(&self, kind: RecordKind, id: &TxId) {
        let Some(records) = &self.inner.records else {
            return;
        };
        records.used(kind, id);
        if records.bytes() > self.inner.config.disk_budget / RECORDS_SHARE {
            self.trim_records(self.inner.config.disk_budget);
        } else if let Some(disk) = &self.inner.disk {
            disk.reserve(records.bytes());
        }
    }

    /// Deletes the least recently used unpinned records past their share of `budget`, and
    /// tells the block store what the rest take. Returns that. Blocking.
    fn trim_records(&self, budget: u64) -> u64 {
        let Some(records) = &self.inner.records else {
            return 0;
        };
        let pinned = self.inner.pinned.lock().unwrap().clone();
        let keep = |kind: RecordKind, id: &TxId| match kind {
            RecordKind::Tx => pinned.contains(id),
            RecordKind::Item => {
                !pinned.is_empty()
                    && self
                        .inner
                        .item_store
                        .as_ref()
                        .and_then(|s| s.root_of(id))
                        .is_some_and(|root| pinned.contains(&root))
            }
        };
        for (kind, id) in records.over(budget / RECORDS_SHARE, keep) {
            let removed = match kind {
                RecordKind::Tx => {
                    self.inner.txs.lock().unwrap().pop(&id);
                    self.inner.maps.as_ref().map(|m| m.remove(&id))
                }
                RecordKind::Item => {
                    self.inner.items.lock().unwrap().pop(&id);
                    self.inner.item_store.as_ref().map(|s| s.remove(&id))
                }
            };
            if let Some(Err(e)) = removed {
                tracing::warn!(%id, error = %e, "could not remove a record past the budget");
            }
        }
        let bytes = records.bytes();
        if let Some(disk) = &self.inner.disk {
            disk.reserve(bytes);
        }
        bytes
    }

    /// Removes every unpinned block and the maps of unpinned transactions.
    pub fn clear(&self) -> Result<(), DriveError> {
        let (Some(disk), Some(maps)) = (&self.inner.disk, &self.inner.maps) else {
            return Ok(());
        };
        disk.clear()?;
        for id in maps.list()? {
            if !self.is_pinned(&id) {
                maps.remove(&id)?;
                self.inner.txs.lock().unwrap().pop(&id);
                self.forget_record(RecordKind::Tx, &id);
            }
        }
        if let Some(items) = &self.inner.item_store {
            for id in items.list()? {
                if !items.root_of(&id).is_some_and(|r| self.is_pinned(&r)) {
                    items.remove(&id)?;
                    self.inner.items.lock().unwrap().pop(&id);
                    self.forget_record(RecordKind::Item, &id);
                }
            }
        }
        Ok(())
    }

    fn forget_record(&self, kind: RecordKind, id: &TxId) {
        if let Some(records) = &self.inner.records {
            records.removed(kind, id);
        }
    }

    fn pins_dir(&self) -> Option<PathBuf> {
        self.inner.config.cache_dir.as_ref().map(|d| d.join("pins"))
    }

    fn restore_pins(&self) -> Result<(), DriveError> {
        let (Some(dir), Some(disk)) = (self.pins_dir(), &self.inner.disk) else {
            return Ok(());
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries {
            let Some(id) = entry?
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<TxId>().ok())
            else {
                continue;
            };
            self.inner.pinned.lock().unwrap().insert(id);
            if let Some(tx) = self.cached_tx(&id)? {
                tx.known_hashes().iter().for_each(|h| disk.pin(h));
            }
        }
        Ok(())
    }

    fn info(&self, span: &Span) -> TxInfo {
        let tx = &span.tx;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (mut chunks_cached, mut bytes_cached) = (0, 0);
        for index in span.chunks() {
            if self.on_disk(tx, index) {
                chunks_cached += 1;
                bytes_cached += span.overlap(index);
            }
        }
        let (format, owner_address, tags) = match &span.item {
            None => (
                tx.header.format,
                tx.header.owner_address(),
                &tx.header.tags[..],
            ),
            // An item's tags are signed with its data: not shown before the check.
            Some(item) => (
                0,
                item::owner_address(&item.header.owner),
                if item.needs_check() {
                    &[][..]
                } else {
                    item.tags()
                },
            ),
        };
        TxInfo {
            id: span.id(),
            format,
            size: span.len,
            owner_address,
            tags: tags
                .iter()
                .map(|t| (text(&t.name), text(&t.value)))
                .collect(),
            chunks: span.chunks().len(),
            chunks_cached,
            bytes_cached,
            pinned: self.is_pinned(&tx.id()),
            item: span.item.as_ref().map(|i| i.info()),
        }
    }

    fn on_disk(&self, tx: &TxRecord, index: usize) -> bool {
        match (&self.inner.disk, tx.known_hash(index)) {
            (Some(disk), Some(hash)) => disk.contains(&hash),
            _ => false,
        }
    }

    /// A transaction from memory, the disk cache, or (once, however many ask) the network.
    async fn tx(&self, id: &TxId) -> Result<Arc<TxRecord>, DriveError> {
        self.tx_checked(id, |_| Ok(())).await
    }

    /// [`Self::tx`], refused when `check` refuses its authenticated header: before the data
    /// is located or anything is kept, when it comes from the network (a bundle root must be
    /// tagged as one, whatever size it claims).
    async fn tx_checked(
        &self,
        id: &TxId,
        check: impl Fn(&TxHeader) -> Result<(), DriveError>,
    ) -> Result<Arc<TxRecord>, DriveError> {
        if let Some(tx) = self.inner.txs.lock().unwrap().get(id) {
            check(&tx.header)?;
            return Ok(tx);
        }
        let joined = self.inner.tx_flights.lock().unwrap().get(id).cloned();
        let tx = match joined {
            Some(flight) => flight.await?,
            None => match self.stored_tx(id).await? {
                Some(tx) => tx,
                None => {
                    let header = self.fetch_header(id).await?;
                    check(&header)?;
                    join_flight(&self.inner.tx_flights, id, || {
                        let (drive, id) = (self.clone(), *id);
                        async move {
                            let result = drive.complete_tx(header).await;
                            if let Ok(tx) = &result {
                                drive.remember_tx(tx.clone());
                            }
                            drive.inner.tx_flights.lock().unwrap().remove(&id);
                            result
                        }
                    })
                    .await?
                }
            },
        };
        check(&tx.header)?;
        Ok(tx)
    }

    fn remember_tx(&self, tx: Arc<TxRecord>) {
        // A format-1 header holds its data; a large map, up to 2 MiB of hashes in memory.
        let weight = 4096 + tx.header.data.len() as u64 + 33 * tx.chunk_count().min(1 << 16) as u64;
        self.inner.txs.lock().unwrap().put(tx.id(), tx, weight);
    }

    /// From the disk cache only, without network. Blocking (file reads, a signature check).
    fn cached_tx(&self, id: &TxId) -> Result<Option<Arc<TxRecord>>, DriveError> {
        if let Some(tx) = self.inner.txs.lock().unwrap().get(id) {
            return Ok(Some(tx));
        }
        let Some(maps) = &self.inner.maps else {
            return Ok(None);
        };
        Ok(maps.load(id)?.map(|tx| {
            let tx = Arc::new(tx);
            self.record_used(RecordKind::Tx, id);
            self.remember_tx(tx.clone());
            tx
        }))
    }

    /// [`Self::cached_tx`] off the runtime's threads.
    async fn stored_tx(&self, id: &TxId) -> Result<Option<Arc<TxRecord>>, DriveError> {
        let (drive, id) = (self.clone(), *id);
        blocking(move || drive.cached_tx(&id)).await
    }

    /// An authenticated header from the gateways.
    async fn fetch_header(&self, id: &TxId) -> Result<TxHeader, DriveError> {
        let header = self.inner.client.tx_header(id).await?;
        Counters::add(&self.inner.counters.headers_fetched, 1);
        Ok(header)
    }

    /// The record of a freshly fetched header: its data located (and a chunk proven there),
    /// kept on disk when there is a disk cache.
    async fn complete_tx(&self, header: TxHeader) -> Result<Arc<TxRecord>, DriveError> {
        let (location, first) = if header.format == 2 && header.data_size > 0 {
            let (location, chunk) = self.locate_proven(&header).await?;
            (Some(location), Some(chunk))
        } else {
            (None, None)
        };
        let tx = match self.inner.maps.clone() {
            None => Arc::new(TxRecord::in_memory(header, location)),
            Some(maps) => {
                let fallback = header.clone();
                let (drive, id) = (self.clone(), header.id);
                let created = blocking(move || {
                    let created = maps.create(header, location);
                    drive.record_used(RecordKind::Tx, &id);
                    Ok::<_, DriveError>(created)
                })
                .await?;
                // A disk that cannot take the map (full, read-only) must not stop reads: this
                // process keeps the map in memory and the network still serves.
                Arc::new(created.unwrap_or_else(|e| {
                    self.disk_write_failed(&e, "could not store chunk map on disk");
                    TxRecord::in_memory(fallback, location)
                }))
            }
        };
        if let Some(chunk) = first {
            // Most readers start at the beginning: keep it hot too. (A non-standard layout is
            // reported by the reads that need the chunks.)
            let hash = chunk.leaf.data_hash;
            if let Ok(bytes) = self.store_chunk(&tx, 0, chunk).await {
                self.inner.memory.put(hash, bytes);
            }
        }
        Ok(tx)
    }

    /// Where the data sits, with its first chunk proven there before the place is kept: a
    /// wrong `/offset` answer would otherwise make every chunk fail its proof at every gateway,
    /// for good. When the first gateway's place fails, each gateway is asked for its own.
    async fn locate_proven(
        &self,
        header: &TxHeader,
    ) -> Result<(TxLocation, VerifiedChunk), DriveError> {
        let client = &self.inner.client;
        let first = client.tx_location(header, None).await?;
        let failure = match client.chunk(&first, 0).await {
            Ok(chunk) => return Ok((first, chunk)),
            Err(e) if e.is_integrity() => e,
            Err(e) => return Err(e.into()),
        };
        match self.other_location(header, first.end_offset, 0).await {
            Some(found) => Ok(found),
            None => Err(failure.into()),
        }
    }

    /// Asks each gateway where the data sits, and returns the first place other than
    /// `tried` where the chunk holding byte `offset` proves.
    async fn other_location(
        &self,
        header: &TxHeader,
        tried: u64,
        offset: u64,
    ) -> Option<(TxLocation, VerifiedChunk)> {
        let client = &self.inner.client;
        let mut tried = vec![tried];
        for gateway in client.priority_order() {
            let Ok(location) = client.tx_location(header, Some(gateway)).await else {
                continue;
            };
            if tried.contains(&location.end_offset) {
                continue;
            }
            tried.push(location.end_offset);
            if let Ok(chunk) = client.chunk(&location, offset).await {
                tracing::warn!(
                    id = %header.id,
                    gateway = client.gateway_label(gateway),
                    end_offset = location.end_offset,
                    "the data proves at another place than first reported; using it"
                );
                return Some((location, chunk));
            }
        }
        None
    }

    /// After chunk `index` failed its proof at every gateway: asks the gateways again where
    /// the data sits and moves the record there (on disk too) if a place proves the chunk.
    /// Once at a time per transaction; returns whether the place changed.
    async fn relocate(&self, tx: &Arc<TxRecord>, index: usize) -> Result<bool, DriveError> {
        let flight = {
            let mut flights = self.inner.relocations.lock().unwrap();
            flights
                .entry(tx.id())
                .or_insert_with(|| {
                    let (drive, tx) = (self.clone(), tx.clone());
                    async move {
                        let moved = drive.try_relocate(&tx, index).await;
                        drive.inner.relocations.lock().unwrap().remove(&tx.id());
                        moved
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        flight.await
    }

    async fn try_relocate(&self, tx: &Arc<TxRecord>, index: usize) -> Result<bool, DriveError> {
        let current = tx.location().map_or(0, |l| l.end_offset);
        let offset = tx.chunk_range(index).start;
        let Some((location, _)) = self.other_location(&tx.header, current, offset).await else {
            return Ok(false);
        };
        let record = tx.clone();
        blocking(move || record.relocate(location.end_offset)).await?;
        Ok(true)
    }

    async fn read_tx(
        &self,
        tx: &Arc<TxRecord>,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, DriveError> {
        let plan = match self.prepare(tx, offset, len) {
            Prepared::Done(bytes) => return Ok(bytes),
            Prepared::Plan(plan) => plan,
        };
        // Inside one chunk that no tier holds: the fetched block itself, sliced, not a copy.
        if let [piece] = &plan.pieces[..]
            && !tx
                .known_hash(piece.index)
                .is_some_and(|h| self.inner.disk.as_ref().is_some_and(|d| d.contains(&h)))
        {
            let bytes = self.fetch_chunk(tx, piece.index, true).await?;
            return Ok(bytes.slice(piece.within.clone()));
        }
        let (plan, mut out, missing) = if plan.all_in_memory(self, tx) {
            let mut out = vec![0u8; plan.len];
            let missing = self.fill_local(tx, &plan, &mut out);
            (plan, out, missing)
        } else {
            // Disk reads block: off the runtime.
            let (drive, tx) = (self.clone(), tx.clone());
            tokio::task::spawn_blocking(move || {
                let mut out = vec![0u8; plan.len];
                let missing = drive.fill_local(&tx, &plan, &mut out);
                (plan, out, missing)
            })
            .await
            .map_err(std::io::Error::other)?
        };
        self.fill_network(tx, &plan, &missing, &mut out).await?;
        Ok(Bytes::from(out))
    }

    /// [`Self::read_tx`] for frontend threads outside the runtime (FUSE, WASI host calls):
    /// memory and disk are read on the calling thread; only misses go to the runtime.
    fn read_tx_blocking(
        &self,
        tx: &Arc<TxRecord>,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, DriveError> {
        let plan = match self.prepare(tx, offset, len) {
            Prepared::Done(bytes) => return Ok(bytes),
            Prepared::Plan(plan) => plan,
        };
        let mut out = vec![0u8; plan.len];
        self.fill_blocking(tx, &plan, &mut out)?;
        Ok(Bytes::from(out))
    }

    /// Memory and disk on this thread, then whatever is missing from the network (on the
    /// runtime, blocking this thread until it arrives).
    fn fill_blocking(
        &self,
        tx: &Arc<TxRecord>,
        plan: &ReadPlan,
        out: &mut [u8],
    ) -> Result<(), DriveError> {
        let missing = self.fill_local(tx, plan, out);
        if !missing.is_empty() {
            self.runtime()?
                .block_on(self.fill_network(tx, plan, &missing, out))?;
        }
        Ok(())
    }

    /// [`Self::read_tx_blocking`] handing the bytes to `consume`: a slice of the memory tier
    /// when one chunk there holds them all (no copy), else `buf` (reused across reads, so no
    /// allocation or page faults per read) filled with them.
    fn read_tx_blocking_with<R>(
        &self,
        tx: &Arc<TxRecord>,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
        consume: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, DriveError> {
        match self.prepare(tx, offset, len) {
            Prepared::Done(bytes) => Ok(consume(&bytes)),
            Prepared::Plan(plan) => {
                if buf.len() < plan.len {
                    buf.resize(plan.len, 0);
                }
                self.fill_blocking(tx, &plan, &mut buf[..plan.len])?;
                Ok(consume(&buf[..plan.len]))
            }
        }
    }

    /// [`Self::read_tx_blocking`] into `out`: fills `out[..n]` and returns `n`.
    fn read_tx_blocking_slice(
        &self,
        tx: &Arc<TxRecord>,
        offset: u64,
        out: &mut [u8],
    ) -> Result<usize, DriveError> {
        match self.prepare(tx, offset, out.len() as u64) {
            Prepared::Done(bytes) => {
                out[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Prepared::Plan(plan) => {
                self.fill_blocking(tx, &plan, &mut out[..plan.len])?;
                Ok(plan.len)
            }
        }
    }

    /// Answers reads that need no chunk I/O at once: format-1 data, reads past the end, and
    /// a read inside one chunk held in memory (a slice, not a copy).
    fn prepare(&self, tx: &TxRecord, offset: u64, len: u64) -> Prepared {
        let Some(plan) = ReadPlan::new(tx, offset, len) else {
            return Prepared::Done(self.read_inline(tx, offset, len));
        };
        if let [piece] = &plan.pieces[..]
            && let Some(bytes) = tx
                .known_hash(piece.index)
                .and_then(|h| self.inner.memory.get(&h))
        {
            return Prepared::Done(bytes.slice(piece.within.clone()));
        }
        Prepared::Plan(plan)
    }

    /// Format-1 data sits in the (signature-verified) header; empty data has nothing.
    fn read_inline(&self, tx: &TxRecord, offset: u64, len: u64) -> Bytes {
        let end = offset.saturating_add(len).min(tx.size());
        if offset >= end {
            return Bytes::new();
        }
        Bytes::copy_from_slice(&tx.header.data[offset as usize..end as usize])
    }

    fn runtime(&self) -> Result<tokio::runtime::Handle, DriveError> {
        tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.inner.runtime.clone())
            .ok_or(DriveError::NoRuntime)
    }

    /// Copies what memory and disk hold into `out`; returns the pieces still missing.
    /// Blocking (disk reads), cheap when everything is in memory. A large read is split
    /// across threads so its block files are read in parallel.
    fn fill_local(&self, tx: &TxRecord, plan: &ReadPlan, out: &mut [u8]) -> Vec<usize> {
        let pieces = &plan.pieces;
        if pieces.len() < PARALLEL_FILL_MIN_CHUNKS
            || self.inner.disk.is_none()
            || plan.all_in_memory(self, tx)
        {
            return self.fill_pieces(tx, pieces, 0, out);
        }
        let per_thread = pieces.len().div_ceil(PARALLEL_DISK_READS);
        std::thread::scope(|scope| {
            let mut rest = out;
            let mut consumed = 0;
            let workers: Vec<_> = pieces
                .chunks(per_thread)
                .enumerate()
                .map(|(n, group)| {
                    let last = group.last().expect("chunks are non-empty");
                    let end = last.at + last.within.len() - consumed;
                    let (mine, tail) = std::mem::take(&mut rest).split_at_mut(end);
                    rest = tail;
                    consumed += end;
                    scope.spawn(move || self.fill_pieces(tx, group, n * per_thread, mine))
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("fill thread panicked"))
                .collect()
        })
    }

    /// [`Self::fill_local`] for `pieces`, the plan's pieces from number `first` on, whose
    /// bytes start at `out[0]`. Returns the plan numbers of the pieces still missing.
    fn fill_pieces(
        &self,
        tx: &TxRecord,
        pieces: &[Piece],
        first: usize,
        out: &mut [u8],
    ) -> Vec<usize> {
        let base = pieces.first().map_or(0, |p| p.at);
        let mut missing = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let at = piece.at - base;
            let target = &mut out[at..at + piece.within.len()];
            let Some(hash) = tx.known_hash(piece.index) else {
                missing.push(first + i);
                continue;
            };
            let mut in_memory = self.inner.memory.get(&hash);
            if in_memory.is_none() && self.inner.promotions.wait_if_reading(&hash) {
                in_memory = self.inner.memory.get(&hash);
            }
            if let Some(bytes) = in_memory {
                target.copy_from_slice(&bytes[piece.within.clone()]);
                continue;
            }
            let from_disk = self.inner.disk.as_ref().is_some_and(|disk| {
                // A disk that cannot be read is a miss, not a failure: the network has it.
                disk.read_into(&hash, piece.within.clone(), target)
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "disk cache read failed");
                        false
                    })
            });
            if !from_disk {
                missing.push(first + i);
            } else if piece.within.len() == tx.chunk_len(piece.index) {
                // Whole chunks (sequential readers) are worth keeping hot; a 4 KiB random
                // read is not worth copying 256 KiB into memory for.
                self.inner.memory.put(hash, Bytes::copy_from_slice(target));
            }
        }
        missing
    }

    /// Fetches the missing pieces' chunks (in parallel, single-flight), keeps them in the
    /// memory tier and copies them into `out`.
    async fn fill_network(
        &self,
        tx: &Arc<TxRecord>,
        plan: &ReadPlan,
        missing: &[usize],
        out: &mut [u8],
    ) -> Result<(), DriveError> {
        let chunks = futures::future::try_join_all(
            missing
                .iter()
                .map(|&i| self.fetch_chunk(tx, plan.pieces[i].index, true)),
        )
        .await?;
        for (&i, bytes) in missing.iter().zip(chunks) {
            let piece = &plan.pieces[i];
            out[piece.at..piece.at + piece.within.len()]
                .copy_from_slice(&bytes[piece.within.clone()]);
            if let Some(hash) = tx.known_hash(piece.index) {
                self.inner.memory.put(hash, bytes);
            }
        }
        Ok(())
    }

    /// Fetches chunk `index` from the gateways once, however many readers want it; stores the
    /// block on disk, its hash in the map and, when `keep`, the block in the memory tier
    /// (before the flight ends, so no reader can slip between the fetch and the cache).
    /// Preload passes `keep = false`: it must not push hot blocks out of memory.
    async fn fetch_chunk(
        &self,
        tx: &Arc<TxRecord>,
        index: usize,
        keep: bool,
    ) -> Result<Bytes, DriveError> {
        let (first, joined) = self.chunk_flight(tx, index, keep);
        match first.await {
            // A flight that began while a gateway lied may end in that lie after the gateway
            // has recovered; a reader who only joined it asks once more, afresh.
            Err(DriveError::Gateway(e)) if joined && e.is_integrity() => {
                self.chunk_flight(tx, index, keep).0.await
            }
            other => other,
        }
    }

    /// The flight fetching chunk `index`, and whether it was already under way.
    fn chunk_flight(&self, tx: &Arc<TxRecord>, index: usize, keep: bool) -> (Flight<Bytes>, bool) {
        let key = (tx.id(), index);
        let mut joined = true;
        let flight = {
            let mut flights = self.inner.chunk_flights.lock().unwrap();
            flights
                .entry(key)
                .or_insert_with(|| {
                    joined = false;
                    let drive = self.clone();
                    let tx = tx.clone();
                    async move {
                        let result = match drive.stored_by_an_earlier_flight(&tx, index).await {
                            Some(bytes) => Ok(bytes),
                            None => drive.fetch_and_store(&tx, index).await,
                        };
                        if let (Ok(bytes), true) = (&result, keep) {
                            let hash = tx.known_hash(index).expect("just recorded");
                            drive.inner.memory.put(hash, bytes.clone());
                        }
                        drive.inner.chunk_flights.lock().unwrap().remove(&key);
                        result
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        (flight, joined)
    }

    /// The chunk, if a flight that ended between the caller's cache lookup and the start of
    /// this one already stored it (else the chunk would be fetched twice).
    async fn stored_by_an_earlier_flight(&self, tx: &TxRecord, index: usize) -> Option<Bytes> {
        let hash = tx.known_hash(index)?;
        if let Some(bytes) = self.inner.memory.get(&hash) {
            return Some(bytes);
        }
        let disk = self.inner.disk.clone()?;
        // (A corrupt block reads as None here too: it is fetched again.)
        tokio::task::spawn_blocking(move || disk.get(&hash).ok().flatten())
            .await
            .ok()
            .flatten()
    }

    async fn fetch_and_store(&self, tx: &Arc<TxRecord>, index: usize) -> Result<Bytes, DriveError> {
        let client = &self.inner.client;
        let offset = tx.chunk_range(index).start;
        let location = tx.location().expect("chunked tx has a location");
        let chunk = match client.chunk(&location, offset).await {
            Ok(chunk) => chunk,
            // No gateway proves the chunk at this place: maybe the place is wrong (an old or
            // lying `/offset` answer), not the chunks. Ask again; retry where it proves.
            Err(e) if e.is_integrity() => {
                let moved = tx.location() != Some(location) || self.relocate(tx, index).await?;
                if !moved {
                    return Err(e.into());
                }
                let location = tx.location().expect("still chunked");
                client.chunk(&location, offset).await?
            }
            Err(e) => return Err(e.into()),
        };
        self.store_chunk(tx, index, chunk).await
    }

    /// Keeps a chunk proven for `tx`: its block on disk and its hash in the map (checked to
    /// be chunk `index` of the standard layout the cache addresses by).
    async fn store_chunk(
        &self,
        tx: &Arc<TxRecord>,
        index: usize,
        chunk: VerifiedChunk,
    ) -> Result<Bytes, DriveError> {
        if chunk.leaf.range() != tx.chunk_range(index) {
            return Err(DriveError::NonStandardLayout { id: tx.id(), index });
        }
        let counters = &self.inner.counters;
        Counters::add(&counters.chunks_fetched, 1);
        Counters::add(&counters.bytes_fetched, chunk.bytes.len() as u64);
        let hash = chunk.leaf.data_hash;
        if let Some(disk) = self.inner.disk.clone() {
            if self.is_pinned(&tx.id()) {
                disk.pin(&hash);
            }
            let (bytes, record) = (chunk.bytes.clone(), tx.clone());
            // Block first, then the map record: a map entry never points at nothing because
            // of us (eviction or another process may still remove the block: that is a miss).
            let stored = tokio::task::spawn_blocking(move || {
                disk.put(&hash, &bytes)?;
                record.record_hash(index, hash)
            })
            .await
            .map_err(std::io::Error::other)?;
            if let Err(e) = stored {
                self.disk_write_failed(&e, "could not store block on disk; serving from memory");
                tx.record_hash_in_memory(index, hash);
            }
        } else {
            tx.record_hash_in_memory(index, hash);
        }
        Ok(chunk.bytes)
    }

    /// Counts a refused disk write and remembers why. Warns once: a full disk refuses every
    /// block, and one line says it as well as thousands.
    fn disk_write_failed(&self, error: &std::io::Error, what: &str) {
        Counters::add(&self.inner.counters.disk_write_errors, 1);
        let first = self
            .inner
            .last_disk_error
            .lock()
            .unwrap()
            .replace(error.to_string())
            .is_none();
        if first {
            tracing::warn!(%error, "{what} (further disk write errors at debug level)");
        } else {
            tracing::debug!(%error, "{what}");
        }
    }

    /// Chunks of `tx` a restart would not find: no block file, or no entry in the chunk map
    /// on disk.
    async fn chunks_not_kept(&self, span: &Span) -> Result<usize, DriveError> {
        let chunks = span.chunks();
        let (Some(disk), Some(maps)) = (self.inner.disk.clone(), self.inner.maps.clone()) else {
            return Ok(chunks.len());
        };
        let id = span.tx.id();
        tokio::task::spawn_blocking(move || {
            let Some(stored) = maps.load(&id)? else {
                return Ok(chunks.len());
            };
            let kept = |i: usize| stored.known_hash(i).is_some_and(|h| disk.contains(&h));
            Ok(chunks.filter(|&i| !kept(i)).count())
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Makes `range` ready for a reader about to get there: chunks held on disk are read
    /// into memory, missing ones fetched, all in the background. Deciding which is which
    /// stats block files, slow with a cold dentry cache, so that too happens off the reader's
    /// thread. Bounded: one hint covers at most [`PREFETCH_MAX_CHUNKS`], and fetches ahead of
    /// readers take one of [`PREFETCH_IN_FLIGHT`] slots or are not started at all.
    fn prefetch(&self, tx: &Arc<TxRecord>, range: Range<u64>) {
        let end = range.end.min(tx.size());
        if range.start >= end
            || !tx.is_chunked()
            || self.inner.prefetch_slots.available_permits() == 0
        {
            return;
        }
        let Ok(runtime) = self.runtime() else { return };
        let Ok(walker) = self.inner.prefetch_walkers.clone().try_acquire_owned() else {
            return;
        };
        let first = tx.chunk_index(range.start);
        let last = tx.chunk_index(end - 1).min(first + PREFETCH_MAX_CHUNKS - 1);
        let (drive, tx) = (self.clone(), tx.clone());
        runtime.clone().spawn_blocking(move || {
            let _walker = walker;
            for index in first..=last {
                if !drive.prefetch_chunk(&runtime, &tx, index) {
                    break;
                }
            }
        });
    }

    /// Starts making chunk `index` ready; false when no prefetch slot is free.
    fn prefetch_chunk(
        &self,
        runtime: &tokio::runtime::Handle,
        tx: &Arc<TxRecord>,
        index: usize,
    ) -> bool {
        if let Some(hash) = tx.known_hash(index) {
            if self.inner.memory.contains(&hash) {
                return true;
            }
            if self.on_disk(tx, index) {
                self.promote(runtime, hash);
                return true;
            }
        }
        let Ok(slot) = self.inner.prefetch_slots.clone().try_acquire_owned() else {
            return false;
        };
        // The flight is registered here, before anything is spawned: a chunk already asked
        // for is joined, never fetched twice, and each spawned task holds a slot.
        let (flight, joined) = self.chunk_flight(tx, index, true);
        if !joined {
            runtime.spawn(async move {
                // Errors surface when the reader gets there; a prefetch just tries.
                let _ = flight.await;
                drop(slot);
            });
        }
        true
    }

    /// Reads a disk-tier block into the memory tier in the background, a bounded number at a
    /// time. A block that turns out absent or corrupt is left for the reader to refetch.
    fn promote(&self, runtime: &tokio::runtime::Handle, hash: Hash) {
        let Some(promotion) = self.inner.promotions.begin(hash) else {
            return;
        };
        let drive = self.clone();
        runtime.spawn(async move {
            let promotions = &drive.inner.promotions;
            let slot = promotions.start(&promotion).await;
            let reader = drive.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let inner = &reader.inner;
                if !inner.memory.contains(&hash)
                    && let Some(disk) = &inner.disk
                    && let Ok(Some(bytes)) = disk.get(&hash)
                {
                    inner.memory.put(hash, bytes);
                }
            })
            .await;
            promotions.finish(&hash, &promotion);
            drop(slot);
        });
    }
}

/// The flight already loading `id`, or a new one running `start` (which must remove itself
/// from `flights` when done): one load however many ask at once.
fn join_flight<T: Clone, F>(
    flights: &Mutex<HashMap<TxId, Flight<T>>>,
    id: &TxId,
    start: impl FnOnce() -> F,
) -> Flight<T>
where
    F: std::future::Future<Output = Result<T, DriveError>> + Send + 'static,
{
    flights
        .lock()
        .unwrap()
        .entry(*id)
        .or_insert_with(|| start().boxed().shared())
        .clone()
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

enum Prepared {
    Done(Bytes),
    Plan(ReadPlan),
}

/// A read split into the chunks it touches.
struct ReadPlan {
    pieces: Vec<Piece>,
    len: usize,
}

struct Piece {
    index: usize,
    /// The part of the chunk wanted.
    within: Range<usize>,
    /// Where it goes in the output.
    at: usize,
}

impl ReadPlan {
    /// `None` when there is nothing to read from chunks (format 1, empty data, past the end).
    fn new(tx: &TxRecord, offset: u64, len: u64) -> Option<ReadPlan> {
        let end = offset.saturating_add(len).min(tx.size());
        if offset >= end || !tx.is_chunked() {
            return None;
        }
        let pieces = (tx.chunk_index(offset)..=tx.chunk_index(end - 1))
            .map(|index| {
                let r = tx.chunk_range(index);
                let (from, to) = (offset.max(r.start), end.min(r.end));
                Piece {
                    index,
                    within: (from - r.start) as usize..(to - r.start) as usize,
                    at: (from - offset) as usize,
                }
            })
            .collect();
        Some(ReadPlan {
            pieces,
            len: (end - offset) as usize,
        })
    }

    fn all_in_memory(&self, drive: &Drive, tx: &TxRecord) -> bool {
        self.pieces.iter().all(|p| {
            tx.known_hash(p.index)
                .is_some_and(|h| drive.inner.memory.contains(&h))
        })
    }
}
