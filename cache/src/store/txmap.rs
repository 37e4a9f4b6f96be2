//! Per-transaction metadata kept beside the blocks, so a warm start needs no network: the
//! authenticated header, where the data sits in the weave, and each chunk's data_hash once a
//! Merkle proof has shown it (the hash is then the block's key in the store).
//!
//! Layout under `<cache>/tx/<id>/`: `header.json` (re-verified by signature on every load) and
//! `map.bin`: a 64-byte header (magic, data_size, end_offset, chunk count, checksum) then one
//! 48-byte record per standard-layout chunk: `data_hash | xxh3(index, hash) | 0`. An all-zero
//! or mismatching record means "not known yet". Records are written in place with `pwrite`;
//! a torn record fails its checksum and is simply unknown again. Files are created under a
//! temporary name and hard-linked into place, which never replaces a file another process made.

use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lru::LruCache;
use xxhash_rust::xxh3::xxh3_64;

use crate::arweave::chunking::ChunkLayout;
use crate::arweave::{Hash, TxHeader, TxId};
use crate::gateway::TxLocation;

const MAGIC: &[u8; 8] = b"WDMAP001";
const HEADER_LEN: u64 = 64;
const RECORD_LEN: u64 = 48;
/// Transactions of up to this many chunks (16 GiB) keep every chunk's hash in memory (2 MiB at
/// most), read from `map.bin` in one go. Larger ones keep the hashes this process proved or
/// looked up, up to [`SPARSE_HASHES`], and read the rest from `map.bin` record by record: a
/// signed header may claim any size, and nothing here may cost memory in proportion to it.
const DENSE_MAX_CHUNKS: u64 = 1 << 16;
const SPARSE_HASHES: usize = 1 << 16;

/// What the cache knows about one transaction.
pub struct TxRecord {
    pub header: TxHeader,
    /// Where the data sits in the weave: the `/offset` answer that proved a chunk. A later
    /// answer replaces it when every gateway fails the proofs at the old place (see
    /// [`Self::relocate`]).
    location: Mutex<Option<TxLocation>>,
    /// Standard-layout chunks of the data (none for format 1 and empty data).
    layout: ChunkLayout,
    hashes: Mutex<Hashes>,
    map: Option<File>,
}

/// Proven chunk hashes held in memory.
enum Hashes {
    Dense(Vec<Option<Hash>>),
    Sparse(LruCache<usize, Hash>),
}

impl Hashes {
    fn new(chunks: u64) -> Hashes {
        if chunks <= DENSE_MAX_CHUNKS {
            Hashes::Dense(vec![None; chunks as usize])
        } else {
            Hashes::Sparse(LruCache::new(NonZeroUsize::new(SPARSE_HASHES).unwrap()))
        }
    }

    fn get(&mut self, index: usize) -> Option<Hash> {
        match self {
            Hashes::Dense(all) => all[index],
            Hashes::Sparse(some) => some.get(&index).copied(),
        }
    }

    /// Returns whether it was new.
    fn set(&mut self, index: usize, hash: Hash) -> bool {
        match self {
            Hashes::Dense(all) => all[index].replace(hash) != Some(hash),
            Hashes::Sparse(some) => some.put(index, hash) != Some(hash),
        }
    }
}

impl TxRecord {
    /// A record kept only in memory (no disk cache).
    pub fn in_memory(header: TxHeader, location: Option<TxLocation>) -> Self {
        let layout = layout_of(&location);
        TxRecord {
            hashes: Mutex::new(Hashes::new(layout.count())),
            header,
            location: Mutex::new(location),
            layout,
            map: None,
        }
    }

    pub fn id(&self) -> TxId {
        self.header.id
    }

    pub fn size(&self) -> u64 {
        self.header.data_size
    }

    /// Where the data sits in the weave; `None` for format 1 and empty data.
    pub fn location(&self) -> Option<TxLocation> {
        *self.location.lock().unwrap()
    }

    /// Whether the data is read by chunk (format 2 with data).
    pub fn is_chunked(&self) -> bool {
        self.layout.count() > 0
    }

    pub fn chunk_count(&self) -> usize {
        self.layout.count() as usize
    }

    pub fn chunk_range(&self, index: usize) -> Range<u64> {
        self.layout.range(index as u64)
    }

    pub fn chunk_len(&self, index: usize) -> usize {
        let r = self.chunk_range(index);
        (r.end - r.start) as usize
    }

    /// Index of the chunk holding byte `offset` (which must be below the size).
    pub fn chunk_index(&self, offset: u64) -> usize {
        self.layout.index_of(offset) as usize
    }

    pub fn known_hash(&self, index: usize) -> Option<Hash> {
        let sparse = {
            let mut hashes = self.hashes.lock().unwrap();
            if let Some(hash) = hashes.get(index) {
                return Some(hash);
            }
            matches!(*hashes, Hashes::Sparse(_))
        };
        // Large transactions: what an earlier run proved is on disk, one record per chunk.
        let hash = read_record(self.map.as_ref().filter(|_| sparse)?, index)?;
        self.hashes.lock().unwrap().set(index, hash);
        Some(hash)
    }

