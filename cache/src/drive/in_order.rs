//! Whole transactions and data items read in order, for `get`: through the same verified,
//! cached read path as the mount (memory, then disk, then gateways, each chunk proven and
//! kept), one block per read so each is the cached block itself, many blocks in flight so a
//! cold read keeps the gateways busy (in a window twice that long, so one slow block holds
//! back the writing, not the requests), and no more than the window in memory however large
//! the data (what is fetched goes to the disk tier, not the memory tier, as a preload's
//! does: into the extent itself when the data may have one, see `extent.rs`'s `Filling`).

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::item::SignatureCheck;
use super::read::Prepared;
use super::span::Span;
use super::{Drive, DriveError};
use crate::arweave::TxId;
use crate::store::txmap::TxRecord;

/// What [`Drive::read_in_order`] will do for an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InOrderRead {
    pub size: u64,
    pub data_item: bool,
    /// The bytes it hands over are good only once it returns `Ok`: a data item whose
    /// signature is not checked yet (it is checked over those very bytes as they pass). A
    /// caller must hold them (a temporary file) until then. Everything else (a
    /// transaction, an item already checked) is verified as it goes, block by block.
    pub must_be_held: bool,
}

impl Drive {
    /// What reading `id` in order means (see [`InOrderRead`]).
    pub async fn in_order_read(&self, id: &TxId) -> Result<InOrderRead, DriveError> {
        let span = self.span(id).await?;
        span.usable()?;
        Ok(InOrderRead {
            size: span.len,
            data_item: span.item.is_some(),
            must_be_held: span
                .item
                .is_some_and(|item| item.signature() == SignatureCheck::Pending),
        })
    }

    /// Writes all of `id`'s data, verified, in order into `out`, up to `reads_ahead` blocks
    /// (chunks, 256 KiB) read at once; returns its size. `progress` sees `(bytes done,
    /// total)`. What comes from the network is cached as any read's is. A data item not yet
    /// checked has its signature checked over the bytes as they pass: see
    /// [`InOrderRead::must_be_held`].
    pub async fn read_in_order<W: AsyncWrite + Unpin>(
        &self,
        id: &TxId,
        out: &mut W,
        reads_ahead: usize,
        progress: impl FnMut(u64, u64),
    ) -> Result<u64, DriveError> {
        let span = self.span(id).await?;
        span.usable()?;
        if let Some(item) = &span.item
            && item.signature() == SignatureCheck::Pending
        {
            self.hash_item(item, Some(out), progress).await?;
            return Ok(span.len);
        }
        self.copy_span(&span, out, reads_ahead, progress).await?;
        Ok(span.len)
    }

    /// `len` bytes at `at`, within one chunk: from memory or disk, or fetched (and left on
    /// disk, if there is a disk tier) but not kept in memory, which a reader passing once
    /// would only flush.
    async fn read_block(&self, tx: &Arc<TxRecord>, at: u64, len: u64) -> Result<Bytes, DriveError> {
        Ok(match self.prepare(tx, at, len) {
            Prepared::Done(bytes) => bytes,
            Prepared::Plan(plan) => match &plan.pieces[..] {
                [piece] if !self.on_disk(tx, piece.index) => self
                    .fetch_chunk(tx, piece.index, false)
                    .await?
                    .slice(piece.within.clone()),
                _ => self.read_tx(tx, at, len).await?,
            },
        })
    }

    async fn copy_span<W: AsyncWrite + Unpin>(
        &self,
        span: &Span,
        out: &mut W,
        reads_ahead: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<(), DriveError> {
        let tx = &span.tx;
        let end = span.start + span.len;
        let block_end = |at: u64| match tx.is_chunked() && at < tx.size() {
            true => tx.chunk_range(tx.chunk_index(at)).end.min(end),
            false => end,
        };
        let starts = std::iter::successors(Some(span.start), |&at| {
            Some(block_end(at)).filter(|&next| next < end)
        })
        .filter(|&at| at < end);
        // Into an extent as it goes, when the data may have one: no block files.
        let filling = self.begin_filling(span);
        // `reads_ahead` reads at once, in a window twice as long: a slow block at its head
        // then holds back only the writing, not the next requests.
        let reads = tokio::sync::Semaphore::new(reads_ahead.max(1));
        let mut blocks = futures::stream::iter(starts)
            .map(|at| {
                let (filling, reads) = (filling.clone(), &reads);
                async move {
                    let _read = reads.acquire().await.expect("never closed");
                    let len = block_end(at) - at;
                    let bytes = match filling {
                        Some(filling) => self.fill_chunk(&filling, tx.chunk_index(at)).await?,
                        None => self.read_block(tx, at, len).await?,
                    };
                    if bytes.len() as u64 != len {
                        return Err(DriveError::Io(std::sync::Arc::new(std::io::Error::other(
                            format!("{}: short read at byte {}", span.id(), at - span.start),
                        ))));
                    }
                    Ok(bytes)
                }
            })
            .buffered(2 * reads_ahead.max(1));
        let copied = async {
            let mut done = 0;
            progress(0, span.len);
            while let Some(bytes) = blocks.try_next().await? {
                out.write_all(&bytes).await?;
                done += bytes.len() as u64;
                progress(done, span.len);
            }
            out.flush().await?;
            Ok::<_, DriveError>(())
        }
        .await;
        drop(blocks);
        if let Some(filling) = filling {
            self.finish_filling(filling, copied.is_ok()).await;
        }
        copied
    }
}
