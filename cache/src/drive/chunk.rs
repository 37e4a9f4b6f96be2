//! Chunks from the gateways: fetched once however many readers want one (single-flight, see
//! `flight.rs`), proven, and kept: the block on disk and in memory, its hash in the
//! transaction's chunk map.

use std::sync::Arc;

use bytes::Bytes;

use super::flight::Flight;
use super::info::Counters;
use super::{Drive, DriveError};
use crate::gateway::VerifiedChunk;
use crate::store::txmap::TxRecord;

impl Drive {
    /// Fetches chunk `index` from the gateways once, however many readers want it; stores the
    /// block on disk, its hash in the map and, when `keep`, the block in the memory tier
    /// (before the flight ends, so no reader can slip between the fetch and the cache).
    /// Preload passes `keep = false`: it must not push hot blocks out of memory.
    pub(super) async fn fetch_chunk(
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
    pub(super) fn chunk_flight(
        &self,
        tx: &Arc<TxRecord>,
        index: usize,
        keep: bool,
    ) -> (Flight<Bytes>, bool) {
        self.inner.chunk_flights.join((tx.id(), index), || {
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
                result
            }
        })
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
        let chunk = self.fetch_proven(tx, index).await?;
        self.store_chunk(tx, index, chunk).await
    }

    /// Chunk `index` from the network, proven, its hash noted in memory only: for a caller
    /// that keeps the bytes itself (an extent being filled), not as a block.
    pub(super) async fn fetch_unstored(
        &self,
        tx: &Arc<TxRecord>,
        index: usize,
    ) -> Result<Bytes, DriveError> {
        let chunk = self.fetch_proven(tx, index).await?;
        self.accept_chunk(tx, index, &chunk)?;
        tx.record_hash_in_memory(index, chunk.leaf.data_hash);
        Ok(chunk.bytes)
    }

    /// Chunk `index` from the source, proven against the transaction's data root (moving the
    /// transaction if no gateway proves it where it was said to be).
    async fn fetch_proven(
        &self,
        tx: &Arc<TxRecord>,
        index: usize,
    ) -> Result<VerifiedChunk, DriveError> {
        let offset = tx.chunk_range(index).start;
        let location = tx.location().expect("chunked tx has a location");
        let chunk = match self.proven_chunk(&location, offset).await {
            Ok(chunk) => chunk,
            // No gateway proves the chunk at this place: maybe the place is wrong (an old or
            // lying `/offset` answer), not the chunks. Ask again; retry where it proves.
            Err(e) if e.is_integrity() => {
                let moved = tx.location() != Some(location) || self.relocate(tx, index).await?;
                if !moved {
                    return Err(e.into());
                }
                let location = tx.location().expect("still chunked");
                self.proven_chunk(&location, offset).await?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(chunk)
    }

    /// Keeps a chunk proven for `tx`: its block on disk and its hash in the map (checked to
    /// be chunk `index` of the standard layout the cache addresses by).
    pub(super) async fn store_chunk(
        &self,
        tx: &Arc<TxRecord>,
        index: usize,
        chunk: VerifiedChunk,
    ) -> Result<Bytes, DriveError> {
        self.accept_chunk(tx, index, &chunk)?;
        let hash = chunk.leaf.data_hash;
        if let Some(disk) = self.inner.disk.clone() {
            if self.tx_pinned(&tx.id()) {
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

    /// Checks that a proven chunk is chunk `index` of the standard layout the cache
    /// addresses by, and counts it as fetched.
    fn accept_chunk(
        &self,
        tx: &TxRecord,
        index: usize,
        chunk: &VerifiedChunk,
    ) -> Result<(), DriveError> {
        if chunk.leaf.range() != tx.chunk_range(index) {
            return Err(DriveError::NonStandardLayout { id: tx.id(), index });
        }
        let counters = &self.inner.counters;
        Counters::add(&counters.chunks_fetched, 1);
        Counters::add(&counters.bytes_fetched, chunk.bytes.len() as u64);
        Ok(())
    }

    /// Counts a refused disk write and remembers why. Warns once: a full disk refuses every
    /// block, and one line says it as well as thousands.
    pub(super) fn disk_write_failed(&self, error: &std::io::Error, what: &str) {
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

    /// Whether chunk `index` of `tx` is in the disk tier (its hash known and its block file
    /// there).
    pub(super) fn on_disk(&self, tx: &TxRecord, index: usize) -> bool {
        match (&self.inner.disk, tx.known_hash(index)) {
            (Some(disk), Some(hash)) => disk.contains(&hash),
            _ => false,
        }
    }
}