    /// Every proven hash (for pins): from memory, and from `map.bin` for large transactions.
    pub fn known_hashes(&self) -> Vec<Hash> {
        if let Some(map) = &self.map
            && matches!(*self.hashes.lock().unwrap(), Hashes::Sparse(_))
        {
            return read_all_records(map, self.chunk_count());
        }
        match &*self.hashes.lock().unwrap() {
            Hashes::Dense(all) => all.iter().flatten().copied().collect(),
            Hashes::Sparse(some) => some.iter().map(|(_, h)| *h).collect(),
        }
    }

    /// Remembers the proven hash of chunk `index` for this process only (e.g. when the
    /// block could not be written to disk). Returns whether it was new.
    pub fn record_hash_in_memory(&self, index: usize, hash: Hash) -> bool {
        self.hashes.lock().unwrap().set(index, hash)
    }

    /// Remembers the proven hash of chunk `index`, on disk too when there is a disk cache.
    pub fn record_hash(&self, index: usize, hash: Hash) -> io::Result<()> {
        if !self.record_hash_in_memory(index, hash) {
            return Ok(());
        }
        if let Some(map) = &self.map {
            map.write_all_at(&encode_record(index, &hash), record_offset(index as u64))?;
        }
        Ok(())
    }

    /// Writes the hash of chunk `index`, known in memory (proven, but its bytes kept
    /// elsewhere than a block until now), into the map on disk.
    pub fn persist_hash(&self, index: usize) -> io::Result<()> {
        let (Some(map), Some(hash)) = (&self.map, self.known_hash(index)) else {
            return Ok(());
        };
        map.write_all_at(&encode_record(index, &hash), record_offset(index as u64))
    }

    /// Moves the data to `end_offset` in the weave (a new `/offset` answer under which a chunk
    /// proved where the old one failed everywhere), on disk too. Known hashes stay: they are
    /// of the data, wherever it sits.
    pub fn relocate(&self, end_offset: u64) -> io::Result<()> {
        let mut location = self.location.lock().unwrap();
        let Some(current) = location.as_mut() else {
            return Ok(());
        };
        current.end_offset = end_offset;
        if let Some(map) = &self.map {
            let header = map_header(self.size(), end_offset, self.layout.count());
            map.write_all_at(&header, 0)?;
        }
        Ok(())
    }
}

fn layout_of(location: &Option<TxLocation>) -> ChunkLayout {
    ChunkLayout::new(location.map_or(0, |l| l.data_size))
}

fn record_offset(index: u64) -> u64 {
    HEADER_LEN + index * RECORD_LEN
}

fn record_checksum(index: usize, hash: &Hash) -> u64 {
    let mut buf = [0u8; 40];
    buf[..8].copy_from_slice(&(index as u64).to_le_bytes());
    buf[8..].copy_from_slice(hash);
    xxh3_64(&buf)
}

fn encode_record(index: usize, hash: &Hash) -> [u8; RECORD_LEN as usize] {
    let mut record = [0u8; RECORD_LEN as usize];
    record[..32].copy_from_slice(hash);
    record[32..40].copy_from_slice(&record_checksum(index, hash).to_le_bytes());
    record
}

fn decode_record(index: usize, record: &[u8]) -> Option<Hash> {
    let hash: Hash = record[..32].try_into().ok()?;
    let sum = u64::from_le_bytes(record[32..40].try_into().ok()?);
    (sum == record_checksum(index, &hash) && record.iter().any(|&b| b != 0)).then_some(hash)
}

/// One record from `map.bin`; an unreadable or torn one is simply unknown.
fn read_record(map: &File, index: usize) -> Option<Hash> {
    let mut record = [0u8; RECORD_LEN as usize];
    map.read_exact_at(&mut record, record_offset(index as u64))
        .ok()?;
    decode_record(index, &record)
}

/// Every valid record of `map.bin`, read a megabyte at a time.
fn read_all_records(map: &File, chunks: usize) -> Vec<Hash> {
    const PER_READ: usize = (1 << 20) / RECORD_LEN as usize;
    let mut hashes = Vec::new();
    let mut buf = vec![0u8; PER_READ * RECORD_LEN as usize];
    for first in (0..chunks).step_by(PER_READ) {
        let n = PER_READ.min(chunks - first);
        let bytes = &mut buf[..n * RECORD_LEN as usize];
        if map
            .read_exact_at(bytes, record_offset(first as u64))
            .is_err()
        {
            break;
        }
        let records = bytes.chunks_exact(RECORD_LEN as usize);
        hashes.extend(
            records
                .enumerate()
                .filter_map(|(i, r)| decode_record(first + i, r)),
        );
    }
    hashes
}

fn map_header(data_size: u64, end_offset: u64, chunks: u64) -> [u8; HEADER_LEN as usize] {
    let mut header = [0u8; HEADER_LEN as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..16].copy_from_slice(&data_size.to_le_bytes());
    header[16..24].copy_from_slice(&end_offset.to_le_bytes());
    header[24..32].copy_from_slice(&chunks.to_le_bytes());
    let sum = xxh3_64(&header[..32]);
    header[32..40].copy_from_slice(&sum.to_le_bytes());
    header
}

