//! Read planning: one read core behind every read the Drive serves. A read of a transaction's
//! data is split into the chunks it touches ([`ReadPlan`]); reads that need no chunk I/O are
//! answered at once ([`Drive::prepare`]); the rest are filled from memory and disk
//! ([`Drive::fill_local`]) and then, for what is missing, from the network
//! ([`Drive::fill_network`]). The wrappers differ only in where that runs and where the bytes
//! go: [`Drive::read_tx`] on the runtime, [`Drive::read_blocking`] on a frontend's thread into
//! a [`Sink`] (a new buffer, a reused one, or the caller's slice).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::{Drive, DriveError};
use crate::metrics::ByteSource;
use crate::store::txmap::TxRecord;

/// Block files read at once for one large read, or for read-ahead from the disk tier: enough
/// to keep an SSD's queue busy (one at a time leaves it mostly idle with a cold page cache).
pub(super) const PARALLEL_DISK_READS: usize = 8;
/// A read must span at least this many chunks before it is split across threads.
const PARALLEL_FILL_MIN_CHUNKS: usize = 8;

pub(super) enum Prepared {
    Done(Bytes),
    Plan(ReadPlan),
}

/// A read split into the chunks it touches.
pub(super) struct ReadPlan {
    pub(super) pieces: Vec<Piece>,
    len: usize,
}

pub(super) struct Piece {
    pub(super) index: usize,
    /// The part of the chunk wanted.
    pub(super) within: Range<usize>,
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

/// Where a blocking read's bytes go.
pub(super) trait Sink {
    type Out;
    /// Bytes that needed no chunk I/O: a slice of the memory tier when one chunk there holds
    /// them all (no copy), format-1 data, or nothing past the end.
    fn done(self, bytes: Bytes) -> Self::Out;
    /// The buffer to fill with a planned read of `len` bytes.
    fn buffer(&mut self, len: usize) -> &mut [u8];
    /// The buffer holds the read's `len` bytes.
    fn filled(self, len: usize) -> Self::Out;
}

/// Into a new buffer, returned as `Bytes`.
#[derive(Default)]
pub(super) struct Owned(Vec<u8>);

impl Sink for Owned {
    type Out = Bytes;
    fn done(self, bytes: Bytes) -> Bytes {
        bytes
    }
    fn buffer(&mut self, len: usize) -> &mut [u8] {
        self.0 = vec![0u8; len];
        &mut self.0
    }
    fn filled(self, _len: usize) -> Bytes {
        Bytes::from(self.0)
    }
}

/// Handed to `consume`: in `buf` (reused across reads, so no allocation or page faults per
/// read) unless the bytes are a slice of the memory tier already.
pub(super) struct Reused<'a, F>(pub &'a mut Vec<u8>, pub F);

impl<R, F: FnOnce(&[u8]) -> R> Sink for Reused<'_, F> {
    type Out = R;
    fn done(self, bytes: Bytes) -> R {
        (self.1)(&bytes)
    }
    fn buffer(&mut self, len: usize) -> &mut [u8] {
        if self.0.len() < len {
            self.0.resize(len, 0);
        }
        &mut self.0[..len]
    }
    fn filled(self, len: usize) -> R {
        (self.1)(&self.0[..len])
    }
}

/// Into the caller's slice (at least as long as the read); gives the bytes read.
pub(super) struct Slice<'a>(pub &'a mut [u8]);

impl Sink for Slice<'_> {
    type Out = usize;
    fn done(self, bytes: Bytes) -> usize {
        self.0[..bytes.len()].copy_from_slice(&bytes);
        bytes.len()
    }
    fn buffer(&mut self, len: usize) -> &mut [u8] {
        &mut self.0[..len]
    }
    fn filled(self, len: usize) -> usize {
        len
    }
}

impl Drive {
    /// Reads `len` bytes at `offset` of the transaction's data (fewer at its end), every one
    /// verified, on the runtime.
    pub(super) async fn read_tx(
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

    /// [`Self::read_tx`] for frontend threads outside the runtime (FUSE, WASI host calls),
    /// into `sink`: memory and disk are read on the calling thread; only misses go to the
    /// runtime (blocking this thread until they arrive).
    pub(super) fn read_blocking<S: Sink>(
        &self,
        tx: &Arc<TxRecord>,
        offset: u64,
        len: u64,
        mut sink: S,
    ) -> Result<S::Out, DriveError> {
        let plan = match self.prepare(tx, offset, len) {
            Prepared::Done(bytes) => return Ok(sink.done(bytes)),
            Prepared::Plan(plan) => plan,
        };
        let out = sink.buffer(plan.len);
        let missing = self.fill_local(tx, &plan, out);
        if !missing.is_empty() {
            self.runtime()?
                .block_on(self.fill_network(tx, &plan, &missing, out))?;
        }
        Ok(sink.filled(plan.len))
    }

    /// Answers reads that need no chunk I/O at once: format-1 data, reads past the end, and
    /// a read inside one chunk held in memory (a slice, not a copy).
    pub(super) fn prepare(&self, tx: &TxRecord, offset: u64, len: u64) -> Prepared {
        let Some(plan) = ReadPlan::new(tx, offset, len) else {
            return Prepared::Done(read_inline(tx, offset, len));
        };
        if let [piece] = &plan.pieces[..]
            && let Some(bytes) = tx
                .known_hash(piece.index)
                .and_then(|h| self.inner.memory.get(&h))
        {
            self.inner
                .metrics
                .served(ByteSource::Memory, piece.within.len() as u64);
            return Prepared::Done(bytes.slice(piece.within.clone()));
        }
        Prepared::Plan(plan)
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
        let (mut from_memory, mut from_disk_total) = (0u64, 0u64);
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
                from_memory += piece.within.len() as u64;
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
                continue;
            }
            from_disk_total += piece.within.len() as u64;
            if piece.within.len() == tx.chunk_len(piece.index) {
                // Whole chunks (sequential readers) are worth keeping hot; a 4 KiB random
                // read is not worth copying 256 KiB into memory for.
                self.inner.memory.put(hash, Bytes::copy_from_slice(target));
            }
        }
        let metrics = &self.inner.metrics;
        metrics.served(ByteSource::Memory, from_memory);
        metrics.served(ByteSource::Disk, from_disk_total);
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
}

/// Format-1 data sits in the (signature-verified) header; empty data has nothing.
fn read_inline(tx: &TxRecord, offset: u64, len: u64) -> Bytes {
    let end = offset.saturating_add(len).min(tx.size());
    if offset >= end {
        return Bytes::new();
    }
    Bytes::copy_from_slice(&tx.header.data[offset as usize..end as usize])
}
