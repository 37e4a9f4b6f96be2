//! Extent files: the whole data of one transaction or data item in one file, byte `n` at
//! offset `n`, so that a frontend can hand the file to the kernel (FUSE passthrough) or read
//! it with one `pread` and no per-page work. See the store's module doc for the design; this
//! module keeps the files, their piece lists and the hash index into them.
//!
//! ```text
//! extents/<id>          the data, read-only, fsynced before it was renamed here
//! extents/<id>.pieces   what it is made of: its root transaction (whose pin keeps it), its
//!                       length, and per piece (a chunk, or the part of one an item holds)
//!                       offset, length, SHA-256 and whether it is a whole chunk; a SHA-256 of
//!                       the list closes it. Written after the data: it commits the extent.
//! ```
//!
//! A whole-chunk piece's SHA-256 is the chunk's proven `data_hash`, so the store can serve that
//! chunk from the extent to anyone who asks for the block by its name (dedup, and the bundle
//! whose item it is); such reads are checked against the name. Reads of the extent as a file
//! are not checked: it was checked when assembled, and is checked again by the scrub.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::block_file::BlockKey;
use super::disk::remove_if_present;
use crate::arweave::TxId;

const MAGIC: &[u8; 8] = b"WDEXTNT1";
/// magic, root, length, piece count.
const HEAD_LEN: usize = 8 + 32 + 8 + 4;
/// offset, length, whole-chunk flag, SHA-256.
const PIECE_LEN: usize = 8 + 4 + 1 + 32;
/// Largest piece: a chunk.
const MAX_PIECE: u32 = 256 * 1024;
/// An extent without its piece list this old is abandoned (an assembly takes seconds).
const ORPHAN_AGE: Duration = Duration::from_secs(3600);
/// A use rewrites an extent's mtime at most this often (its recency across restarts).
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub offset: u64,
    pub len: u32,
    pub hash: BlockKey,
    /// A whole chunk, so `hash` is its proven data_hash (and its block's name).
    pub whole_chunk: bool,
}

/// One committed extent.
#[derive(Debug)]
pub struct Extent {
    pub id: TxId,
    /// The transaction whose pin keeps this extent: `id` itself, or a data item's bundle.
    pub root: TxId,
    pub len: u64,
    pieces: Vec<Piece>,
    path: PathBuf,
    used: Mutex<SystemTime>,
}

impl Extent {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Opens the data file for reading (it stays readable after an eviction unlinks it).
    pub fn open(&self) -> io::Result<File> {
        File::open(&self.path)
    }

    fn last_used(&self) -> SystemTime {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a scrub found of one extent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtentCheck {
    Sound,
    /// Removed: why.
    Corrupt(String),
}

#[derive(Default)]
struct State {
    extents: HashMap<TxId, Arc<Extent>>,
    /// Whole-chunk pieces by hash: which extent, where.
    by_hash: HashMap<BlockKey, (TxId, u64, u32)>,
    bytes: u64,
    /// The directory's mtime at the last scan: a commit by another process changes it.
    scanned: Option<SystemTime>,
}

impl State {
    fn add(&mut self, extent: Arc<Extent>) {
        if self.extents.contains_key(&extent.id) {
            return;
        }
        for p in extent.pieces.iter().filter(|p| p.whole_chunk) {
            self.by_hash.insert(p.hash, (extent.id, p.offset, p.len));
        }
        self.bytes += extent.len;
        self.extents.insert(extent.id, extent);
    }

    fn forget(&mut self, id: &TxId) -> Option<Arc<Extent>> {
        let extent = self.extents.remove(id)?;
        for p in extent.pieces.iter().filter(|p| p.whole_chunk) {
            if self.by_hash.get(&p.hash).is_some_and(|(at, ..)| at == id) {
                self.by_hash.remove(&p.hash);
            }
        }
        self.bytes -= extent.len;
        Some(extent)
    }
}

/// An extent being written (see [`ExtentStore::begin`]): pieces land at their offsets as
/// they come, from any thread; nothing is served from it until [`ExtentStore::commit`].
pub struct ExtentWriter {
    id: TxId,
    root: TxId,
    data: tempfile::NamedTempFile,
    pieces: Mutex<Vec<Piece>>,
}

impl ExtentWriter {
    pub fn id(&self) -> TxId {
        self.id
    }

    /// Writes `bytes` (verified by the caller) at `offset`. `chunk_name`: the bytes are a
    /// whole chunk and this is the SHA-256 the caller checked them against, kept without
    /// hashing again; a partial piece is hashed here.
    pub fn write(&self, offset: u64, bytes: &[u8], chunk_name: Option<BlockKey>) -> io::Result<()> {
        if bytes.len() > MAX_PIECE as usize {
            return Err(io::Error::other("an extent piece larger than a chunk"));
        }
        self.data.as_file().write_all_at(bytes, offset)?;
        // The fsync that commits the extent then waits for its last pieces only.
        super::start_writeback(self.data.as_file(), offset, bytes.len() as u64);
        let piece = Piece {
            offset,
            len: bytes.len() as u32,
            hash: chunk_name.unwrap_or_else(|| Sha256::digest(bytes).into()),
            whole_chunk: chunk_name.is_some(),
        };
        self.pieces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(piece);
        Ok(())
    }

    /// The whole chunks written so far, each with its bytes read back (what an abandoned
    /// extent still holds that is worth keeping as blocks).
    pub fn whole_chunks(&self) -> impl Iterator<Item = io::Result<(BlockKey, Vec<u8>)>> + '_ {
        let pieces: Vec<Piece> = self
            .pieces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|p| p.whole_chunk)
            .copied()
            .collect();
        pieces.into_iter().map(|p| {
            let mut buf = vec![0u8; p.len as usize];
            self.data.as_file().read_exact_at(&mut buf, p.offset)?;
            Ok((p.hash, buf))
        })
    }
}