/// The `tx/` directory of a disk cache.
pub struct TxMapStore {
    dir: PathBuf,
    tmp_dir: PathBuf,
}

impl TxMapStore {
    pub fn open(cache_dir: &Path) -> io::Result<Self> {
        let dir = cache_dir.join("tx");
        let tmp_dir = cache_dir.join("tmp");
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(&tmp_dir)?;
        Ok(TxMapStore { dir, tmp_dir })
    }

    fn tx_dir(&self, id: &TxId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Loads what an earlier run stored. Anything that fails to verify (header signature,
    /// map header) is discarded and reported as absent, so the caller refetches it.
    pub fn load(&self, id: &TxId) -> io::Result<Option<TxRecord>> {
        let dir = self.tx_dir(id);
        let json = match std::fs::read(dir.join("header.json")) {
            Ok(json) => json,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Ok(header) = TxHeader::from_json_verified(&json, id) else {
            tracing::warn!(%id, "cached header failed verification; dropping it");
            self.remove(id)?;
            return Ok(None);
        };
        let has_chunks = header.format == 2 && header.data_size > 0;
        if !has_chunks {
            return Ok(Some(TxRecord::in_memory(header, None)));
        }
        let record = read_map(&dir, header)?;
        if record.is_none() {
            self.remove(id)?;
        }
        Ok(record)
    }

    /// Stores a freshly verified header (and location) and returns its record. If another
    /// process stored it first, its files (and the hashes they already hold) are used.
    pub fn create(&self, header: TxHeader, location: Option<TxLocation>) -> io::Result<TxRecord> {
        let id = header.id;
        let dir = self.tx_dir(&id);
        std::fs::create_dir_all(&dir)?;
        if let Some(loc) = &location {
            let chunks = ChunkLayout::new(loc.data_size).count();
            let map_header = map_header(loc.data_size, loc.end_offset, chunks);
            // A sparse file: records take disk space as chunks are proven.
            create_no_replace(&self.tmp_dir, &dir.join("map.bin"), |file| {
                file.write_all_at(&map_header, 0)?;
                file.set_len(record_offset(chunks))
            })?;
        }
        let json = serde_json::to_vec(&header.to_json()).map_err(io::Error::other)?;
        create_no_replace(&self.tmp_dir, &dir.join("header.json"), |file| {
            file.write_all_at(&json, 0)
        })?;
        match self.load(&id)? {
            Some(record) => Ok(record),
            // What is on disk is not this tx (corrupt): serve from memory this time.
            None => Ok(TxRecord::in_memory(header, location)),
        }
    }

    pub fn list(&self) -> io::Result<Vec<TxId>> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            if let Some(id) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    pub fn remove(&self, id: &TxId) -> io::Result<()> {
        match std::fs::remove_dir_all(self.tx_dir(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Reads `map.bin` for a verified header; `None` when absent or not matching the header.
/// Only small maps are read whole; large ones are read by record when a chunk is wanted.
fn read_map(dir: &Path, header: TxHeader) -> io::Result<Option<TxRecord>> {
    let path = dir.join("map.bin");
    let map = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let layout = ChunkLayout::new(header.data_size);
    let chunks = layout.count();
    let mut head = [0u8; HEADER_LEN as usize];
    if map.metadata()?.len() != record_offset(chunks) || map.read_exact_at(&mut head, 0).is_err() {
        return Ok(None);
    }
    let end_offset = u64::from_le_bytes(head[16..24].try_into().unwrap());
    if head != map_header(header.data_size, end_offset, chunks) {
        return Ok(None);
    }
    let mut hashes = Hashes::new(chunks);
    if let Hashes::Dense(all) = &mut hashes {
        let mut records = vec![0u8; (chunks * RECORD_LEN) as usize];
        map.read_exact_at(&mut records, HEADER_LEN)?;
        for (i, record) in records.chunks_exact(RECORD_LEN as usize).enumerate() {
            all[i] = decode_record(i, record);
        }
    }
    let location = TxLocation {
        id: header.id,
        data_root: header.data_root.expect("format 2 with data has a root"),
        data_size: header.data_size,
        end_offset,
    };
    Ok(Some(TxRecord {
        layout,
        hashes: Mutex::new(hashes),
        header,
        location: Mutex::new(Some(location)),
        map: Some(map),
    }))
}

/// Writes a file under a temporary name, then hard-links it into place: atomic, and an
/// existing file (maybe holding another process's records) is kept, not replaced. The temp
/// file lives in the cache's `tmp/`, named `<pid>-...` like the block store's, so one left by
/// a killed process is swept when the store next opens.
fn create_no_replace(
    tmp_dir: &Path,
    path: &Path,
    fill: impl FnOnce(&File) -> io::Result<()>,
) -> io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let temp = super::temp_file(tmp_dir, "map")?;
    fill(temp.as_file())?;
    match std::fs::hard_link(temp.path(), path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}
