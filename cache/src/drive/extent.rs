//! Extents on the Drive: when a transaction or data item gets one (every chunk of it on disk,
//! verified; an item's signature checked too), and how an open file reads it. The files
//! themselves are the store's (`store/extents.rs`; the design is in the store's module doc).

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::span::Span;
use super::{Drive, blocking};
use crate::store::BlockKey;

/// Smaller files get no extent: a few blocks cost little to read, and every extent is one
/// more file to keep.
pub const EXTENT_MIN_BYTES: u64 = 1 << 20;
/// Reads at least this large are split across threads (an SSD's queue, or the page cache's
/// copy, is then busy from several cores).
const PARALLEL_READ_MIN: usize = 8 << 20;
const PARALLEL_READS: usize = 4;

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
        let part = out.len().div_ceil(PARALLEL_READS);
        std::thread::scope(|scope| {
            let reads: Vec<_> = out
                .chunks_mut(part)
                .enumerate()
                .map(|(i, buf)| {
                    let at = offset + (i * part) as u64;
                    scope.spawn(move || self.file.read_exact_at(buf, at))
                })
                .collect();
            reads
                .into_iter()
                .try_for_each(|r| r.join().expect("a read thread panicked"))
        })
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

/// A read of an extent failed: the handle's reads go back to blocks.
pub(super) fn extent_read_failed(id: impl std::fmt::Display, e: &std::io::Error) {
    tracing::warn!(%id, error = %e, "reading an extent failed: reading blocks instead");
}