/// `pieces` in order, once each, if they cover `0..len` with no gap or overlap.
fn contiguous(mut pieces: Vec<Piece>, len: u64) -> io::Result<Vec<Piece>> {
    pieces.sort_by_key(|p| p.offset);
    pieces.dedup();
    let mut end = 0;
    for p in &pieces {
        if p.offset != end {
            return Err(io::Error::other(format!(
                "extent pieces leave a gap or overlap at byte {end}"
            )));
        }
        end += p.len as u64;
    }
    if end != len {
        return Err(io::Error::other(format!(
            "extent pieces cover {end} bytes, not {len}"
        )));
    }
    Ok(pieces)
}

pub struct ExtentStore {
    dir: PathBuf,
    tmp_dir: PathBuf,
    state: Mutex<State>,
}

impl ExtentStore {
    /// Opens `<cache>/extents`, loading every committed extent and removing what a crash
    /// left: piece lists whose data is missing or of the wrong size, and data files without a
    /// piece list older than an hour.
    pub fn open(cache_dir: &Path) -> io::Result<ExtentStore> {
        let store = ExtentStore {
            dir: cache_dir.join("extents"),
            tmp_dir: cache_dir.join("tmp"),
            state: Mutex::default(),
        };
        fs::create_dir_all(&store.dir)?;
        store.scan(true)?;
        Ok(store)
    }

    pub fn bytes(&self) -> u64 {
        self.state().bytes
    }

    pub fn count(&self) -> u64 {
        self.state().extents.len() as u64
    }

    pub fn list(&self) -> Vec<Arc<Extent>> {
        self.rescan_if_changed();
        self.state().extents.values().cloned().collect()
    }

    /// The extent of `id`, noting the use.
    pub fn get(&self, id: &TxId) -> Option<Arc<Extent>> {
        let found = self.state().extents.get(id).cloned();
        let extent = found.or_else(|| {
            self.rescan_if_changed();
            self.state().extents.get(id).cloned()
        })?;
        let now = SystemTime::now();
        let stale = {
            let mut used = extent.used.lock().unwrap_or_else(PoisonError::into_inner);
            let stale = now
                .duration_since(*used)
                .map_or(true, |a| a >= TOUCH_INTERVAL);
            *used = now;
            stale
        };
        if stale && let Ok(file) = File::open(&extent.path) {
            // Best effort: the mtime only orders eviction after a restart.
            let _ = file.set_modified(now);
        }
        Some(extent)
    }

    /// The extent of `id` if this store knows of it (no file system call, no use noted).
    pub fn known(&self, id: &TxId) -> Option<Arc<Extent>> {
        self.state().extents.get(id).cloned()
    }

    /// Whether some extent holds the chunk named `key` whole (looking for other processes'
    /// new extents if `extents/` changed).
    pub fn holds(&self, key: &BlockKey) -> bool {
        self.locate(key).is_some()
    }

    /// [`Self::holds`] as far as this store knows now: no file system call.
    pub fn holds_known(&self, key: &BlockKey) -> bool {
        self.state().by_hash.contains_key(key)
    }

