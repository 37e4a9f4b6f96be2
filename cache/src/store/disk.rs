//! Disk tier: one immutable file per block under `dir/blocks/<2 hex>/<64 hex>`, a byte budget,
//! least recently used blocks evicted first, pinned blocks never.
//!
//! Writes go to `dir/tmp/<pid>-<counter>-<random>` (O_EXCL) and are renamed into place, so a
//! crash never leaves a half block under a real name. There is no fsync: after a power loss a
//! renamed file may be torn or empty, and the checksum in its header catches that on read, which
//! turns it into a miss. Losing a cached block is harmless; the network still has it.
//!
//! Several processes may share one dir at once (a mount and a `preload`) without a lock:
//! blocks are content-addressed and immutable and renames are atomic, so a reader sees a whole
//! block or none. Each process keeps its own index, budget and pins: a block another process
//! evicted (even one pinned here) is just a miss, a put of a block already on disk writes
//! nothing, and the budget holds per process, approximately (`open` counts what is on disk).

use std::collections::HashSet;
use std::fs::{self, DirEntry, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::block_file::{self, BlockKey, HEADER_LEN, MAX_DATA_LEN, MAX_FILE_LEN, MAX_PREFIX_LEN};
use super::extents::{Extent, ExtentStore, ExtentWriter};
use super::index::Index;
use crate::arweave::TxId;

/// A recently read block kept open with its verified header and page table, so a small read
/// costs one `pread` and one page checksum instead of open, two reads and close. The file is
/// immutable: a cached descriptor stays right even after another process unlinks the file.
struct OpenBlock {
    file: File,
    prefix: block_file::Prefix,
}

/// Blocks kept open at once: enough for a few readers' working sets, few enough descriptors.
const OPEN_BLOCKS: usize = 128;

pub struct DiskStore {
    blocks_dir: PathBuf,
    open_blocks: Mutex<LruCache<BlockKey, Arc<OpenBlock>>>,
    tmp_dir: PathBuf,
    budget: u64,
    /// Bytes of the budget other files of the cache take (the per-id records): blocks get
    /// the rest.
    reserved: AtomicU64,
    /// Never held across file I/O, so reads of different blocks don't queue behind a write.
    index: Mutex<Index>,
    counters: Counters,
    tmp_seq: AtomicU64,
    /// Block files `open` found of impossible size and removed, and why: for the scrub's
    /// report (reads never see them).
    dropped_at_open: Mutex<Vec<(BlockKey, String)>>,
    /// Whole transactions and items in one file each (`extents.rs`): in the same budget,
    /// and where a block no longer on disk may still be, whole.
    extents: ExtentStore,
    /// Transactions pinned here: their extents, and their items', are never evicted.
    pinned_roots: Mutex<HashSet<TxId>>,
    /// Fault injection: fail every write after its header, as a full disk would.
    #[cfg(test)]
    fail_writes: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    evictions: AtomicU64,
    corrupt_dropped: AtomicU64,
    write_errors: AtomicU64,
}

/// What [`DiskStore::scrub`] found of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scrubbed {
    /// Whole and true to its name: this many data bytes.
    Sound(u64),
    /// Failed its check, and removed: why.
    Corrupt(String),
    /// No longer there (evicted, by this process or another).
    Gone,
}

/// This process's view: `blocks` and `bytes` (file sizes, header included) are what its index
/// holds; counters are since `open`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub blocks: u64,
    pub bytes: u64,
    pub budget: u64,
    pub hits: u64,
    pub misses: u64,
    pub writes: u64,
    pub evictions: u64,
    pub corrupt_dropped: u64,
    pub write_errors: u64,
    /// Extent files (whole transactions or items) and their bytes, also in the budget.
    pub extents: u64,
    pub extent_bytes: u64,
}

impl DiskStore {
    /// Opens (creating if needed) a store, indexes the blocks already on disk (least recently
    /// used = oldest mtime), removes temp files of dead writers and evicts down to the budget.
    pub fn open(dir: &Path, budget_bytes: u64) -> io::Result<DiskStore> {
        let blocks_dir = dir.join("blocks");
        let tmp_dir = dir.join("tmp");
        fs::create_dir_all(&blocks_dir)?;
        fs::create_dir_all(&tmp_dir)?;
        remove_dead_temp_files(&tmp_dir);
        let store = DiskStore {
            blocks_dir,
            open_blocks: Mutex::new(LruCache::new(
                std::num::NonZeroUsize::new(OPEN_BLOCKS).expect("non-zero"),
            )),
            tmp_dir,
            budget: budget_bytes,
            reserved: AtomicU64::new(0),
            index: Mutex::new(Index::new()),
            counters: Counters::default(),
            tmp_seq: AtomicU64::new(0),
            dropped_at_open: Mutex::new(Vec::new()),
            extents: ExtentStore::open(dir)?,
            pinned_roots: Mutex::default(),
            #[cfg(test)]
            fail_writes: std::sync::atomic::AtomicBool::new(false),
        };
        store.load_index()?;
        // A budget smaller than last run's takes effect at once.
        store.make_room_logged(budget_bytes);
        Ok(store)
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Sets how much of the budget other files take; blocks are evicted down to the rest
    /// from the next write on.
    pub fn reserve(&self, bytes: u64) {
        self.reserved.store(bytes, Relaxed);
    }

    /// What blocks and extents may take together.
    fn room(&self) -> u64 {
        self.budget.saturating_sub(self.reserved.load(Relaxed))
    }

    /// The block's data, or `None` if it is absent or was corrupt (then its file is removed):
    /// checked page by page and, being whole, against its SHA-256.
    pub fn get(&self, key: &BlockKey) -> io::Result<Option<Bytes>> {
        let path = self.block_path(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.index().remove(key);
                return Ok(self.chunk_from_extent(key)?.map(Bytes::from));
            }
            Err(err) => return Err(err),
        };
        let raw = read_capped(&file)?;
        let data_len = match block_file::decode(key, &raw) {
            // A whole block is re-hashed against its name too (about 0.2 ms for 256 KiB):
            // the page checksums catch bit rot and torn writes, not a block file replaced
            // on purpose.
            Ok(data) if Sha256::digest(data)[..] != key[..] => {
                self.drop_corrupt(key, &path, "its SHA-256 is not its name");
                return Ok(self.miss());
            }
            Ok(data) => data.len(),
            Err(corrupt) => {
                self.drop_corrupt(key, &path, corrupt);
                return Ok(self.miss());
            }
        };
        self.record_hit(key, &file, raw.len() as u64);
        Ok(Some(
            Bytes::from(raw).slice(block_file::prefix_len(data_len)..),
        ))
    }

