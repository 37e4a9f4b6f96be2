//! [`TieredSource`]: the shared tier in front of the gateways, as one [`Source`]. The tier is
//! source number 0 (so item places and offsets it gives are checked and passed over like a
//! gateway's); headers and chunks it serves are checked here as they arrive, so that a
//! tampered one falls back to the gateways at once (the Drive checks them again: that check
//! is the one that counts). What the gateways serve is checked the same way and written back.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys;
use super::store::{Fetched, SharedTier};
use crate::arweave::chunking::ChunkLayout;
use crate::arweave::{Hash, TxHeader, TxId};
use crate::gateway::limits::CHUNK_DATA_MAX;
use crate::gateway::{
    AttemptError, BlockHeader, ChunkProof, GatewayError, ItemHint, Source, TransportKind,
    TxLocation, verify_chunk,
};
use crate::metrics::{ByteSource, Failure};

/// The tier's number among the sources.
const TIER: usize = 0;
/// A data_path that can prove anything is at most 256 branches of 96 bytes and a 64-byte
/// leaf (about 24 KiB, see `merkle.rs`): anything longer is refused unread, and proofs are
/// read with the small-object time limit.
const PATH_MAX: u64 = 64 * 1024;
/// An offset as text, or an item record: small.
const SMALL_MAX: u64 = 4096;
/// A format-2 header (the only ones the tier keeps): its tags are at most 2 KiB, its owner
/// and signature 512 bytes each before base64. 64 KiB is more than any can be.
const HEADER_MAX: u64 = 64 * 1024;
/// The leaf at the end of a data_path: the chunk's sha256, then its end offset.
const LEAF_SIZE: usize = 64;

/// Where a data item sits, as the tier keeps it (a hint: the Drive checks it against the
/// verified bundle index).
#[derive(Serialize, Deserialize)]
struct ItemPlace {
    root: String,
    item_offset: Option<u64>,
}

pub struct TieredSource {
    tier: Arc<SharedTier>,
    gateways: Arc<dyn Source>,
}

impl TieredSource {
    pub fn new(tier: Arc<SharedTier>, gateways: Arc<dyn Source>) -> TieredSource {
        TieredSource { tier, gateways }
    }