    /// The chunk named `key` read from the extent holding it, checked against its name. An
    /// extent whose bytes fail that check is removed whole (its other chunks are fetched
    /// again). `Ok(None)`: no extent holds it, or it failed.
    pub fn read_chunk(&self, key: &BlockKey) -> io::Result<Option<Vec<u8>>> {
        let Some((id, offset, len)) = self.locate(key) else {
            return Ok(None);
        };
        let Some(extent) = self.state().extents.get(&id).cloned() else {
            return Ok(None);
        };
        let mut buf = vec![0u8; len as usize];
        let read = match extent.open() {
            Ok(file) => file.read_exact_at(&mut buf, offset),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.forget(&id);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if read.is_err() || Sha256::digest(&buf)[..] != key[..] {
            let why = format!("the chunk at {offset} does not match its SHA-256");
            self.drop_corrupt(&extent, &why);
            return Ok(None);
        }
        Ok(Some(buf))
    }

    /// Writes `pieces`, in order, as the extent of `id`: each its bytes, verified by the
    /// caller, and for a whole chunk its name (see [`ExtentWriter::write`]); then commits it
    /// (see [`Self::commit`]).
    pub fn assemble(
        &self,
        id: &TxId,
        root: &TxId,
        pieces: impl IntoIterator<Item = io::Result<(impl AsRef<[u8]>, Option<BlockKey>)>>,
    ) -> io::Result<Arc<Extent>> {
        if let Some(done) = self.get(id) {
            return Ok(done);
        }
        let writer = self.begin(id, root)?;
        let mut len = 0u64;
        for piece in pieces {
            let (bytes, chunk_name) = piece?;
            writer.write(len, bytes.as_ref(), chunk_name)?;
            len += bytes.as_ref().len() as u64;
        }
        self.commit(writer, len)
    }

    /// An extent of `id` to be written piece by piece, in any order (into a temp file: a
    /// kill leaves only that, swept at the next open).
    pub fn begin(&self, id: &TxId, root: &TxId) -> io::Result<ExtentWriter> {
        Ok(ExtentWriter {
            id: *id,
            root: *root,
            data: super::temp_file(&self.tmp_dir, "extent")?,
            pieces: Mutex::default(),
        })
    }

    /// Commits what `writer` wrote as the extent of its id, if its pieces cover exactly
    /// `len` bytes: the data fsynced, made read-only and renamed into place, then its piece
    /// list the same way, which commits it; then the directory is fsynced. A kill at any
    /// point leaves temp files (swept at the next open) or an uncommitted data file (ignored,
    /// swept after an hour), never a committed extent that is not whole.
    pub fn commit(&self, writer: ExtentWriter, len: u64) -> io::Result<Arc<Extent>> {
        let ExtentWriter {
            id,
            root,
            data,
            pieces,
        } = writer;
        let list = contiguous(
            pieces.into_inner().unwrap_or_else(PoisonError::into_inner),
            len,
        )?;
        data.as_file().sync_all()?;
        data.as_file()
            .set_permissions(fs::Permissions::from_mode(0o444))?;
        let path = self.data_path(&id);
        data.persist(&path).map_err(|e| e.error)?;
        let mut index = super::temp_file(&self.tmp_dir, "extent-pieces")?;
        index
            .as_file_mut()
            .write_all(&encode_pieces(&root, len, &list))?;
        index.as_file().sync_all()?;
        index.persist(self.pieces_path(&id)).map_err(|e| e.error)?;
        File::open(&self.dir)?.sync_all()?;
        let extent = Arc::new(Extent {
            id,
            root,
            len,
            pieces: list,
            path,
            used: Mutex::new(SystemTime::now()),
        });
        self.state().add(extent.clone());
        Ok(extent)
    }

    /// Re-reads the extent and checks every piece against its SHA-256; one that fails is
    /// removed.
    pub fn scrub(&self, extent: &Extent) -> io::Result<ExtentCheck> {
        let file = match extent.open() {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.forget(&extent.id);
                return Ok(ExtentCheck::Sound);
            }
            Err(e) => return Err(e),
        };
        let size = file.metadata()?.len();
        let why = if size != extent.len {
            Some(format!("{size} bytes, not {}", extent.len))
        } else {
            let mut buf = vec![0u8; MAX_PIECE as usize];
            extent.pieces.iter().find_map(|p| {
                let buf = &mut buf[..p.len as usize];
                match file.read_exact_at(buf, p.offset) {
                    Ok(()) if Sha256::digest(&*buf)[..] == p.hash[..] => None,
                    Ok(()) => Some(format!(
                        "bytes {}..{} do not match their SHA-256",
                        p.offset,
                        p.offset + p.len as u64
                    )),
                    Err(e) => Some(format!("reading at {}: {e}", p.offset)),
                }
            })
        };
        Ok(match why {
            Some(why) => {
                self.drop_corrupt(extent, &why);
                ExtentCheck::Corrupt(why)
            }
            None => ExtentCheck::Sound,
        })
    }