    /// The block files `open` removed for their impossible size, and why (taken: a second
    /// call returns none).
    pub fn take_dropped_at_open(&self) -> Vec<(BlockKey, String)> {
        std::mem::take(&mut self.dropped_at_open.lock().unwrap())
    }

    /// Every block file in the directory, by key: this store's and those other processes
    /// wrote since it opened. Files whose names are not keys are left alone.
    pub fn keys_on_disk(&self) -> io::Result<Vec<BlockKey>> {
        let mut keys = Vec::new();
        self.for_each_block_file(|key, _| keys.push(key))?;
        Ok(keys)
    }

    /// Checks a block whole, as a scrub does: its header, every page checksum and the SHA-256
    /// of its data against its name, without counting it as used. A block that fails is
    /// removed, as a read would remove it; what the caller does next (fetch it again) is its
    /// own business. Returns the block's data length if it is sound.
    pub fn scrub(&self, key: &BlockKey) -> io::Result<Scrubbed> {
        let path = self.block_path(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.index().remove(key);
                return Ok(Scrubbed::Gone);
            }
            Err(err) => return Err(err),
        };
        let raw = read_capped(&file)?;
        let why = match block_file::decode(key, &raw) {
            Ok(data) if Sha256::digest(data)[..] == key[..] => {
                return Ok(Scrubbed::Sound(data.len() as u64));
            }
            Ok(_) => "its SHA-256 is not its name".to_string(),
            Err(corrupt) => corrupt.to_string(),
        };
        self.drop_corrupt(key, &path, &why);
        Ok(Scrubbed::Corrupt(why))
    }

    /// Copies `range` of the block's data into `out` (of the same length), checking only the
    /// pages it touches. Returns false if the block is absent, or corrupt (then removed), or
    /// shorter than `range`.
    pub fn read_into(
        &self,
        key: &BlockKey,
        range: Range<usize>,
        out: &mut [u8],
    ) -> io::Result<bool> {
        debug_assert_eq!(range.len(), out.len());
        let path = self.block_path(key);
        let Some(block) = self.open_block(key, &path)? else {
            let Some(chunk) = self.chunk_from_extent(key)? else {
                return Ok(false);
            };
            if range.end > chunk.len() {
                return Ok(false);
            }
            out.copy_from_slice(&chunk[range]);
            return Ok(true);
        };
        let (file, prefix) = (&block.file, &block.prefix);
        if range.end > prefix.data_len {
            let why = format!("read of {range:?} beyond its {} bytes", prefix.data_len);
            self.drop_corrupt(key, &path, why);
            self.miss();
            return Ok(false);
        }
        let span = prefix.page_span(&range);
        let at = (prefix.len() + span.start) as u64;
        // Page-aligned reads (the usual case for sequential readers) land in `out` directly.
        let checked = if span == range {
            read_at_most(file, out, at)? == out.len() && prefix.check_pages(span.start, out).is_ok()
        } else {
            let mut pages = vec![0u8; span.len()];
            let ok = read_at_most(file, &mut pages, at)? == pages.len()
                && prefix.check_pages(span.start, &pages).is_ok();
            if ok {
                out.copy_from_slice(&pages[range.start - span.start..range.end - span.start]);
            }
            ok
        };
        if !checked {
            self.drop_corrupt(
                key,
                &path,
                "data does not match its page checksums or is truncated",
            );
            self.miss();
            return Ok(false);
        }
        self.record_hit(key, file, block_file::file_len(prefix.data_len));
        Ok(true)
    }

    /// The block open with its header and page table checked, from the open-block cache or
    /// freshly opened. `None` when absent or corrupt (then dropped).
    fn open_block(&self, key: &BlockKey, path: &Path) -> io::Result<Option<Arc<OpenBlock>>> {
        if let Some(block) = self.open_blocks().get(key) {
            return Ok(Some(block.clone()));
        }
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                self.index().remove(key);
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let mut prefix_buf = [0u8; MAX_PREFIX_LEN];
        let got = read_at_most(&file, &mut prefix_buf, 0)?;
        match block_file::decode_prefix(key, &prefix_buf[..got]) {
            Ok(prefix) => {
                let block = Arc::new(OpenBlock { file, prefix });
                self.open_blocks().put(*key, block.clone());
                Ok(Some(block))
            }
            Err(corrupt) => {
                self.drop_corrupt(key, path, corrupt);
                Ok(None)
            }
        }
    }

    fn open_blocks(&self) -> MutexGuard<'_, LruCache<BlockKey, Arc<OpenBlock>>> {
        self.open_blocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a block (idempotent), then evicts unpinned blocks while over budget. On a write
    /// error (e.g. a full disk) no block file appears and the error is returned.
    pub fn put(&self, key: &BlockKey, data: &[u8]) -> io::Result<()> {
        if data.len() > MAX_DATA_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "block larger than 256 KiB",
            ));
        }
        let size = block_file::file_len(data.len());
        let path = self.block_path(key);
        // Content-addressed and immutable: a file of the right size already is this block
        // (perhaps written by another process); `get` still checks it.
        if !is_file_of_size(&path, size) {
            if let Err(err) = self.write_block(key, data, &path) {
                self.counters.write_errors.fetch_add(1, Relaxed);
                return Err(err);
            }
            self.counters.writes.fetch_add(1, Relaxed);
        }
        self.index().insert(key, size, SystemTime::now());
        self.make_room_logged(self.room());
        Ok(())
    }

    /// Whether the block is on disk (whoever wrote it; not checked): its file, or an extent
    /// holding it whole.
    pub fn contains(&self, key: &BlockKey) -> bool {
        fs::symlink_metadata(self.block_path(key)).is_ok_and(|meta| meta.is_file())
            || self.extents.holds(key)
    }

    /// [`Self::contains`] as far as this process's index knows, with no file system call:
    /// what other processes wrote since this store opened is not seen.
    pub fn indexed(&self, key: &BlockKey) -> bool {
        self.index().contains(key) || self.extents.holds_known(key)
    }

    /// The extent of `id`, if one is committed (noting the use).
    pub fn extent(&self, id: &TxId) -> Option<Arc<Extent>> {
        self.extents.get(id)
    }

    pub fn extents(&self) -> &ExtentStore {
        &self.extents
    }

    /// Assembles the extent of `id` from `parts` (each a block and the range of its data
    /// that belongs to `id`), each block read whole and checked against its SHA-256 as it is
    /// copied; then deletes the blocks it holds whole. Fails, committing nothing, if a block
    /// is missing or corrupt. Then evicts, if the extent took the store over budget.
    pub fn assemble_extent(
        &self,
        id: &TxId,
        root: &TxId,
        parts: &[(BlockKey, Range<usize>)],
    ) -> io::Result<Arc<Extent>> {
        let pieces = parts.iter().map(|(key, range)| {
            let data = self.get(key)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("block {} is not (or no longer) cached", hex::encode(key)),
                )
            })?;
            if range.end > data.len() {
                return Err(io::Error::other("a block is shorter than its chunk"));
            }
            // `get` checked a whole block against its name: the extent keeps that name.
            let whole = range.len() == data.len();
            Ok((data.slice(range.clone()), whole.then_some(*key)))
        });
        let extent = self.extents.assemble(id, root, pieces)?;
        self.committed(&extent);
        Ok(extent)
    }

    /// An extent of `id` (kept by `root`'s pin) to be written as its chunks arrive, instead
    /// of block files: see [`ExtentWriter`]. Then [`Self::commit_extent`] or
    /// [`Self::abandon_extent`].
    pub fn begin_extent(&self, id: &TxId, root: &TxId) -> io::Result<ExtentWriter> {
        self.extents.begin(id, root)
    }

    /// Commits what `writer` wrote, `len` bytes (see [`ExtentStore::commit`]), then deletes
    /// the blocks it holds whole and evicts if it took the store over budget.
    pub fn commit_extent(&self, writer: ExtentWriter, len: u64) -> io::Result<Arc<Extent>> {
        let extent = self.extents.commit(writer, len)?;
        self.committed(&extent);
        Ok(extent)
    }

    /// Gives up an extent being written, keeping the whole chunks it got as blocks (a read
    /// that failed half way does not lose what it fetched). Returns how many were kept.
    pub fn abandon_extent(&self, writer: ExtentWriter) -> usize {
        let mut kept = 0;
        for chunk in writer.whole_chunks() {
            let stored = chunk.and_then(|(key, bytes)| match self.indexed(&key) {
                true => Ok(()),
                false => self.put(&key, &bytes),
            });
            match stored {
                Ok(()) => kept += 1,
                Err(e) => {
                    tracing::warn!(id = %writer.id(), "keeping the chunks of an unfinished extent: {e}");
                    break;
                }
            }
        }
        kept
    }

    /// After `extent` committed: the blocks it holds whole go (a reader that misses one
    /// finds it there); one that cannot be removed is only space, still in the budget, not
    /// a failure. Then evicts, if the extent took the store over budget.
    fn committed(&self, extent: &Extent) {
        for piece in extent.pieces().iter().filter(|p| p.whole_chunk) {
            self.index().remove(&piece.hash);
            self.open_blocks().pop(&piece.hash);
            if let Err(e) = remove_if_present(&self.block_path(&piece.hash)) {
                tracing::warn!("removing a block an extent now holds: {e}");
            }
        }
        self.make_room_logged(self.room());
    }

    /// Keeps extents whose root is `id` from eviction (see [`Self::pin`] for blocks).
    pub fn pin_root(&self, id: &TxId) {
        self.pinned_roots().insert(*id);
    }

    pub fn unpin_root(&self, id: &TxId) {
        self.pinned_roots().remove(id);
    }

    fn pinned_roots(&self) -> MutexGuard<'_, HashSet<TxId>> {
        self.pinned_roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A block no longer in its own file, from an extent holding it whole: checked against
    /// its name (an extent that fails is removed whole). Counts the hit or the miss.
    fn chunk_from_extent(&self, key: &BlockKey) -> io::Result<Option<Vec<u8>>> {
        match self.extents.read_chunk(key)? {
            Some(chunk) => {
                self.counters.hits.fetch_add(1, Relaxed);
                Ok(Some(chunk))
            }
            None => {
                self.miss();
                Ok(None)
            }
        }
    }

    /// Evicts least recently used unpinned blocks and extents, whichever was used longer
    /// ago first, until together they take at most `room` bytes (or only pinned ones are
    /// left). Returns the bytes freed.
    fn make_room(&self, room: u64) -> io::Result<u64> {
        let mut freed = 0;
        loop {
            let (victims, extent) = {
                let mut index = self.index();
                let taken = index.bytes() + self.extents.bytes();
                if taken <= room {
                    break;
                }
                let pinned = self.pinned_roots().clone();
                let oldest_extent = self.extents.least_recently_used(|r| pinned.contains(r));
                let block_target = room.saturating_sub(self.extents.bytes());
                match (index.oldest_unpinned(), oldest_extent) {
                    (None, None) => break,
                    (Some(block), Some((id, used))) if used <= block => (Vec::new(), Some(id)),
                    (None, Some((id, _))) => (Vec::new(), Some(id)),
                    (Some(_), Some((_, used))) => {
                        // Blocks used before the oldest extent (at least one: it is older).
                        (index.pop_victims_before(block_target, used), None)
                    }
                    (Some(_), None) => (index.pop_victims(block_target), None),
                }
            };
            if victims.is_empty() && extent.is_none() {
                break;
            }
            freed += self.delete_evicted(victims)?;
            if let Some(id) = extent {
                self.counters.evictions.fetch_add(1, Relaxed);
                freed += self.extents.remove(&id)?.unwrap_or(0);
            }
        }
        Ok(freed)
    }

    /// For paths where eviction is a side effect that must not fail the caller.
    fn make_room_logged(&self, room: u64) {
        if let Err(err) = self.make_room(room) {
            tracing::warn!("evicting cached blocks: {err}");
        }
    }

    /// Pins are refcounted and held by this process only; a pinned block is never evicted here,
    /// even if that puts the store over budget.
    pub fn pin(&self, key: &BlockKey) {
        self.index().pin(key);
    }

    pub fn unpin(&self, key: &BlockKey) {
        self.index().unpin(key);
    }

    /// Deletes a block even if pinned (its pins remain and apply to a later put).
    pub fn remove(&self, key: &BlockKey) -> io::Result<()> {
        self.index().remove(key);
        self.open_blocks().pop(key);
        remove_if_present(&self.block_path(key))
    }

    /// Evicts least recently used unpinned blocks until at most `target_bytes` remain.
    /// Returns the bytes freed.
    pub fn evict_to(&self, target_bytes: u64) -> io::Result<u64> {
        self.make_room(target_bytes)
    }

    /// Removes every unpinned block and extent, including ones other processes wrote.
    pub fn clear(&self) -> io::Result<()> {
        let pinned = self.pinned_roots().clone();
        for extent in self.extents.list() {
            if !pinned.contains(&extent.root) {
                self.extents.remove(&extent.id)?;
            }
        }
        self.index().pop_all_unpinned();
        self.open_blocks().clear();
        let mut first_err = None;
        self.for_each_block_file(|key, entry| {
            if self.index().is_pinned(&key) {
                return;
            }
            if let Err(err) = remove_if_present(&entry.path()) {
                first_err.get_or_insert(err);
            }
        })?;
        first_err.map_or(Ok(()), Err)
    }

    pub fn stats(&self) -> DiskStats {
        let (blocks, bytes) = {
            let index = self.index();
            (index.blocks(), index.bytes())
        };
        let c = &self.counters;
        DiskStats {
            blocks,
            bytes,
            budget: self.budget,
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            writes: c.writes.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            corrupt_dropped: c.corrupt_dropped.load(Relaxed),
            write_errors: c.write_errors.load(Relaxed),
            extents: self.extents.count(),
            extent_bytes: self.extents.bytes(),
        }
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // Index updates cannot be left half done by a panic, so a poisoned lock is still sound.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn block_path(&self, key: &BlockKey) -> PathBuf {
        let name = hex::encode(key);
        self.blocks_dir.join(&name[..2]).join(name)
    }

    fn miss(&self) -> Option<Bytes> {
        self.counters.misses.fetch_add(1, Relaxed);
        None
    }

    fn record_hit(&self, key: &BlockKey, file: &File, size: u64) {
        let now = SystemTime::now();
        let (touch, grew) = {
            let mut index = self.index();
            let taken = index.bytes();
            (index.hit(key, size, now), index.bytes() > taken)
        };
        if touch {
            // Best effort: the mtime only orders eviction after a restart.
            let _ = file.set_modified(now);
        }
        self.counters.hits.fetch_add(1, Relaxed);
        // A block another process wrote is new to this index and may take it over budget.
        if grew {
            self.make_room_logged(self.budget);
        }
    }

    fn drop_corrupt(&self, key: &BlockKey, path: &Path, why: impl std::fmt::Display) {
        self.index().remove(key);
        self.open_blocks().pop(key);
        self.counters.corrupt_dropped.fetch_add(1, Relaxed);
        tracing::warn!(path = %path.display(), "dropping corrupt cached block: {why}");
        if let Err(err) = remove_if_present(path) {
            tracing::warn!(path = %path.display(), "removing corrupt block: {err}");
        }
    }

    fn write_block(&self, key: &BlockKey, data: &[u8], path: &Path) -> io::Result<()> {
        let (tmp_path, mut file) = self.create_temp()?;
        let written = self.write_contents(&mut file, key, data);
        drop(file);
        let result = written.and_then(|()| rename_into_place(&tmp_path, path));
        if result.is_err() {
            let _ = fs::remove_file(&tmp_path);
        }
        result
    }

    fn write_contents(&self, file: &mut File, key: &BlockKey, data: &[u8]) -> io::Result<()> {
        file.write_all(&block_file::encode_prefix(key, data))?;
        #[cfg(test)]
        if self.fail_writes.load(Relaxed) {
            return Err(io::ErrorKind::StorageFull.into());
        }
        file.write_all(data)
    }

    /// The pid lets `open` reclaim files of dead writers; the random part keeps two stores in
    /// one process (each with its own counter) apart; O_EXCL settles any remaining clash.
    fn create_temp(&self) -> io::Result<(PathBuf, File)> {
        let pid = std::process::id();
        for _ in 0..4 {
            let seq = self.tmp_seq.fetch_add(1, Relaxed);
            let salt = RandomState::new().hash_one(seq);
            let path = self.tmp_dir.join(format!("{pid}-{seq}-{salt:016x}"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((path, file)),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free temp file name",
        ))
    }

    /// Deletes evicted blocks' files; a file already gone (another process evicted it) still
    /// counts as freed, since the index counted it.
    fn delete_evicted(&self, victims: Vec<(BlockKey, u64)>) -> io::Result<u64> {
        self.counters
            .evictions
            .fetch_add(victims.len() as u64, Relaxed);
        let mut freed = 0;
        let mut first_err = None;
        for (key, size) in victims {
            // Closing it lets the kernel free the unlinked file's space.
            self.open_blocks().pop(&key);
            match remove_if_present(&self.block_path(&key)) {
                Ok(()) => freed += size,
                Err(err) => {
                    first_err.get_or_insert(err);
                }
            }
        }
        first_err.map_or(Ok(freed), Err)
    }

    fn load_index(&self) -> io::Result<()> {
        let mut found = Vec::new();
        self.for_each_block_file(|key, entry| {
            let Ok(meta) = entry.metadata() else { return };
            if !meta.is_file() {
                return;
            }
            let size = meta.len();
            if !(HEADER_LEN as u64..=MAX_FILE_LEN).contains(&size) {
                let why = format!("block file of impossible size {size}");
                self.drop_corrupt(&key, &entry.path(), &why);
                self.dropped_at_open.lock().unwrap().push((key, why));
                return;
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((mtime, key, size));
        })?;
        found.sort_unstable_by_key(|&(mtime, _, _)| mtime);
        let mut index = self.index();
        for (mtime, key, size) in found {
            index.insert(&key, size, mtime);
        }
        Ok(())
    }

    /// Calls `f` for every file under `blocks/` named by a key in its right shard; other names
    /// are left alone.
    fn for_each_block_file(&self, mut f: impl FnMut(BlockKey, &DirEntry)) -> io::Result<()> {
        for shard in fs::read_dir(&self.blocks_dir)? {
            let shard = shard?;
            let Some(prefix) = shard.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if prefix.len() != 2 || !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                if let Some(key) = parse_block_name(&prefix, &entry) {
                    f(key, &entry);
                }
            }
        }
        Ok(())
    }
}

