//! Extents on the Drive: when a transaction or data item gets one (every chunk of it on disk,
//! verified; an item's signature checked too), and how an open file reads it. The files
//! themselves are the store's (`store/extents.rs`; the design is in the store's module doc).

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{PoisonError, RwLock};

use bytes::Bytes;

use super::read::Prepared;
use super::span::Span;
use super::{Drive, DriveError, blocking};
use crate::store::{BlockKey, ExtentWriter};

/// Smaller files get no extent: a few blocks cost little to read, and every extent is one
/// more file to keep.
pub const EXTENT_MIN_BYTES: u64 = 1 << 20;
/// Reads at least this large are split in halves read on rayon's threads (the page cache's
/// copy, or an SSD's queue, is then busy from every core), down to pieces of at least half
/// this: a pool's hand-off costs microseconds, a 1 MiB copy tens of them.
const PARALLEL_READ_MIN: usize = 1 << 20;

/// An open extent: what a file handle reads its bytes from, once it has one.
#[derive(Clone)]
pub struct ExtentFile {
    pub file: Arc<File>,
}

impl ExtentFile {
    /// Fills `out` from `offset`: the extent's length was checked when it was committed, so a
    /// short read means the file was cut since, and is an error, never a short answer.
    pub fn read_into(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        if out.len() < PARALLEL_READ_MIN {
            return self.file.read_exact_at(out, offset);
        }
        let half = (out.len() / 2).next_multiple_of(4096);
        let (first, second) = out.split_at_mut(half);
        let (a, b) = rayon::join(
            || self.read_into(offset, first),
            || self.read_into(offset + half as u64, second),
        );
        a.and(b)
    }
}

impl Drive {
    /// The extent of what `span` names, opened, if one is committed and whole. `known_only`:
    /// only if this process knows of it already (no file system call unless it does: what a
    /// read asks).
    pub(super) fn open_extent(&self, span: &Span, known_only: bool) -> Option<ExtentFile> {
        if !self.inner.config.extents {
            return None;
        }
        let disk = self.inner.disk.as_ref()?;
        let extent = match known_only {
            true => disk.extents().known(&span.id())?,
            false => disk.extent(&span.id())?,
        };
        if extent.len != span.len {
            tracing::warn!(id = %span.id(), "an extent of the wrong length: not used");
            return None;
        }
        match extent.open() {
            Ok(file) => Some(ExtentFile {
                file: Arc::new(file),
            }),
            Err(e) => {
                tracing::debug!(id = %span.id(), error = %e, "extent gone: reading blocks");
                None
            }
        }
    }

    /// Assembles the extent of `span` now, if it may have one (see [`Self::parts`]); errors
    /// are logged, not returned: the blocks still serve every read.
    pub(super) async fn assemble(&self, span: &Span) {
        let Some(parts) = self.parts(span) else {
            return;
        };
        let (disk, id, root) = (self.inner.disk.clone(), span.id(), span.tx.id());
        let Some(disk) = disk else { return };
        if !self.inner.assembling.lock().unwrap().insert(id) {
            return;
        }
        let made = blocking(move || disk.assemble_extent(&id, &root, &parts)).await;
        self.inner.assembling.lock().unwrap().remove(&id);
        match made {
            Ok(extent) => tracing::debug!(%id, bytes = extent.len, "extent assembled"),
            Err(e) => tracing::info!(%id, error = %e, "no extent assembled"),
        }
    }

    /// Assembles the extent of `span` in the background, if every chunk of it is on disk
    /// (what a file handle does when it is closed: assembling beside a reader would compete
    /// with it for the disk).
    pub(super) fn assemble_in_background(&self, span: &Span) {
        if !self.fully_on_disk(span) {
            return;
        }
        let Ok(runtime) = self.runtime() else { return };
        let (drive, span) = (self.clone(), span.clone());
        runtime.spawn(async move { drive.assemble(&span).await });
    }

    /// Whether every chunk of `span` is on disk as far as this process knows (no I/O).
    fn fully_on_disk(&self, span: &Span) -> bool {
        let Some(disk) = &self.inner.disk else {
            return false;
        };
        self.may_have_extent(span)
            && span
                .chunks()
                .all(|i| span.tx.known_hash(i).is_some_and(|h| disk.indexed(&h)))
    }

    /// Extents are for large files whose bytes may be served: a transaction's, or a data
    /// item's once its signature has been checked. One may take at most half the disk
    /// budget: while it is assembled, its blocks are still there too.
    fn may_have_extent(&self, span: &Span) -> bool {
        self.inner.config.extents
            && span.len >= EXTENT_MIN_BYTES
            && span.tx.is_chunked()
            && span.item.as_ref().is_none_or(|item| {
                item.usable().is_ok() && !item.needs_check() && item.servable().is_ok()
            })
            && self
                .inner
                .disk
                .as_ref()
                .is_some_and(|d| span.len <= d.budget() / 2)
    }

    /// The blocks `span`'s extent is made of, in order, and the part of each it holds.
    fn parts(&self, span: &Span) -> Option<Vec<(BlockKey, Range<usize>)>> {
        if !self.may_have_extent(span) {
            return None;
        }
        let end = span.start + span.len;
        span.chunks()
            .map(|i| {
                let r = span.tx.chunk_range(i);
                let from = span.start.max(r.start) - r.start;
                let to = end.min(r.end) - r.start;
                Some((span.tx.known_hash(i)?, from as usize..to as usize))
            })
            .collect()
    }
}