    /// Deletes the extent of `id` (its piece list first: uncommitted at once).
    pub fn remove(&self, id: &TxId) -> io::Result<Option<u64>> {
        let gone = self.forget(id).map(|e| e.len);
        remove_if_present(&self.pieces_path(id))?;
        remove_if_present(&self.data_path(id))?;
        Ok(gone)
    }

    /// The least recently used extent whose root `keep` does not keep, and when it was used.
    pub fn least_recently_used(&self, keep: impl Fn(&TxId) -> bool) -> Option<(TxId, SystemTime)> {
        self.state()
            .extents
            .values()
            .filter(|e| !keep(&e.root))
            .map(|e| (e.id, e.last_used()))
            .min_by_key(|(_, used)| *used)
    }

    fn locate(&self, key: &BlockKey) -> Option<(TxId, u64, u32)> {
        if let Some(found) = self.state().by_hash.get(key) {
            return Some(*found);
        }
        self.rescan_if_changed();
        self.state().by_hash.get(key).copied()
    }

    fn drop_corrupt(&self, extent: &Extent, why: &str) {
        tracing::warn!(id = %extent.id, "dropping corrupt extent: {why}");
        if let Err(e) = self.remove(&extent.id) {
            tracing::warn!(id = %extent.id, "removing corrupt extent: {e}");
        }
    }

    fn forget(&self, id: &TxId) -> Option<Arc<Extent>> {
        self.state().forget(id)
    }

    fn rescan_if_changed(&self) {
        let mtime = fs::metadata(&self.dir).and_then(|m| m.modified()).ok();
        if mtime.is_some()
            && mtime != self.state().scanned
            && let Err(e) = self.scan(false)
        {
            tracing::warn!("scanning extents: {e}");
        }
    }