/// The key a file under `blocks/<prefix>/` is named by, if it is a well-formed block name.
fn parse_block_name(prefix: &str, entry: &DirEntry) -> Option<BlockKey> {
    let name = entry.file_name();
    let name = name.to_str()?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(name, &mut key).ok()?;
    let canonical = hex::encode(key);
    (canonical == name && canonical[..2] == *prefix).then_some(key)
}

/// A temp file this old is abandoned whoever wrote it: a put takes milliseconds. This catches
/// what the pid check cannot, e.g. a restarted container process that got its old pid back.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// Removes temp files left by writers that died mid-put (e.g. SIGKILL): those of a pid that no
/// longer exists (`/proc/<pid>`, when /proc is there) and any older than [`STALE_TEMP_AGE`].
/// Another live process's in-progress files stay. Pid reuse or separate pid namespaces can
/// fool the pid check; the cost is then a leaked temp file or one failed put, never a bad block.
fn remove_dead_temp_files(tmp_dir: &Path) {
    let Ok(entries) = fs::read_dir(tmp_dir) else {
        return;
    };
    let have_proc = Path::new("/proc/self").exists();
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let writer_dead = have_proc && temp_writer(&entry).is_some_and(|pid| !pid_alive(pid));
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|mtime| {
                now.duration_since(mtime)
                    .is_ok_and(|age| age > STALE_TEMP_AGE)
            });
        if !(writer_dead || stale) {
            continue;
        }
        if let Err(err) = remove_if_present(&entry.path()) {
            tracing::warn!(path = %entry.path().display(), "removing stale temp file: {err}");
        }
    }
}

