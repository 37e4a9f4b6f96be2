//! An open transaction or data item, with sequential read-ahead (see `prefetch/window.rs`).
//! Every read goes through the Drive's one read core (`read.rs`); the variants here differ
//! only in where the bytes go.
//!
//! A data item's first read waits for its signature check over all of its data (`item/`):
//! every read goes through [`FileHandle::ready`] before any byte leaves.
//!
//! A file whose extent is committed (`extent.rs`) reads from that one file instead: one
//! `pread` per read, no read core, no read-ahead (the kernel's does); a handle opened before
//! its extent was committed switches to it. A handle closed with all of its chunks on disk
//! and no extent yet starts one.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;

use super::extent::{ExtentFile, extent_read_failed};
use super::prefetch::Window;
use super::read::{Owned, Reused, Slice};
use super::span::Span;
use super::{Drive, DriveError};
use crate::arweave::TxId;
use crate::metrics::ByteSource;

pub struct FileHandle {
    drive: Drive,
    span: Span,
    window: Window,
    extent: OnceLock<ExtentFile>,
}

impl Drop for FileHandle {
    fn drop(&mut self) {
        self.drive.inner.metrics.handle_closed();
        if self.extent.get().is_none() {
            self.drive.assemble_in_background(&self.span);
        }
    }
}

impl FileHandle {
    pub(super) fn new(drive: Drive, span: Span) -> Self {
        drive.inner.metrics.handle_opened();
        let extent = OnceLock::new();
        if let Some(file) = drive.open_extent(&span, false) {
            let _ = extent.set(file);
        }
        FileHandle {
            extent,
            drive,
            span,
            window: Window::default(),
        }
    }

    /// The extent file this handle reads, if it had one when opened: a frontend may hand it
    /// to the kernel (FUSE passthrough). Its bytes were verified when it was assembled.
    pub fn extent_file(&self) -> Option<&std::fs::File> {
        self.extent.get().map(|e| &*e.file)
    }

    /// The extent this handle reads: the one it was opened with, or one committed since.
    fn extent(&self) -> Option<&ExtentFile> {
        if let Some(extent) = self.extent.get() {
            return Some(extent);
        }
        let file = self.drive.open_extent(&self.span, true)?;
        Some(self.extent.get_or_init(|| file))
    }

    /// Waits until this file's bytes may be served (a data item: its signature checked over
    /// all of its data, fetching what it must; this can take as long as reading it all).
    pub async fn ready(&self) -> Result<(), DriveError> {
        self.drive.ready(&self.span).await
    }

    /// Whether the next read waits for a data item's signature check (not done yet).
    pub fn waits_for_check(&self) -> bool {
        self.span
            .item
            .as_ref()
            .is_some_and(|item| item.needs_check())
    }

    /// [`Self::ready`] for threads outside the runtime; cheap once the check is done.
    pub fn ready_blocking(&self) -> Result<(), DriveError> {
        match &self.span.item {
            Some(item) if item.needs_check() => self.drive.runtime()?.block_on(self.ready()),
            Some(item) => item.usable(),
            None => Ok(()),
        }
    }

    pub fn id(&self) -> TxId {
        self.span.id()
    }

    pub fn size(&self) -> u64 {
        self.span.len
    }

    /// Bytes from `offset` to the end of the block holding it (at least 1 before the end):
    /// a read of that many, once the block is in memory, is a slice of it, with no copy.
    pub fn block_remaining(&self, offset: u64) -> u64 {
        let tx = &self.span.tx;
        let at = self.span.start + offset.min(self.span.len);
        let end = match at < tx.size() && tx.is_chunked() {
            true => tx.chunk_range(tx.chunk_index(at)).end,
            false => tx.size(),
        };
        (end - at).clamp(1, self.span.len.saturating_sub(offset).max(1))
    }