    /// Loads committed extents not known yet; at open (`sweep`) also removes what a crash
    /// left. Extents another process removed are forgotten.
    fn scan(&self, sweep: bool) -> io::Result<()> {
        let scanned = fs::metadata(&self.dir)?.modified().ok();
        let mut found = Vec::new();
        let mut seen = Vec::new();
        for entry in fs::read_dir(&self.dir)?.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".pieces") {
                let Ok(id) = stem.parse::<TxId>() else {
                    continue;
                };
                seen.push(id);
                if self.state().extents.contains_key(&id) {
                    continue;
                }
                match self.load(&id) {
                    Ok(extent) => found.push(Arc::new(extent)),
                    Err(why) => {
                        tracing::warn!(%id, "dropping an extent: {why}");
                        if sweep {
                            let _ = remove_if_present(&self.pieces_path(&id));
                            let _ = remove_if_present(&self.data_path(&id));
                        }
                    }
                }
            } else if sweep
                && name.parse::<TxId>().is_ok()
                && !self.dir.join(format!("{name}.pieces")).exists()
                && is_older_than(&entry, ORPHAN_AGE)
            {
                let _ = remove_if_present(&entry.path());
            }
        }
        let mut state = self.state();
        let gone: Vec<TxId> = state
            .extents
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            state.forget(&id);
        }
        found.into_iter().for_each(|e| state.add(e));
        state.scanned = scanned;
        Ok(())
    }

    fn load(&self, id: &TxId) -> Result<Extent, String> {
        let raw = fs::read(self.pieces_path(id)).map_err(|e| format!("its piece list: {e}"))?;
        let (root, len, pieces) = decode_pieces(&raw)?;
        let path = self.data_path(id);
        let meta = fs::metadata(&path).map_err(|e| format!("its data: {e}"))?;
        if meta.len() != len {
            return Err(format!("its data is {} bytes, not {len}", meta.len()));
        }
        Ok(Extent {
            id: *id,
            root,
            len,
            pieces,
            path,
            used: Mutex::new(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)),
        })
    }

    fn data_path(&self, id: &TxId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    fn pieces_path(&self, id: &TxId) -> PathBuf {
        self.dir.join(format!("{id}.pieces"))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn encode_pieces(root: &TxId, len: u64, pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD_LEN + pieces.len() * PIECE_LEN + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&root.0);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(pieces.len() as u32).to_le_bytes());
    for p in pieces {
        out.extend_from_slice(&p.offset.to_le_bytes());
        out.extend_from_slice(&p.len.to_le_bytes());
        out.push(p.whole_chunk as u8);
        out.extend_from_slice(&p.hash);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Parses a piece list, refusing anything torn or inconsistent: pieces must tile `0..len`.
fn decode_pieces(raw: &[u8]) -> Result<(TxId, u64, Vec<Piece>), String> {
    let torn = || "its piece list is torn or corrupt".to_string();
    if raw.len() < HEAD_LEN + 32 || &raw[..8] != MAGIC {
        return Err(torn());
    }
    let (body, sum) = raw.split_at(raw.len() - 32);
    if Sha256::digest(body)[..] != sum[..] {
        return Err(torn());
    }
    let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
    let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
    let root = TxId(body[8..40].try_into().expect("32 bytes"));
    let len = u64_at(40);
    let count = u32_at(48) as usize;
    if body.len() != HEAD_LEN + count * PIECE_LEN {
        return Err(torn());
    }
    let mut pieces = Vec::with_capacity(count);
    let mut next = 0u64;
    for i in 0..count {
        let at = HEAD_LEN + i * PIECE_LEN;
        let piece = Piece {
            offset: u64_at(at),
            len: u32_at(at + 8),
            whole_chunk: body[at + 12] == 1,
            hash: body[at + 13..at + 45].try_into().expect("32 bytes"),
        };
        if piece.offset != next || piece.len == 0 || piece.len > MAX_PIECE {
            return Err("its pieces do not tile its data".into());
        }
        next += piece.len as u64;
        pieces.push(piece);
    }
    if next != len {
        return Err("its pieces do not tile its data".into());
    }
    Ok((root, len, pieces))
}

fn is_older_than(entry: &fs::DirEntry, age: Duration) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| SystemTime::now().duration_since(t).is_ok_and(|a| a > age))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TxId {
        TxId([n; 32])
    }

    fn chunk(n: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7) ^ n).collect()
    }

    fn key(bytes: &[u8]) -> BlockKey {
        Sha256::digest(bytes).into()
    }

    #[test]
    fn assembled_extents_serve_their_chunks_by_name_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExtentStore::open(dir.path()).unwrap();
        let (a, b, edge) = (chunk(1, 262144), chunk(2, 262144), chunk(3, 1000));
        let pieces = [
            (a.clone(), Some(key(&a))),
            (b.clone(), Some(key(&b))),
            (edge.clone(), None),
        ];
        let extent = store.assemble(&id(9), &id(8), pieces.map(Ok)).unwrap();
        assert_eq!(extent.len, 262144 * 2 + 1000);
        assert_eq!(
            fs::read(extent.path()).unwrap(),
            [a.clone(), b.clone(), edge.clone()].concat()
        );
        assert_eq!(store.read_chunk(&key(&b)).unwrap(), Some(b.clone()));
        assert!(
            !store.holds(&key(&edge)),
            "only whole chunks are served by name"
        );

        let reopened = ExtentStore::open(dir.path()).unwrap();
        assert_eq!(reopened.bytes(), extent.len);
        assert_eq!(reopened.get(&id(9)).unwrap().root, id(8));
        assert_eq!(reopened.read_chunk(&key(&a)).unwrap(), Some(a));
        assert_eq!(
            reopened.scrub(&reopened.get(&id(9)).unwrap()).unwrap(),
            ExtentCheck::Sound
        );
    }

    #[test]
    fn a_corrupt_byte_is_caught_by_a_read_by_name_and_by_the_scrub() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExtentStore::open(dir.path()).unwrap();
        let (a, b) = (chunk(1, 4096), chunk(2, 4096));
        let assemble = || {
            let pieces = [
                Ok((a.clone(), Some(key(&a)))),
                Ok((b.clone(), Some(key(&b)))),
            ];
            store.assemble(&id(1), &id(1), pieces).unwrap()
        };
        let flip = |extent: &Extent, at: u64| {
            let mut bytes = fs::read(extent.path()).unwrap();
            bytes[at as usize] ^= 1;
            fs::set_permissions(extent.path(), fs::Permissions::from_mode(0o644)).unwrap();
            fs::write(extent.path(), bytes).unwrap();
        };
        let extent = assemble();
        flip(&extent, 5000);
        assert_eq!(store.read_chunk(&key(&b)).unwrap(), None);
        assert!(store.get(&id(1)).is_none(), "the whole extent is dropped");
        assert!(!extent.path().exists());

        let extent = assemble();
        flip(&extent, 10);
        let found = store.scrub(&extent).unwrap();
        assert!(
            matches!(found, ExtentCheck::Corrupt(ref why) if why.contains("0..4096")),
            "{found:?}"
        );
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn a_failed_assembly_commits_nothing_and_uncommitted_data_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExtentStore::open(dir.path()).unwrap();
        let pieces = [
            Ok((chunk(1, 100), None)),
            Err(io::Error::other("chunk gone")),
        ];
        assert!(store.assemble(&id(2), &id(2), pieces).is_err());
        assert!(store.get(&id(2)).is_none());
        assert_eq!(fs::read_dir(dir.path().join("extents")).unwrap().count(), 0);

        // A data file renamed into place by a writer killed before its piece list.
        fs::write(dir.path().join("extents").join(id(3).to_string()), b"half").unwrap();
        let reopened = ExtentStore::open(dir.path()).unwrap();
        assert!(reopened.get(&id(3)).is_none());
        assert_eq!(reopened.count(), 0);
    }

    #[test]
    fn torn_or_inconsistent_piece_lists_are_refused() {
        let piece = |offset, len| Piece {
            offset,
            len,
            hash: [0; 32],
            whole_chunk: true,
        };
        let good = encode_pieces(&id(1), 30, &[piece(0, 10), piece(10, 20)]);
        assert!(decode_pieces(&good).is_ok());
        assert!(decode_pieces(&good[..good.len() - 1]).is_err());
        let mut flipped = good.clone();
        flipped[50] ^= 1;
        assert!(decode_pieces(&flipped).is_err());
        for bad in [
            encode_pieces(&id(1), 30, &[piece(0, 10), piece(11, 19)]),
            encode_pieces(&id(1), 31, &[piece(0, 10), piece(10, 20)]),
            encode_pieces(&id(1), 0, &[piece(0, 0)]),
        ] {
            assert!(decode_pieces(&bad).is_err());
        }
    }

    #[test]
    fn another_stores_commit_and_removal_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (
            ExtentStore::open(dir.path()).unwrap(),
            ExtentStore::open(dir.path()).unwrap(),
        );
        let a = chunk(5, 2048);
        one.assemble(&id(4), &id(4), [Ok((a.clone(), Some(key(&a))))])
            .unwrap();
        assert_eq!(two.read_chunk(&key(&a)).unwrap(), Some(a.clone()));
        // Removed by the first: the second learns it when it next reads there.
        one.remove(&id(4)).unwrap();
        assert_eq!(two.read_chunk(&key(&a)).unwrap(), None);
        assert_eq!(two.count(), 0);
    }

    #[test]
    fn pieces_written_out_of_order_commit_only_when_they_cover_the_extent() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExtentStore::open(dir.path()).unwrap();
        let (a, b, c) = (chunk(1, 4096), chunk(2, 4096), chunk(3, 100));
        let writer = store.begin(&id(1), &id(1)).unwrap();
        writer.write(8192, &c, None).unwrap();
        writer.write(0, &a, Some(key(&a))).unwrap();
        let gap = store.commit(writer, 8292).unwrap_err();
        assert!(gap.to_string().contains("gap"), "{gap}");
        assert!(store.get(&id(1)).is_none(), "nothing committed");

        let writer = store.begin(&id(1), &id(1)).unwrap();
        writer.write(4096, &b, Some(key(&b))).unwrap();
        writer.write(8192, &c, None).unwrap();
        writer.write(0, &a, Some(key(&a))).unwrap();
        let kept: Vec<_> = writer.whole_chunks().map(Result::unwrap).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept.contains(&(key(&b), b.clone())));
        let short = store.begin(&id(2), &id(2)).unwrap();
        short.write(0, &a, Some(key(&a))).unwrap();
        assert!(
            store.commit(short, 8192).is_err(),
            "a short extent committed"
        );
        let extent = store.commit(writer, 8292).unwrap();
        assert_eq!(
            fs::read(extent.path()).unwrap(),
            [&a[..], &b[..], &c[..]].concat()
        );
        assert_eq!(store.read_chunk(&key(&b)).unwrap(), Some(b.clone()));
        assert_eq!(store.scrub(&extent).unwrap(), ExtentCheck::Sound);
    }
}
