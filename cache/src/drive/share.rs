//! The Drive and the shared tier (`shared/`): seeding it with everything another host needs
//! to read an id from the tier alone (`preload --shared`), and waiting for write-back.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::span::Span;
use super::{Drive, DriveError};
use crate::arweave::TxId;
use crate::arweave::bundle::Index;
use crate::gateway::TxLocation;
use crate::metrics::Upload;
use crate::shared::{Flushed, SharedTier, keys};
use crate::store::txmap::TxRecord;

/// Chunks checked and uploaded at once while seeding.
const SHARE_CONCURRENCY: usize = 16;

/// What seeding the tier with one id did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shared {
    /// Objects written to the tier.
    pub uploaded: u64,
    /// Objects the tier had already.
    pub present: u64,
    /// Chunks fetched from the gateways again because the tier lacked them (the local cache
    /// keeps blocks, not their proofs).
    pub refetched: u64,
}

impl Shared {
    fn add(&mut self, result: Upload) -> Result<(), ()> {
        match result {
            Upload::Uploaded => self.uploaded += 1,
            Upload::Present => self.present += 1,
            Upload::Failed | Upload::Dropped => return Err(()),
        }
        Ok(())
    }
}

impl Drive {
    /// The shared tier, when one is configured.
    pub fn shared_tier(&self) -> Option<&Arc<SharedTier>> {
        self.inner.shared.as_ref()
    }

    /// Waits (at most `timeout`) for the write-back offered so far; `None` without a tier.
    pub async fn flush_shared(&self, timeout: Duration) -> Option<Flushed> {
        Some(self.inner.shared.as_ref()?.flush(timeout).await)
    }

    /// Makes sure the shared tier holds everything a host needs to read `id` from it alone:
    /// the header and place of its transaction, the item record for a data item, the bundle
    /// indexes on the way to it and every chunk with its proof. What the tier has is left;
    /// what it lacks is uploaded (chunks whose proofs this host does not have are fetched
    /// from the gateways again and proven). Fails if the tier refuses a write.
    pub async fn share(&self, id: &TxId) -> Result<Shared, DriveError> {
        let tier = self
            .inner
            .shared
            .clone()
            .ok_or_else(|| DriveError::SharedCache("no shared cache is configured".into()))?;
        let span = self.span(id).await?;
        self.ready(&span).await?;
        let tx = span.tx.clone();
        let mut done = Shared::default();
        let refused = |key: &str| refused(id, &tier, key);
        let mut put = async |key: String, bytes: Bytes| {
            done.add(tier.put_if_absent(&key, bytes).await)
                .map_err(|()| refused(&key))
        };
        if tx.header.format == 2 {
            let json = serde_json::to_vec(&tx.header.to_json()).expect("JSON serializes");
            put(keys::header(&tx.id()), json.into()).await?;
        }
        if let Some(item) = &span.item {
            let record = serde_json::json!({ "root": item.root.id().to_string(), "item_offset": item.start });
            put(keys::item(id), record.to_string().into()).await?;
        }
        let Some(location) = tx.location() else {
            return Ok(done);
        };
        put(
            keys::offset(&tx.id()),
            location.end_offset.to_string().into(),
        )
        .await?;
        let mut chunks: Vec<usize> = self.chunks_to_share(&span).await?;
        chunks.sort_unstable();
        chunks.dedup();
        let results: Vec<Shared> = futures::stream::iter(chunks)
            .map(|index| self.share_chunk(&tier, &tx, location, index))
            .buffer_unordered(SHARE_CONCURRENCY)
            .try_collect()
            .await?;
        for r in results {
            done.uploaded += r.uploaded;
            done.present += r.present;
            done.refetched += r.refetched;
        }
        tier.flush(Duration::from_secs(60)).await;
        Ok(done)
    }

    /// The chunks of `span`'s transaction a reader of it needs: for a transaction, its data's;
    /// for a data item, also its header's and each bundle index on the way to it.
    async fn chunks_to_share(&self, span: &Span) -> Result<Vec<usize>, DriveError> {
        let tx = &span.tx;
        let Some(item) = &span.item else {
            return Ok(span.chunks().collect());
        };
        let mut ranges: Vec<Range<u64>> = Vec::new();
        ranges.push(item.start..item.data_start + item.size);
        let mut bases = vec![0];
        for parent in &item.parents {
            let parent = self.item(parent).await?;
            ranges.push(parent.start..parent.data_start);
            bases.push(parent.data_start);
        }
        for base in bases {
            let head = self.read_tx(tx, base, 32).await?;
            let count = <&[u8; 32]>::try_from(&head[..])
                .ok()
                .and_then(|head| Index::count(head).ok())
                .unwrap_or(0);
            ranges.push(base..base + Index::len_for(count));
        }
        Ok(ranges
            .into_iter()
            .filter(|r| r.start < r.end && r.end <= tx.size())
            .flat_map(|r| tx.chunk_index(r.start)..=tx.chunk_index(r.end - 1))
            .collect())
    }

    /// Chunk `index` into the tier with its proof, unless it is there already.
    async fn share_chunk(
        &self,
        tier: &SharedTier,
        tx: &Arc<TxRecord>,
        location: TxLocation,
        index: usize,
    ) -> Result<Shared, DriveError> {
        let start = tx.chunk_range(index).start;
        let proof_key = keys::proof(&location.data_root, start);
        let block_key = tx.known_hash(index).map(|hash| keys::block(&hash));
        let mut done = Shared::default();
        if let Some(block_key) = &block_key
            && tier.has(&proof_key).await
            && tier.has(block_key).await
        {
            done.present += 2;
            return Ok(done);
        }
        // The gateways, not the tier: this is what the tier lacks. (The proof is kept too:
        // a `VerifiedChunk` does not carry its data_path.)
        let proof = self.inner.gateways.chunk(&location, start).await?;
        let chunk = self.check_proof(&location, start, proof.clone())?;
        done.refetched = 1;
        let refused = |key: &str| refused(&tx.id(), tier, key);
        let block_key = keys::block(&chunk.leaf.data_hash);
        done.add(tier.put_if_absent(&block_key, chunk.bytes.clone()).await)
            .map_err(|()| refused(&block_key))?;
        done.add(
            tier.put_if_absent(&proof_key, proof.data_path.clone())
                .await,
        )
        .map_err(|()| refused(&proof_key))?;
        Ok(done)
    }
}

/// The error for a write the tier refused while seeding `id`.
fn refused(id: &TxId, tier: &SharedTier, key: &str) -> DriveError {
    DriveError::SharedCache(format!(
        "{id}: the shared cache {} did not take {key} (see the log)",
        tier.label()
    ))
}