/// The pid in a temp file's name, `<pid>-<counter>-<random>`.
fn temp_writer(entry: &DirEntry) -> Option<u32> {
    entry.file_name().to_str()?.split('-').next()?.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Reads a whole block file but never more than the largest valid one plus a byte, so a
/// huge file costs no memory and still fails decoding.
/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn read_capped(file: &File) -> io::Result<Vec<u8>> {
    let cap = MAX_FILE_LEN + 1;
    let hint = file.metadata().map_or(0, |meta| meta.len()).min(cap);
    let mut raw = Vec::with_capacity(hint as usize);
    file.take(cap).read_to_end(&mut raw)?;
    Ok(raw)
}

fn rename_into_place(tmp: &Path, path: &Path) -> io::Result<()> {
    match fs::rename(tmp, path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            // Shard directories are made on first use.
            if let Some(shard) = path.parent() {
                fs::create_dir_all(shard)?;
            }
            fs::rename(tmp, path)
        }
        other => other,
    }
}

pub(super) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn is_file_of_size(path: &Path, size: u64) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file() && meta.len() == size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::sync::Arc;

    const KIB: u64 = 1024;

    /// Deterministic block `n` of `len` bytes, keyed by its sha256 as in production.
    fn block(n: u32, len: usize) -> (BlockKey, Vec<u8>) {
        let data: Vec<u8> = (0..len)
            .map(|i| (i as u32).wrapping_mul(31).wrapping_add(n.wrapping_mul(97)) as u8)
            .chain(n.to_le_bytes())
            .collect();
        (Sha256::digest(&data).into(), data)
    }

    fn path_of(dir: &Path, key: &BlockKey) -> PathBuf {
        let name = hex::encode(key);
        dir.join("blocks").join(&name[..2]).join(name)
    }

    /// Bytes actually under `blocks/`, by walking the directory.
    fn bytes_on_disk(dir: &Path) -> u64 {
        let mut total = 0;
        for shard in fs::read_dir(dir.join("blocks")).unwrap() {
            for file in fs::read_dir(shard.unwrap().path()).unwrap() {
                total += file.unwrap().metadata().unwrap().len();
            }
        }
        total
    }

    fn tmp_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<DiskStore>();
    }

    #[test]
    fn partial_reads_check_the_pages_they_touch() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 10 * KIB * KIB).unwrap();
        let (key, data) = block(1, 20_000);
        store.put(&key, &data).unwrap();
        for range in [
            0..20_004,
            0..4096,
            4096..8192,
            5000..5001,
            12_000..20_004,
            8191..8193,
        ] {
            let mut out = vec![0u8; range.len()];
            assert!(
                store.read_into(&key, range.clone(), &mut out).unwrap(),
                "{range:?}"
            );
            assert_eq!(out, data[range]);
        }
        let mut out = vec![0u8; 10];
        assert!(
            !store.read_into(&key, 19_999..20_009, &mut out).unwrap(),
            "read past the end"
        );
        // The block was dropped for the impossible read; put it back, then damage page 3.
        store.put(&key, &data).unwrap();
        let path = path_of(dir.path(), &key);
        let mut file = fs::read(&path).unwrap();
        let page3 = block_file::prefix_len(data.len()) + 3 * 4096 + 7;
        file[page3] ^= 0x10;
        fs::write(&path, &file).unwrap();
        let mut out = vec![0u8; 4096];
        assert!(
            store.read_into(&key, 0..4096, &mut out).unwrap(),
            "page 0 is intact"
        );
        assert!(
            !store.read_into(&key, 12_288..16_384, &mut out).unwrap(),
            "page 3 is not"
        );
        assert!(!path.exists(), "corrupt block not removed");
        assert_eq!(store.stats().corrupt_dropped, 2);
        // Truncated: the pages past the cut are missing.
        store.put(&key, &data).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(9000)
            .unwrap();
        assert!(
            !store
                .read_into(&key, 16_384..20_004, &mut vec![0u8; 3620])
                .unwrap()
        );
        assert!(!store.read_into(&absent_key(), 0..1, &mut [0u8; 1]).unwrap());
    }

    fn absent_key() -> BlockKey {
        [0xEE; 32]
    }

    #[test]
    fn put_get_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 10 * KIB * KIB).unwrap();
        let (key, data) = block(1, 5000);
        let (absent, _) = block(2, 10);
        assert!(!store.contains(&key));
        assert_eq!(store.get(&key).unwrap(), None);
        store.put(&key, &data).unwrap();
        store.put(&key, &data).unwrap(); // idempotent
        assert!(store.contains(&key));
        assert_eq!(store.get(&key).unwrap().as_deref(), Some(&data[..]));
        assert_eq!(store.get(&absent).unwrap(), None);
        let stats = store.stats();
        assert_eq!(
            (stats.blocks, stats.bytes),
            (1, block_file::file_len(data.len()))
        );
        assert_eq!((stats.hits, stats.misses, stats.writes), (1, 2, 1));
        assert_eq!(bytes_on_disk(dir.path()), stats.bytes);
        assert!(tmp_names(dir.path()).is_empty());
    }

    #[test]
    fn empty_and_largest_blocks_round_trip_and_oversized_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 10 * KIB * KIB).unwrap();
        let empty = Sha256::digest(b"").into();
        store.put(&empty, b"").unwrap();
        assert_eq!(store.get(&empty).unwrap().as_deref(), Some(&b""[..]));
        let big = vec![0x5A; MAX_DATA_LEN];
        let big_key = Sha256::digest(&big).into();
        store.put(&big_key, &big).unwrap();
        assert_eq!(store.get(&big_key).unwrap().as_deref(), Some(&big[..]));
        let too_big = vec![0; MAX_DATA_LEN + 1];
        let err = store.put(&[9; 32], &too_big).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn restart_keeps_blocks_and_byte_counts() {
        let dir = tempfile::tempdir().unwrap();
        let blocks: Vec<_> = (0..20).map(|n| block(n, 100 + 700 * n as usize)).collect();
        let before = {
            let store = DiskStore::open(dir.path(), 10 * KIB * KIB).unwrap();
            for (key, data) in &blocks {
                store.put(key, data).unwrap();
            }
            store.stats()
        };
        let store = DiskStore::open(dir.path(), 10 * KIB * KIB).unwrap();
        let after = store.stats();
        assert_eq!((after.blocks, after.bytes), (before.blocks, before.bytes));
        assert_eq!(after.bytes, bytes_on_disk(dir.path()));
        for (key, data) in &blocks {
            assert_eq!(store.get(key).unwrap().as_deref(), Some(&data[..]));
        }
    }

    #[test]
    fn budget_holds_under_four_times_the_workload() {
        let dir = tempfile::tempdir().unwrap();
        let budget = 64 * KIB;
        let store = DiskStore::open(dir.path(), budget).unwrap();
        let mut written = 0;
        let mut n = 0;
        while written < 4 * budget {
            let (key, data) = block(n, 1000 + (n as usize * 2311) % 9000);
            store.put(&key, &data).unwrap();
            written += data.len() as u64;
            n += 1;
            let on_disk = bytes_on_disk(dir.path());
            assert!(on_disk <= budget, "{on_disk} bytes on disk after put {n}");
            assert_eq!(store.stats().bytes, on_disk);
        }
        assert!(store.stats().evictions > 0);
    }

    #[test]
    fn recently_read_blocks_survive_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let blocks: Vec<_> = (0..4).map(|n| block(n, 1000)).collect();
        let size = block_file::file_len(1004);
        let store = DiskStore::open(dir.path(), 3 * size).unwrap();
        for (key, data) in &blocks[..3] {
            store.put(key, data).unwrap();
        }
        assert!(store.get(&blocks[0].0).unwrap().is_some());
        store.put(&blocks[3].0, &blocks[3].1).unwrap();
        let present: Vec<bool> = blocks.iter().map(|(k, _)| store.contains(k)).collect();
        assert_eq!(present, [true, false, true, true]);
    }

    #[test]
    fn restart_orders_by_mtime_and_applies_a_smaller_budget() {
        let dir = tempfile::tempdir().unwrap();
        let blocks: Vec<_> = (0..4).map(|n| block(n, 1000)).collect();
        let size = block_file::file_len(1004);
        {
            let store = DiskStore::open(dir.path(), 10 * size).unwrap();
            for (key, data) in &blocks {
                store.put(key, data).unwrap();
            }
        }
        // Block 2 is the oldest, then 0; 1 and 3 are recent.
        let now = SystemTime::now();
        for (n, age_secs) in [(2, 3600), (0, 600)] {
            let file = File::open(path_of(dir.path(), &blocks[n].0)).unwrap();
            file.set_modified(now - Duration::from_secs(age_secs))
                .unwrap();
        }
        let store = DiskStore::open(dir.path(), 2 * size).unwrap();
        let present: Vec<bool> = blocks.iter().map(|(k, _)| store.contains(k)).collect();
        assert_eq!(present, [false, true, false, true]);
        assert_eq!(store.stats().bytes, bytes_on_disk(dir.path()));
    }

    #[test]
    fn hits_refresh_an_old_mtime_for_the_next_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (key, data) = block(1, 100);
        let path = path_of(dir.path(), &key);
        DiskStore::open(dir.path(), KIB * KIB)
            .unwrap()
            .put(&key, &data)
            .unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::open(&path).unwrap().set_modified(old).unwrap();
        let store = DiskStore::open(dir.path(), KIB * KIB).unwrap();
        let mtime = || fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(mtime(), old);
        assert!(store.get(&key).unwrap().is_some());
        let touched = mtime();
        assert!(touched > old + Duration::from_secs(3000));
        File::open(&path).unwrap().set_modified(old).unwrap();
        assert!(store.get(&key).unwrap().is_some());
        assert_eq!(mtime(), old, "at most one touch per interval");
    }

    #[test]
    fn pinned_blocks_survive_pressure_until_unpinned() {
        let dir = tempfile::tempdir().unwrap();
        let size = block_file::file_len(1004);
        let store = DiskStore::open(dir.path(), 2 * size).unwrap();
        let pinned: Vec<_> = (0..3).map(|n| block(n, 1000)).collect();
        for (key, data) in &pinned {
            store.pin(key); // pin before put: the block is pinned from its first write
            store.put(key, data).unwrap();
        }
        store.pin(&pinned[0].0); // refcount 2
        for n in 10..30 {
            let (key, data) = block(n, 1000);
            store.put(&key, &data).unwrap();
        }
        assert!(pinned.iter().all(|(k, _)| store.contains(k)));
        assert_eq!(
            store.stats().bytes,
            3 * size,
            "pinned data wins over the budget"
        );

        for (key, _) in &pinned {
            store.unpin(key);
        }
        assert_eq!(store.evict_to(0).unwrap(), 2 * size);
        assert!(store.contains(&pinned[0].0), "still pinned once");
        store.unpin(&pinned[0].0);
        assert_eq!(store.evict_to(0).unwrap(), size);
        assert_eq!(bytes_on_disk(dir.path()), 0);
        assert_eq!(store.stats().blocks, 0);
    }

    /// Each way a block file can go bad must read as a miss, remove the file and be counted.
    /// A block file rewritten with other data and checksums that match it (what a local
    /// writer of the cache, not bit rot, would do) is caught by its hash when read whole.
    #[test]
    fn a_replaced_block_with_valid_checksums_fails_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 1 << 30).unwrap();
        let (key, data) = block(1, 5000);
        store.put(&key, &data).unwrap();
        let (_, other) = block(2, 5000);
        let mut forged = block_file::encode_prefix(&key, &other);
        forged.extend_from_slice(&other);
        fs::write(path_of(dir.path(), &key), forged).unwrap();
        assert_eq!(store.get(&key).unwrap(), None);
        assert_eq!(store.stats().corrupt_dropped, 1);
        assert!(!path_of(dir.path(), &key).exists(), "dropped");
    }

    #[test]
    fn corrupt_files_are_dropped_never_returned() {
        let flip = |at: u64| {
            move |path: &Path| {
                let mut bytes = fs::read(path).unwrap();
                bytes[at as usize] ^= 0x01;
                fs::write(path, bytes).unwrap();
            }
        };
        type Damage = Box<dyn Fn(&Path, &Path)>;
        let cases: Vec<(&str, Damage)> = vec![
            ("data byte", Box::new(move |p, _| flip(500)(p))),
            (
                "last data byte",
                Box::new(move |p, _| flip(block_file::file_len(2004) - 1)(p)),
            ),
            ("magic", Box::new(move |p, _| flip(0)(p))),
            ("length", Box::new(move |p, _| flip(8)(p))),
            ("checksum", Box::new(move |p, _| flip(20)(p))),
            ("key", Box::new(move |p, _| flip(40)(p))),
            ("reserved", Box::new(move |p, _| flip(63)(p))),
            (
                "truncated",
                Box::new(|p, _| {
                    let f = OpenOptions::new().write(true).open(p).unwrap();
                    f.set_len(1000).unwrap();
                }),
            ),
            ("zero length", Box::new(|p, _| fs::write(p, b"").unwrap())),
            (
                "grown",
                Box::new(|p, _| {
                    let f = OpenOptions::new().write(true).open(p).unwrap();
                    f.set_len(MAX_FILE_LEN * 4).unwrap();
                }),
            ),
            (
                "another block",
                Box::new(|p, other| fs::rename(other, p).unwrap()),
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 10 * KIB * KIB).unwrap();
        for (n, (what, damage)) in cases.iter().enumerate() {
            let (key, data) = block(n as u32, 2000);
            let (other_key, other_data) = block(1000 + n as u32, 2000);
            store.put(&key, &data).unwrap();
            store.put(&other_key, &other_data).unwrap();
            let path = path_of(dir.path(), &key);
            damage(&path, &path_of(dir.path(), &other_key));
            let before = store.stats();
            assert_eq!(store.get(&key).unwrap(), None, "{what}");
            assert!(!path.exists(), "{what}: file removed");
            let after = store.stats();
            assert_eq!(after.corrupt_dropped, before.corrupt_dropped + 1, "{what}");
            assert_eq!(after.blocks, before.blocks - 1, "{what}");
            // The slot is usable again.
            store.put(&key, &data).unwrap();
            assert_eq!(
                store.get(&key).unwrap().as_deref(),
                Some(&data[..]),
                "{what}"
            );
        }
    }

    #[test]
    fn a_scrub_finds_sound_rotten_and_renamed_blocks_without_counting_them_as_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), 10 * KIB * KIB).unwrap();
        let blocks: Vec<_> = (0..4).map(|n| block(n, 5000)).collect();
        for (key, data) in &blocks {
            store.put(key, data).unwrap();
        }
        let mut rotten = fs::read(path_of(dir.path(), &blocks[1].0)).unwrap();
        *rotten.last_mut().unwrap() ^= 1;
        fs::write(path_of(dir.path(), &blocks[1].0), rotten).unwrap();
        fs::rename(
            path_of(dir.path(), &blocks[3].0),
            path_of(dir.path(), &blocks[2].0),
        )
        .unwrap();
        let mut keys = store.keys_on_disk().unwrap();
        keys.sort();
        let mut expected: Vec<_> = blocks[..3].iter().map(|(key, _)| *key).collect();
        expected.sort();
        assert_eq!(keys, expected);

        let hits = store.stats().hits;
        assert_eq!(store.scrub(&blocks[0].0).unwrap(), Scrubbed::Sound(5004));
        assert_eq!(
            store.scrub(&blocks[1].0).unwrap(),
            Scrubbed::Corrupt(block_file::BlockCorrupt::Checksum.to_string())
        );
        // Another block's file under this name: its header names the other key.
        assert!(matches!(
            store.scrub(&blocks[2].0).unwrap(),
            Scrubbed::Corrupt(_)
        ));
        assert_eq!(store.scrub(&blocks[3].0).unwrap(), Scrubbed::Gone);
        assert_eq!(store.stats().hits, hits, "a scrub is not a use");
        assert_eq!(store.keys_on_disk().unwrap(), vec![blocks[0].0]);
        assert_eq!(store.stats().blocks, 1);
    }

    #[test]
    fn open_drops_files_of_impossible_size() {
        let dir = tempfile::tempdir().unwrap();
        let (key, data) = block(1, 100);
        DiskStore::open(dir.path(), KIB * KIB)
            .unwrap()
            .put(&key, &data)
            .unwrap();
        fs::write(path_of(dir.path(), &key), b"short").unwrap();
        let store = DiskStore::open(dir.path(), KIB * KIB).unwrap();
        assert_eq!(store.stats().corrupt_dropped, 1);
        let dropped = store.take_dropped_at_open();
        assert_eq!(
            dropped,
            vec![(key, "block file of impossible size 5".into())]
        );
        assert_eq!(store.stats().blocks, 0);
        assert!(!store.contains(&key));
    }

    #[test]
    fn open_removes_temp_files_of_dead_writers_and_abandoned_ones() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let live_pid = std::process::id();
        let dead = format!("{dead_pid}-0-00000000deadbeef");
        let live = format!("{live_pid}-7-0000000012345678");
        let abandoned = format!("{live_pid}-3-00000000cafef00d");
        for name in [&dead, &live, &abandoned, &"not-a-temp".to_string()] {
            fs::write(dir.path().join("tmp").join(name), b"partial").unwrap();
        }
        // Old enough to be abandoned even though its pid is alive (e.g. reused).
        let old = SystemTime::now() - STALE_TEMP_AGE - Duration::from_secs(60);
        File::open(dir.path().join("tmp").join(&abandoned))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let _store = DiskStore::open(dir.path(), KIB * KIB).unwrap();
        assert_eq!(tmp_names(dir.path()), [live, "not-a-temp".to_string()]);
    }

    #[test]
    fn remove_clear_and_evict_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), KIB * KIB).unwrap();
        let other = DiskStore::open(dir.path(), KIB * KIB).unwrap();
        let blocks: Vec<_> = (0..6).map(|n| block(n, 1000)).collect();
        for (key, data) in &blocks[..4] {
            store.put(key, data).unwrap();
        }
        // Written by another process sharing the dir: unknown to `store`'s index.
        other.put(&blocks[4].0, &blocks[4].1).unwrap();
        store.remove(&blocks[0].0).unwrap();
        store.remove(&blocks[5].0).unwrap(); // absent: fine
        assert!(!store.contains(&blocks[0].0));
        assert_eq!(store.stats().blocks, 3);
        store.pin(&blocks[1].0);
        store.clear().unwrap();
        let present: Vec<bool> = blocks.iter().map(|(k, _)| store.contains(k)).collect();
        assert_eq!(present, [false, true, false, false, false, false]);
        assert_eq!(store.stats().blocks, 1);
        assert_eq!(store.evict_to(0).unwrap(), 0, "pinned");
    }

    #[test]
    fn failed_write_leaves_no_block_and_keeps_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path(), KIB * KIB).unwrap();
        let (old_key, old_data) = block(1, 3000);
        store.put(&old_key, &old_data).unwrap();
        let (key, data) = block(2, 3000);

        // A write that fails midway (as on a full disk): no temp file, no block.
        store.fail_writes.store(true, Relaxed);
        let err = store.put(&key, &data).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(tmp_names(dir.path()).is_empty());
        store.fail_writes.store(false, Relaxed);

        // tmp/ unusable (here: a plain file), so the temp file cannot even be created.
        fs::remove_dir(dir.path().join("tmp")).unwrap();
        fs::write(dir.path().join("tmp"), b"").unwrap();
        assert!(store.put(&key, &data).is_err());

        assert!(!store.contains(&key));
        assert_eq!(store.get(&key).unwrap(), None);
        assert_eq!(store.get(&old_key).unwrap().as_deref(), Some(&old_data[..]));
        let stats = store.stats();
        assert_eq!((stats.write_errors, stats.writes, stats.blocks), (2, 1, 1));
    }

    /// Two stores on one dir (as two processes would be), two threads each, overlapping keys and
    /// constant eviction: every hit must be the right data and no file may ever look torn.
    #[test]
    fn two_stores_sharing_a_dir_never_return_wrong_data() {
        let dir = tempfile::tempdir().unwrap();
        let blocks: Arc<Vec<_>> =
            Arc::new((0..48).map(|n| block(n, 500 + 97 * n as usize)).collect());
        let budget = 40 * KIB;
        let stores = [
            Arc::new(DiskStore::open(dir.path(), budget).unwrap()),
            Arc::new(DiskStore::open(dir.path(), budget).unwrap()),
        ];
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let store = Arc::clone(&stores[t as usize % 2]);
                let blocks = Arc::clone(&blocks);
                std::thread::spawn(move || {
                    let mut rng = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    let mut hits = 0;
                    for _ in 0..3000 {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let (key, data) = &blocks[(rng >> 8) as usize % blocks.len()];
                        match rng % 8 {
                            0..=3 => store.put(key, data).unwrap(),
                            4 => store.remove(key).unwrap(),
                            5 => drop(store.evict_to(budget / 2).unwrap()),
                            _ => {
                                if let Some(got) = store.get(key).unwrap() {
                                    assert_eq!(&got[..], &data[..]);
                                    hits += 1;
                                }
                            }
                        }
                    }
                    hits
                })
            })
            .collect();
        let hits: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(hits > 0);
        for store in &stores {
            assert_eq!(store.stats().corrupt_dropped, 0);
            assert_eq!(store.stats().write_errors, 0);
        }
        assert!(tmp_names(dir.path()).is_empty());
        let reopened = DiskStore::open(dir.path(), budget).unwrap();
        for (key, data) in blocks.iter() {
            if let Some(got) = reopened.get(key).unwrap() {
                assert_eq!(&got[..], &data[..]);
            }
        }
    }
}
