//! The `Drive`: the one API the frontends use. Transactions are opened by id (authenticated
//! header, located data), read by byte range from verified blocks kept in memory and on disk,
//! preloaded and pinned. All policy lives here and below; frontends only translate.

mod error;
mod handle;
mod info;
mod item;
mod promote;
mod span;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt};

pub use error::DriveError;
pub use handle::FileHandle;
pub use info::{DriveStats, Metadata, TxInfo, header_json};
pub use item::{ItemInfo, SignatureCheck, VerificationMode, WHOLE_ITEM_MAX};

use crate::arweave::manifest::Manifest;
use crate::arweave::{Hash, TxId};
use crate::gateway::{GatewayClient, GatewayConfig};
use crate::memory::MemoryTier;
use crate::store::DiskStore;
use crate::txmap::{TxMapStore, TxRecord};
use info::Counters;
use item::{ItemFlights, ItemRecord, ItemStore};
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
        }
    }
}

/// Block files read at once for one large read, or for read-ahead from the disk tier: enough
/// to keep an SSD's queue busy (one at a time leaves it mostly idle with a cold page cache).
const PARALLEL_DISK_READS: usize = 8;
/// A read must span at least this many chunks before it is split across threads.
const PARALLEL_FILL_MIN_CHUNKS: usize = 8;

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
    txs: Mutex<HashMap<TxId, Arc<TxRecord>>>,
    /// Data items resolved in this process, and where resolved ones are kept on disk.
    items: Mutex<HashMap<TxId, Arc<ItemRecord>>>,
    item_store: Option<ItemStore>,
    item_flights: ItemFlights,
    manifests: Mutex<HashMap<TxId, Arc<Manifest>>>,
    tx_flights: Mutex<HashMap<TxId, Flight<Arc<TxRecord>>>>,
    chunk_flights: Mutex<HashMap<(TxId, usize), Flight<Bytes>>>,
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
        let (disk, maps, item_store) = match &config.cache_dir {
            Some(dir) => (
                Some(Arc::new(DiskStore::open(dir, config.disk_budget)?)),
                Some(Arc::new(TxMapStore::open(dir)?)),
                Some(ItemStore::open(dir)?),
            ),
            None => (None, None, None),
        };
        let drive = Drive {
            inner: Arc::new(Inner {
                memory: MemoryTier::new(config.memory_budget),
                config,
                client,
                disk,
                maps,
                txs: Mutex::default(),
                items: Mutex::default(),
                item_store,
                item_flights: Mutex::default(),
                manifests: Mutex::default(),
                tx_flights: Mutex::default(),
                chunk_flights: Mutex::default(),
                pinned: Mutex::default(),
                promotions: Promotions::new(PARALLEL_DISK_READS),
                last_disk_error: Mutex::default(),
                counters: Counters::default(),
                runtime: tokio::runtime::Handle::try_current().ok(),
            }),
        };
        drive.restore_pins()?;
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
    /// returned was verified; any chunk that cannot be had verified fails the whole read.
    pub async fn read_at(&self, id: &TxId, offset: u64, len: u64) -> Result<Bytes, DriveError> {
        let span = self.span(id).await?;
        let (offset, len) = span.locate(offset, len)?;
        self.read_tx(&span.tx, offset, len).await
    }

    /// The authenticated header of a transaction (not of a data item: see [`Self::metadata`]).
    pub async fn header(&self, id: &TxId) -> Result<crate::arweave::TxHeader, DriveError> {
        Ok(self.tx(id).await?.header.clone())
    }

    /// Size, tags and `/tx/<id>` JSON of a transaction or data item, as frontends show them.
    pub async fn metadata(&self, id: &TxId) -> Result<Metadata, DriveError> {
        let span = self.span(id).await?;
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
            return Ok(Span::whole(tx.clone()));
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
            return Ok(manifest.clone());
        }
        let span = self.span(id).await?;
        let not_a_manifest = |error| DriveError::NotAManifest { id: *id, error };
        Manifest::check_size(span.len).map_err(not_a_manifest)?;
        let (start, len) = span.locate(0, span.len)?;
        let bytes = self.read_tx(&span.tx, start, len).await?;
        let manifest = Arc::new(Manifest::parse(&bytes).map_err(not_a_manifest)?);
        self.inner
            .manifests
            .lock()
            .unwrap()
            .insert(*id, manifest.clone());
        Ok(manifest)
    }

    /// Ids of transactions with a cached header and chunk map, and of resolved data items
    /// (no network, no per-chunk checks).
    pub fn cached_ids(&self) -> Result<Vec<TxId>, DriveError> {
        let mut ids: Vec<TxId> = match &self.inner.maps {
            Some(maps) => maps.list()?,
            None => self.inner.txs.lock().unwrap().keys().copied().collect(),
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
            if let Some(tx) = self.cached_tx(&id)? {
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
        if let Some(item) = &span.item {
            self.check_item_signature(item).await?;
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
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(id.to_string()), b"")?;
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
        match std::fs::remove_file(dir.join(id.to_string())) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        if self.inner.pinned.lock().unwrap().remove(id)
            && let Some(tx) = self.cached_tx(id)?
        {
            let disk = self.inner.disk.as_ref().expect("pins need a disk");
            tx.known_hashes().iter().for_each(|h| disk.unpin(h));
        }
        Ok(())
    }

    /// Whether transaction `id` is pinned (a data item is pinned with its root transaction).
    pub fn is_pinned(&self, id: &TxId) -> bool {
        self.inner.pinned.lock().unwrap().contains(id)
    }

    /// Evicts unpinned blocks until the disk tier is within `target` bytes.
    pub fn gc(&self, target: u64) -> Result<u64, DriveError> {
        match &self.inner.disk {
            Some(disk) => Ok(disk.evict_to(target)?),
            None => Ok(0),
        }
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
                self.inner.txs.lock().unwrap().remove(&id);
            }
        }
        if let Some(items) = &self.inner.item_store {
            for id in items.list()? {
                if !items.root_of(&id).is_some_and(|r| self.is_pinned(&r)) {
                    items.remove(&id)?;
                    self.inner.items.lock().unwrap().remove(&id);
                }
            }
        }
        Ok(())
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
            None => (tx.header.format, tx.header.owner_address(), &tx.header.tags),
            Some(item) => (
                0,
                item::owner_address(&item.header.owner),
                &item.header.tags,
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
        if let Some(tx) = self.inner.txs.lock().unwrap().get(id) {
            return Ok(tx.clone());
        }
        let flight = join_flight(&self.inner.tx_flights, id, || {
            let (drive, id) = (self.clone(), *id);
            async move {
                let result = drive.load_or_fetch_tx(&id).await;
                if let Ok(tx) = &result {
                    drive.inner.txs.lock().unwrap().insert(id, tx.clone());
                }
                drive.inner.tx_flights.lock().unwrap().remove(&id);
                result
            }
        });
        flight.await
    }

    /// From the disk cache only, without network.
    fn cached_tx(&self, id: &TxId) -> Result<Option<Arc<TxRecord>>, DriveError> {
        if let Some(tx) = self.inner.txs.lock().unwrap().get(id) {
            return Ok(Some(tx.clone()));
        }
        let Some(maps) = &self.inner.maps else {
            return Ok(None);
        };
        Ok(maps.load(id)?.map(|tx| {
            let tx = Arc::new(tx);
            self.inner.txs.lock().unwrap().insert(*id, tx.clone());
            tx
        }))
    }

    async fn load_or_fetch_tx(&self, id: &TxId) -> Result<Arc<TxRecord>, DriveError> {
        if let Some(maps) = self.inner.maps.clone() {
            let id = *id;
            let loaded = tokio::task::spawn_blocking(move || maps.load(&id))
                .await
                .map_err(std::io::Error::other)??;
            if let Some(tx) = loaded {
                return Ok(Arc::new(tx));
            }
        }
        let client = &self.inner.client;
        let header = client.tx_header(id).await?;
        Counters::add(&self.inner.counters.headers_fetched, 1);
        let location = if header.format == 2 && header.data_size > 0 {
            Some(client.tx_location(&header).await?)
        } else {
            None
        };
        let Some(maps) = self.inner.maps.clone() else {
            return Ok(Arc::new(TxRecord::in_memory(header, location)));
        };
        let fallback = header.clone();
        let created = tokio::task::spawn_blocking(move || maps.create(header, location))
            .await
            .map_err(std::io::Error::other)?;
        // A disk that cannot take the map (full, read-only) must not stop reads: this process
        // keeps the map in memory and the network still serves.
        Ok(Arc::new(created.unwrap_or_else(|e| {
            self.disk_write_failed(&e, "could not store chunk map on disk");
            TxRecord::in_memory(fallback, location)
        })))
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
        let location = tx.location.expect("chunked tx has a location");
        let range = tx.ranges[index].clone();
        let chunk = self.inner.client.chunk(&location, range.start).await?;
        if chunk.leaf.range() != range {
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
    /// thread.
    fn prefetch(&self, tx: &Arc<TxRecord>, range: Range<u64>) {
        let end = range.end.min(tx.size());
        if range.start >= end || tx.location.is_none() {
            return;
        }
        let Ok(runtime) = self.runtime() else { return };
        let (drive, tx) = (self.clone(), tx.clone());
        runtime.clone().spawn_blocking(move || {
            for index in tx.chunk_index(range.start)..=tx.chunk_index(end - 1) {
                drive.prefetch_chunk(&runtime, &tx, index);
            }
        });
    }

    fn prefetch_chunk(&self, runtime: &tokio::runtime::Handle, tx: &Arc<TxRecord>, index: usize) {
        if let Some(hash) = tx.known_hash(index) {
            if self.inner.memory.contains(&hash) {
                return;
            }
            if self.on_disk(tx, index) {
                return self.promote(runtime, hash);
            }
        }
        let in_flight = self
            .inner
            .chunk_flights
            .lock()
            .unwrap()
            .contains_key(&(tx.id(), index));
        if !in_flight {
            let (drive, tx) = (self.clone(), tx.clone());
            runtime.spawn(async move {
                // Errors surface when the reader gets there; a prefetch just tries.
                let _ = drive.fetch_chunk(&tx, index, true).await;
            });
        }
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
        if offset >= end || tx.location.is_none() {
            return None;
        }
        let pieces = (tx.chunk_index(offset)..=tx.chunk_index(end - 1))
            .map(|index| {
                let r = &tx.ranges[index];
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