    /// A header from the tier, checked (id and signature); `Ok(None)` when it has none that
    /// checks out (a false one is counted and demotes the tier), `Err` when it did not answer.
    async fn tier_header(&self, id: &TxId) -> Result<Option<TxHeader>, ()> {
        let key = keys::header(id);
        let json = match self.tier.get(&key, HEADER_MAX).await {
            Fetched::Found(json) => json,
            Fetched::Missing => return Ok(None),
            Fetched::Failed => return Err(()),
        };
        let expected = *id;
        let checked =
            tokio::task::spawn_blocking(move || TxHeader::from_json_verified(&json, &expected))
                .await;
        match checked {
            Ok(Ok(header)) => Ok(Some(header)),
            Ok(Err(e)) => {
                self.tier.lied(Failure::SharedHeader, &key, &e.to_string());
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }

    /// A gateway's header, written back once checked here (format 2 only: a format-1
    /// header's data and field split are settled among gateways, see `arweave_api.rs`).
    fn share_header(&self, header: &TxHeader) {
        if header.format != 2 || !self.tier.wanted(&keys::header(&header.id)) {
            return;
        }
        let (tier, header) = (self.tier.clone(), header.clone());
        tokio::spawn(async move {
            let id = header.id;
            let checked = tokio::task::spawn_blocking(move || {
                header
                    .verify()
                    .map(|()| serde_json::to_vec(&header.to_json()))
            })
            .await;
            if let Ok(Ok(Ok(json))) = checked {
                tier.offer(keys::header(&id), json.into());
            }
        });
    }

    /// The chunk holding byte `offset` of `tx`'s data from the tier, proven here; `None` when
    /// the tier has no copy that proves (a false one is counted and demotes the tier).
    async fn tier_chunk(&self, tx: &TxLocation, offset: u64) -> Option<ChunkProof> {
        if offset >= tx.data_size {
            return None;
        }
        let layout = ChunkLayout::new(tx.data_size);
        let start = layout.range(layout.index_of(offset)).start;
        let proof_key = keys::proof(&tx.data_root, start);
        let Fetched::Found(data_path) = self.tier.get(&proof_key, PATH_MAX).await else {
            return None;
        };
        let Some(data_hash) = leaf_hash(&data_path) else {
            let detail = format!("data_path of {} bytes", data_path.len());
            self.tier.lied(Failure::SharedProof, &proof_key, &detail);
            return None;
        };
        let block_key = keys::block(&data_hash);
        let Fetched::Found(bytes) = self.tier.get(&block_key, CHUNK_DATA_MAX).await else {
            return None;
        };
        let proof = ChunkProof::new(bytes.clone(), data_path);
        match verify_chunk(tx, offset, proof.clone()) {
            Ok(chunk) => {
                let len = chunk.bytes.len() as u64;
                self.tier.metrics.served(ByteSource::Shared, len);
                Some(proof.with_proven(*tx, offset, chunk))
            }
            Err(e) => {
                // Whichever object is false: a block not matching its own name, or a proof.
                if Sha256::digest(&bytes).as_slice() != data_hash {
                    self.tier
                        .lied(Failure::SharedBlock, &block_key, &e.to_string());
                } else {
                    self.tier
                        .lied(Failure::SharedProof, &proof_key, &e.to_string());
                }
                None
            }
        }
    }

    /// A gateway's chunk, written back once proven here (with the place it proved at).
    fn share_chunk(&self, tx: &TxLocation, offset: u64, proof: &ChunkProof) {
        let chunk = match proof.proven_for(tx, offset) {
            Some(chunk) => chunk,
            None => match verify_chunk(tx, offset, proof.clone()) {
                Ok(chunk) => chunk,
                Err(_) => return,
            },
        };
        let leaf = chunk.leaf;
        self.tier
            .offer(keys::block(&leaf.data_hash), chunk.bytes.clone());
        self.tier.offer(
            keys::proof(&tx.data_root, leaf.start),
            proof.data_path.clone(),
        );
        self.tier
            .offer(keys::offset(&tx.id), tx.end_offset.to_string().into());
    }

    async fn tier_offset(&self, id: &TxId) -> Result<u64, GatewayError> {
        let key = keys::offset(id);
        let what = || format!("offset of {id}");
        match self.tier.get(&key, SMALL_MAX).await {
            Fetched::Found(text) => {
                match std::str::from_utf8(&text).ok().and_then(|t| t.parse().ok()) {
                    Some(offset) => Ok(offset),
                    None => {
                        self.tier.lied(Failure::SharedOffset, &key, "not a number");
                        Err(self.tier_error(what(), AttemptError::Integrity("not a number".into())))
                    }
                }
            }
            Fetched::Missing => Err(self.tier_error(what(), AttemptError::NotFound)),
            Fetched::Failed => Err(self.tier_unavailable(what())),
        }
    }

    async fn tier_item(&self, id: &TxId) -> Result<ItemHint, GatewayError> {
        let key = keys::item(id);
        let what = || format!("bundle holding {id}");
        let text = match self.tier.get(&key, SMALL_MAX).await {
            Fetched::Found(text) => text,
            Fetched::Missing => return Err(self.tier_error(what(), AttemptError::NotFound)),
            Fetched::Failed => return Err(self.tier_unavailable(what())),
        };
        let parsed = serde_json::from_slice::<ItemPlace>(&text)
            .ok()
            .and_then(|place| Some((place.root.parse::<TxId>().ok()?, place.item_offset)));
        match parsed {
            Some((root, item_offset)) => Ok(ItemHint { root, item_offset }),
            None => {
                self.tier
                    .lied(Failure::SharedItem, &key, "not an item record");
                Err(self.tier_error(what(), AttemptError::Integrity("not an item record".into())))
            }
        }
    }

    fn tier_error(&self, what: String, error: AttemptError) -> GatewayError {
        GatewayError::from_attempts(what, vec![(self.tier.label(), error)])
    }

    fn tier_unavailable(&self, what: String) -> GatewayError {
        let error = AttemptError::Transport {
            kind: TransportKind::Other,
            detail: "the shared cache did not answer (see the log)".into(),
        };
        self.tier_error(what, error)
    }
}

/// The sha256 a data_path's leaf names, if it is long enough to have a leaf.
fn leaf_hash(data_path: &[u8]) -> Option<Hash> {
    let leaf = data_path.len().checked_sub(LEAF_SIZE)?;
    data_path[leaf..leaf + 32].try_into().ok()
}

impl Source for TieredSource {
    fn labels(&self) -> Vec<String> {
        let mut labels = vec![self.tier.label()];
        labels.extend(self.gateways.labels());
        labels
    }

    fn priority_order(&self) -> Vec<usize> {
        let gateways = self.gateways.priority_order().into_iter().map(|g| g + 1);
        if self.tier.first() {
            std::iter::once(TIER).chain(gateways).collect()
        } else {
            gateways.chain(std::iter::once(TIER)).collect()
        }
    }

    fn tx_header<'a>(&'a self, id: &'a TxId) -> BoxFuture<'a, Result<TxHeader, GatewayError>> {
        Box::pin(async move {
            let first = self.tier.first();
            if first {
                match self.tier_header(id).await {
                    Ok(Some(header)) => return Ok(header),
                    // The tier knows data items too: an id it holds as an item is no
                    // transaction, and the gateways need not be asked (they may be down).
                    Ok(None) if self.tier_item(id).await.is_ok() => {
                        let what = format!("header of {id}");
                        return Err(self.tier_error(what, AttemptError::NotFound));
                    }
                    _ => {}
                }
            }
            match self.gateways.tx_header(id).await {
                Ok(header) => {
                    self.share_header(&header);
                    Ok(header)
                }
                Err(e) if !first => match self.tier_header(id).await {
                    Ok(Some(header)) => Ok(header),
                    _ => Err(e),
                },
                Err(e) => Err(e),
            }
        })
    }

    fn tx_offset<'a>(
        &'a self,
        header: &'a TxHeader,
        only: Option<usize>,
    ) -> BoxFuture<'a, Result<u64, GatewayError>> {
        Box::pin(async move {
            match only {
                Some(TIER) => return self.tier_offset(&header.id).await,
                Some(g) => return self.gateways.tx_offset(header, Some(g - 1)).await,
                None => {}
            }
            let first = self.tier.first();
            if first && let Ok(offset) = self.tier_offset(&header.id).await {
                return Ok(offset);
            }
            match self.gateways.tx_offset(header, None).await {
                Err(e) if !first => self.tier_offset(&header.id).await.map_err(|_| e),
                other => other,
            }
        })
    }