/// An extent filled as a whole read of its span in order goes (`get`): each chunk written
/// at its place once proven, and the whole chunks fetched for it never become block files
/// (one file written instead of one per chunk, and no assembly after). Committed when the
/// read completes; otherwise what it got is kept as blocks.
pub(super) struct Filling {
    span: Span,
    /// Taken out by [`Drive::finish_filling`]; writes hold it shared (they run in parallel).
    writer: RwLock<Option<ExtentWriter>>,
    failed: AtomicBool,
}

impl Filling {
    /// Whether the span holds chunk `index` whole (then its bytes need no block file).
    pub fn holds_whole(&self, index: usize) -> bool {
        let r = self.span.tx.chunk_range(index);
        r.start >= self.span.start && r.end <= self.span.start + self.span.len
    }

    /// Writes `bytes`, verified, found at byte `at` of the transaction's data (within one
    /// chunk) at their place in the extent; a whole chunk under its proven name.
    fn write(&self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        let tx = &self.span.tx;
        let index = tx.chunk_index(at);
        let range = tx.chunk_range(index);
        let whole = at == range.start && bytes.len() as u64 == range.end - range.start;
        let name = whole.then(|| tx.known_hash(index)).flatten();
        match &*self.writer.read().unwrap_or_else(PoisonError::into_inner) {
            Some(writer) => writer.write(at - self.span.start, bytes, name),
            None => Ok(()),
        }
    }
}

impl Drive {
    /// An extent to fill while all of `span` is read, if it may have one, has none yet, and
    /// none is being made here.
    pub(super) fn begin_filling(&self, span: &Span) -> Option<Arc<Filling>> {
        let disk = self.inner.disk.as_ref()?;
        if !self.may_have_extent(span) || disk.extent(&span.id()).is_some() {
            return None;
        }
        if !self.inner.assembling.lock().unwrap().insert(span.id()) {
            return None;
        }
        match disk.begin_extent(&span.id(), &span.tx.id()) {
            Ok(writer) => Some(Arc::new(Filling {
                span: span.clone(),
                writer: RwLock::new(Some(writer)),
                failed: AtomicBool::new(false),
            })),
            Err(e) => {
                self.inner.assembling.lock().unwrap().remove(&span.id());
                self.disk_write_failed(&e, "could not start an extent; keeping blocks");
                None
            }
        }
    }

    /// Chunk `index` of the span being filled, from memory, disk or the network (a chunk the
    /// span holds whole is fetched without a block file), its part written into the extent.
    /// Returns that part.
    pub(super) async fn fill_chunk(
        &self,
        filling: &Arc<Filling>,
        index: usize,
    ) -> Result<Bytes, DriveError> {
        let span = &filling.span;
        let tx = &span.tx;
        let range = tx.chunk_range(index);
        let from = range.start.max(span.start);
        let to = range.end.min(span.start + span.len);
        let bytes = match self.prepare(tx, from, to - from) {
            Prepared::Done(bytes) => bytes,
            Prepared::Plan(_) if filling.holds_whole(index) && !self.on_disk(tx, index) => {
                self.fetch_unstored(tx, index).await?
            }
            Prepared::Plan(_) => self.read_tx(tx, from, to - from).await?,
        };
        self.write_filling(filling, from, bytes.clone()).await;
        Ok(bytes)
    }

    /// Writes `bytes` (verified) found at byte `at` of the data into the extent. A failed
    /// write is a disk error like a block's: counted, and the extent abandoned.
    async fn write_filling(&self, filling: &Arc<Filling>, at: u64, bytes: Bytes) {
        if filling.failed.load(Relaxed) {
            return;
        }
        let writing = filling.clone();
        let written = tokio::task::spawn_blocking(move || writing.write(at, &bytes)).await;
        if let Err(e) = written.map_err(std::io::Error::other).and_then(|r| r) {
            filling.failed.store(true, Relaxed);
            self.disk_write_failed(&e, "could not write an extent; keeping blocks");
        }
    }

    /// Commits the extent if the read `completed` and every write went in; otherwise keeps
    /// the whole chunks it got as blocks. Either way the chunk map on disk then names every
    /// chunk proven for it.
    pub(super) async fn finish_filling(&self, filling: Arc<Filling>, completed: bool) {
        let Some(disk) = self.inner.disk.clone() else {
            return;
        };
        let span = filling.span.clone();
        let id = span.id();
        let commit = completed && !filling.failed.load(Relaxed);
        let done = blocking(move || {
            // Waits for writes still running (a failed read may leave some behind it).
            let writer = filling
                .writer
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            let Some(writer) = writer else {
                return Ok(());
            };
            match commit {
                true => {
                    let extent = disk.commit_extent(writer, span.len)?;
                    tracing::debug!(%id, bytes = extent.len, "extent filled");
                }
                false => {
                    let kept = disk.abandon_extent(writer);
                    tracing::debug!(%id, kept, "extent not completed: its chunks kept as blocks");
                }
            }
            span.chunks().try_for_each(|i| span.tx.persist_hash(i))
        })
        .await;
        self.inner.assembling.lock().unwrap().remove(&id);
        if let Err(e) = done {
            tracing::info!(%id, error = %e, "no extent filled");
        }
    }
}

/// A read of an extent failed: the handle's reads go back to blocks.
pub(super) fn extent_read_failed(id: impl std::fmt::Display, e: &std::io::Error) {
    tracing::warn!(%id, error = %e, "reading an extent failed: reading blocks instead");
}
