//! An item's own signature, checked over all of its data before any byte of it is served
//! (see `mod.rs`): once however many readers wait, streamed and hashed chunk by chunk, and
//! the outcome kept with the item's record.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures::{FutureExt, StreamExt, TryStreamExt};
use sha2::{Digest, Sha384};
use tokio::io::AsyncWriteExt;

use super::{ItemRecord, SignatureCheck};
use crate::arweave::TxId;
use crate::arweave::ans104::Verification;
use crate::drive::{Drive, DriveError};

/// Chunks read at once while hashing an item for its signature (the gateway's usual
/// parallelism), and how much is hashed per trip off the runtime.
const HASH_READS_AHEAD: usize = 64;
const HASH_BATCH: u64 = 4 << 20;

impl Drive {
    /// Waits until the item's bytes may be served: its signature checked over all of its
    /// data, once however many readers ask at once. Fails if the signature does not match.
    pub(in crate::drive) async fn ready_item(
        &self,
        item: &Arc<ItemRecord>,
    ) -> Result<(), DriveError> {
        if !item.needs_check() {
            return item.usable();
        }
        let flight = item
            .checking
            .lock()
            .unwrap()
            .get_or_insert_with(|| {
                let (drive, item) = (self.clone(), item.clone());
                async move { drive.check_item_signature(&item).await }
                    .boxed()
                    .shared()
            })
            .clone();
        let outcome = flight.await;
        // A check that failed to read (gateways down) may be tried again by the next reader.
        if outcome.is_err() && item.signature() == SignatureCheck::Pending {
            item.checking.lock().unwrap().take();
        }
        outcome.map(drop)
    }

    /// Reads all of the item's data (verified chunk by chunk, and cached) and checks its
    /// signature over it. Fails, and marks the item unusable, if it does not match.
    pub(in crate::drive) async fn check_item_signature(
        &self,
        item: &Arc<ItemRecord>,
    ) -> Result<SignatureCheck, DriveError> {
        self.hash_item(item, None::<&mut tokio::io::Sink>, |_, _| {})
            .await
    }

    /// Reads all of the item's data in order, verified chunk by chunk, into `out` if given,
    /// and checks the item's signature over it (unless already done). The bytes written are
    /// good only if this returns `Ok`: a caller that keeps them must hold them until then.
    pub(in crate::drive) async fn hash_item<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        item: &Arc<ItemRecord>,
        mut out: Option<&mut W>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<SignatureCheck, DriveError> {
        item.usable()?;
        let hash = item.signature() == SignatureCheck::Pending;
        let root = &item.root;
        // Chunk by chunk, many at once: each read is then the cached block itself, not a copy.
        let end = item.data_start + item.size;
        let chunk_end = |at: u64| root.chunk_range(root.chunk_index(at)).end.min(end);
        let pieces = std::iter::successors(Some(item.data_start), |&at| {
            Some(chunk_end(at)).filter(|&next| next < end)
        })
        .filter(|&at| at < end);
        let mut pieces = futures::stream::iter(pieces)
            .map(|at| self.read_tx(root, at, chunk_end(at) - at))
            .buffered(HASH_READS_AHEAD);
        let mut hasher = Some(Sha384::new());
        let (mut batch, mut batched): (Vec<Bytes>, u64) = (Vec::new(), 0);
        let mut done = 0;
        progress(0, item.size);
        loop {
            let next = pieces.try_next().await?;
            if let Some(bytes) = next.clone() {
                if let Some(out) = out.as_mut() {
                    out.write_all(&bytes).await?;
                }
                done += bytes.len() as u64;
                progress(done, item.size);
                batched += bytes.len() as u64;
                batch.push(bytes);
            }
            if hash && !batch.is_empty() && (next.is_none() || batched >= HASH_BATCH) {
                // Hashing is CPU work: off the runtime's threads, a few MiB at a time.
                let (mut h, pieces) =
                    (hasher.take().expect("put back"), std::mem::take(&mut batch));
                h = tokio::task::spawn_blocking(move || {
                    pieces.iter().for_each(|p| h.update(p));
                    h
                })
                .await
                .map_err(io::Error::other)?;
                hasher = Some(h);
                batched = 0;
            } else if !hash {
                batch.clear();
            }
            if next.is_none() {
                break;
            }
        }
        if let Some(out) = out.as_mut() {
            out.flush().await?;
        }
        if !hash {
            item.usable()?;
            return Ok(item.signature());
        }
        let sha384: [u8; 48] = hasher.expect("kept").finalize().into();
        self.finish_item_check(item, sha384).await
    }

    /// Checks the item's signature against the SHA-384 of all its data (off the runtime:
    /// RSA and elliptic curves are CPU work), once, and remembers the outcome. Fails if the
    /// signature does not match.
    async fn finish_item_check(
        &self,
        item: &Arc<ItemRecord>,
        sha384: [u8; 48],
    ) -> Result<SignatureCheck, DriveError> {
        let checked = item.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            match checked.header.verify_with_data_digest(checked.size, sha384) {
                Ok(Verification::Verified) => SignatureCheck::Verified,
                Ok(Verification::Unverified(kind)) => SignatureCheck::Unsupported(kind),
                Err(_) => SignatureCheck::Failed,
            }
        })
        .await
        .map_err(io::Error::other)?;
        let changed = {
            let mut check = item.check.lock().unwrap();
            let changed = *check == SignatureCheck::Pending;
            if changed {
                *check = outcome;
            }
            changed
        };
        if changed {
            if outcome == SignatureCheck::Failed {
                tracing::warn!(id = %item.id, bundle = %item.bundle(), "data item's signature does not match the bundle's copy");
            }
            self.save_item(item).await;
        }
        item.usable()?;
        Ok(item.signature())
    }

    /// Remembers where the item is (best effort: without it, a restart asks a gateway again).
    pub(super) async fn save_item(&self, item: &ItemRecord) {
        let Some(store) = &self.inner.item_store else {
            return;
        };
        let (store, id, stored) = (store.clone(), item.id, item.stored());
        let drive = self.clone();
        let saved = tokio::task::spawn_blocking(move || {
            store.save(&id, &stored)?;
            drive.record_used(crate::store::records::RecordKind::Item, &id);
            Ok(())
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        if let Err(e) = saved {
            self.disk_write_failed(&e, "could not store a data item's location");
        }
    }

    /// Streams data item `id` in order into `out` while checking its signature over it: for
    /// `get`, which must hold what it receives (a temporary file) until this returns `Ok`.
    /// `progress` sees `(bytes done, total)`.
    pub async fn read_item_checked<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        id: &TxId,
        out: &mut W,
        progress: impl FnMut(u64, u64),
    ) -> Result<(), DriveError> {
        let item = self.item(id).await?;
        self.hash_item(&item, Some(out), progress).await.map(drop)
    }
}