    fn chunk<'a>(
        &'a self,
        tx: &'a TxLocation,
        offset: u64,
    ) -> BoxFuture<'a, Result<ChunkProof, GatewayError>> {
        Box::pin(async move {
            let first = self.tier.first();
            if first && let Some(proof) = self.tier_chunk(tx, offset).await {
                return Ok(proof);
            }
            match self.gateways.chunk(tx, offset).await {
                Ok(proof) => {
                    self.share_chunk(tx, offset, &proof);
                    Ok(proof)
                }
                Err(e) if !first => self.tier_chunk(tx, offset).await.ok_or(e),
                Err(e) => Err(e),
            }
        })
    }

    fn item_hint_on<'a>(
        &'a self,
        id: &'a TxId,
        gateway: usize,
    ) -> BoxFuture<'a, Result<ItemHint, GatewayError>> {
        match gateway {
            TIER => Box::pin(self.tier_item(id)),
            g => self.gateways.item_hint_on(id, g - 1),
        }
    }

    fn block(&self, height: u64) -> BoxFuture<'_, Result<BlockHeader, GatewayError>> {
        self.gateways.block(height)
    }

    fn item_placed(&self, id: &TxId, root: &TxId, item_offset: u64) {
        let place = ItemPlace {
            root: root.to_string(),
            item_offset: Some(item_offset),
        };
        let json = serde_json::to_vec(&place).expect("a record serializes");
        self.tier.offer(keys::item(id), Bytes::from(json));
    }

    fn item_refused(&self, id: &TxId, gateway: usize) {
        if gateway == TIER {
            let detail = "the item is not where the record says";
            self.tier.lied(Failure::SharedItem, &keys::item(id), detail);
        }
    }
}