    pub async fn read_at(&self, offset: u64, len: u64) -> Result<Bytes, DriveError> {
        self.ready().await?;
        if let Some((file, at, n)) = self.extent_range(offset, len)? {
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; n];
                file.read_into(at, &mut buf).map(|()| Bytes::from(buf))
            })
            .await
            .map_err(std::io::Error::other)?;
            match read {
                Ok(bytes) => return Ok(bytes),
                Err(e) => extent_read_failed(self.id(), &e),
            }
        }
        let (at, len) = self.begin(offset, len)?;
        self.drive.read_tx(&self.span.tx, at, len).await
    }

    /// `read_at` for threads outside the runtime (FUSE workers, WASI host calls): cached data
    /// is read on the calling thread with no runtime hop. Must not be called on a runtime
    /// thread.
    pub fn read_at_blocking(&self, offset: u64, len: u64) -> Result<Bytes, DriveError> {
        self.ready_blocking()?;
        let mut buf = Vec::new();
        if let Some(n) = self.read_extent(offset, len, &mut buf)? {
            buf.truncate(n);
            return Ok(Bytes::from(buf));
        }
        let (at, len) = self.begin(offset, len)?;
        self.drive
            .read_blocking(&self.span.tx, at, len, Owned::default())
    }

    /// `read_at_blocking` handing the bytes to `consume` (e.g. a FUSE reply) without copying
    /// them when the memory tier holds them in one block; otherwise they are read into `buf`,
    /// which is reused across calls.
    pub fn read_at_blocking_with<R>(
        &self,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
        consume: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, DriveError> {
        self.ready_blocking()?;
        if let Some(n) = self.read_extent(offset, len, buf)? {
            return Ok(consume(&buf[..n]));
        }
        let (at, len) = self.begin(offset, len)?;
        self.drive
            .read_blocking(&self.span.tx, at, len, Reused(buf, consume))
    }

    /// `read_at_blocking` straight into `out` (a frontend's buffer, a wasm guest's memory):
    /// fills `out[..n]` and returns `n`, which is short only at the end of the data. Missing
    /// chunks of a large read are fetched in parallel; from an extent, a large read is
    /// split across threads.
    pub fn read_into_blocking(&self, offset: u64, out: &mut [u8]) -> Result<usize, DriveError> {
        self.ready_blocking()?;
        if let Some((file, at, n)) = self.extent_range(offset, out.len() as u64)? {
            match file.read_into(at, &mut out[..n]) {
                Ok(()) => return Ok(n),
                Err(e) => extent_read_failed(self.id(), &e),
            }
        }
        let (at, len) = self.begin(offset, out.len() as u64)?;
        let out = &mut out[..len as usize];
        self.drive.read_blocking(&self.span.tx, at, len, Slice(out))
    }

    /// Where a read of `len` bytes at `offset` lies in this handle's extent (cut at the
    /// end), if it has one: the extent, the offset in it and the length.
    fn extent_range(
        &self,
        offset: u64,
        len: u64,
    ) -> Result<Option<(ExtentFile, u64, usize)>, DriveError> {
        let Some(extent) = self.extent() else {
            return Ok(None);
        };
        // `locate` refuses what may not be served (an item that failed its check).
        let (at, n) = self.span.locate(offset, len)?;
        self.drive.inner.metrics.served(ByteSource::Disk, n);
        Ok(Some((extent.clone(), at - self.span.start, n as usize)))
    }

    /// A read from the extent into `buf` (grown as needed): `Some(n)` bytes, or `None`
    /// when there is no extent or reading it failed (then blocks serve the read).
    fn read_extent(
        &self,
        offset: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Option<usize>, DriveError> {
        let Some((file, at, n)) = self.extent_range(offset, len)? else {
            return Ok(None);
        };
        if buf.len() < n {
            buf.resize(n, 0);
        }
        match file.read_into(at, &mut buf[..n]) {
            Ok(()) => Ok(Some(n)),
            Err(e) => {
                extent_read_failed(self.id(), &e);
                Ok(None)
            }
        }
    }

    /// Starts fetching `range` in the background (a reader's hint that it will need it).
    pub fn prefetch(&self, range: Range<u64>) {
        self.drive.prefetch(&self.span.tx, self.span.to_tx(range));
    }

    /// Where a read of `len` bytes at `offset` lies in the transaction's data (cut at the
    /// end), once the bytes may be served; the read-ahead window notes it.
    fn begin(&self, offset: u64, len: u64) -> Result<(u64, u64), DriveError> {
        let (at, len) = self.span.locate(offset, len)?;
        self.window.observe(&self.drive, &self.span, offset, len);
        Ok((at, len))
    }
}
