//! The test gateway's weave without HTTP: [`MemorySource`] answers the Drive's
//! [`Source`] calls straight from a [`GatewayData`] (the same headers, chunks and proofs the
//! HTTP gateway serves), and [`FaultySource`] wraps any source to make it fail or lie, switched
//! at run time. For tests that exercise the Drive's logic many times over (proptest models),
//! where sockets and HTTP only cost time.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use weavedrive_cache::{Drive, DriveConfig};
//! use weavedrive_testgw::*;
//! let mut data = GatewayData::new(TestWallet::fixed());
//! let id = data.add_tx(bytes::Bytes::from_static(b"hello"), vec![]);
//! let faulty = Arc::new(FaultySource::new(Arc::new(MemorySource::new(data))));
//! let drive = Drive::with_source(DriveConfig::default(), faulty.clone()).unwrap();
//! faulty.set_faults(&[SourceFault::CorruptChunk]);
//! ```

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use weavedrive_cache::arweave::{Tag, TxHeader, TxId};
use weavedrive_cache::gateway::{
    AttemptError, BlockHeader, ChunkProof, GatewayError, ItemHint, Source, TxLocation, Unusable,
};

use crate::data::{GatewayData, Reported};
use crate::routes::chunk_parts;

/// The one gateway label of a [`MemorySource`].
pub const MEMORY_LABEL: &str = "memory";

/// A [`Source`] answering from a [`GatewayData`] in memory, as one honest gateway.
pub struct MemorySource {
    data: Arc<GatewayData>,
}

impl MemorySource {
    pub fn new(data: GatewayData) -> Self {
        Self::shared(Arc::new(data))
    }

    pub fn shared(data: Arc<GatewayData>) -> Self {
        MemorySource { data }
    }

    pub fn data(&self) -> &GatewayData {
        &self.data
    }
}

fn failed(what: String, error: AttemptError) -> GatewayError {
    GatewayError::from_attempts(what, vec![(MEMORY_LABEL.to_string(), error)])
}

impl MemorySource {
    fn header(&self, id: &TxId) -> Result<TxHeader, GatewayError> {
        let what = || format!("header of {id}");
        let tx = self
            .data
            .tx(id)
            .ok_or_else(|| failed(what(), AttemptError::NotFound))?;
        let mut header = tx.header.clone();
        // A format-1 header served without its data is completed with it, as the client
        // does from `/raw/{id}`.
        if header.format == 1 && header.data.is_empty() && header.data_size > 0 {
            header.data = tx.data.to_vec();
        }
        Ok(header)
    }

    fn offset(&self, header: &TxHeader) -> Result<u64, GatewayError> {
        let what = format!("offset of {}", header.id);
        let tx = self
            .data
            .tx(&header.id)
            .ok_or_else(|| failed(what, AttemptError::NotFound))?;
        Ok(tx.end_offset)
    }

    fn chunk_proof(&self, location: &TxLocation, offset: u64) -> Result<ChunkProof, GatewayError> {
        let what = || format!("chunk at byte {offset} of {}", location.id);
        if offset >= location.data_size {
            return Err(GatewayError::Invalid {
                what: what(),
                detail: format!("offset {offset} beyond data size {}", location.data_size),
            });
        }
        let weave_offset = location.weave_offset(offset);
        let tx = self
            .data
            .tx_at(weave_offset)
            .ok_or_else(|| failed(what(), AttemptError::NotFound))?;
        let (_, bytes, path) = chunk_parts(tx, weave_offset - tx.start_offset());
        Ok(ChunkProof::new(bytes, path.into()))
    }

    fn hint(&self, id: &TxId) -> Result<ItemHint, GatewayError> {
        let what = || format!("bundle holding {id}");
        let Some(place) = self.data.item(id) else {
            return Err(match self.data.tx(id) {
                // Served as data, with no root to say where it lives.
                Some(_) => failed(what(), AttemptError::Unusable(Unusable::NoItemRoot)),
                None => failed(what(), AttemptError::NotFound),
            });
        };
        let item_offset = match place.reported {
            Reported::RootAndOffset => Some(place.item_offset),
            Reported::RootOnly => None,
            Reported::Nothing => {
                return Err(failed(what(), AttemptError::Unusable(Unusable::NoItemRoot)));
            }
        };
        Ok(ItemHint {
            root: place.root,
            item_offset,
        })
    }

    fn block_at(&self, height: u64) -> Result<BlockHeader, GatewayError> {
        let what = || format!("block {height}");
        let json = self
            .data
            .block_json(height)
            .ok_or_else(|| failed(what(), AttemptError::NotFound))?;
        let body = serde_json::to_vec(&json).expect("JSON values serialise");
        BlockHeader::from_json(&body, height)
            .map_err(|e| failed(what(), AttemptError::Integrity(e)))
    }
}

impl Source for MemorySource {
    fn labels(&self) -> Vec<String> {
        vec![MEMORY_LABEL.to_string()]
    }

    fn tx_header<'a>(&'a self, id: &'a TxId) -> BoxFuture<'a, Result<TxHeader, GatewayError>> {
        Box::pin(async move { self.header(id) })
    }

    fn tx_offset<'a>(
        &'a self,
        header: &'a TxHeader,
        _only: Option<usize>,
    ) -> BoxFuture<'a, Result<u64, GatewayError>> {
        Box::pin(async move { self.offset(header) })
    }

    fn chunk<'a>(
        &'a self,
        tx: &'a TxLocation,
        offset: u64,
    ) -> BoxFuture<'a, Result<ChunkProof, GatewayError>> {
        Box::pin(async move { self.chunk_proof(tx, offset) })
    }

    fn item_hint_on<'a>(
        &'a self,
        id: &'a TxId,
        _gateway: usize,
    ) -> BoxFuture<'a, Result<ItemHint, GatewayError>> {
        Box::pin(async move { self.hint(id) })
    }

    fn block(&self, height: u64) -> BoxFuture<'_, Result<BlockHeader, GatewayError>> {
        Box::pin(async move { self.block_at(height) })
    }
}

/// What a [`FaultySource`] does wrong: the test gateway's [`Fault`](crate::Fault)s that make
/// sense without HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFault {
    /// Every call fails as a gateway answering 503 does.
    Unavailable,
    /// Every call fails as a gateway answering 404 does.
    NotFound,
    /// Chunks with one byte flipped (their proofs as they were).
    CorruptChunk,
    /// Chunks cut to half their length.
    ShortChunk,
    /// Chunks with a genuine proof of another chunk of the same data (or, with only one
    /// chunk, a proof with one byte flipped).
    ForgeProof,
    /// Headers that do not match their signature (data_root flipped, or a tag added).
    WrongHeader,
    /// A data offset past the real one, where the data is not.
    WrongOffset,
}

/// Wraps a [`Source`] and makes it fail or lie as told by [`FaultySource::set_faults`], from
/// the next call on. Honest until told otherwise.
pub struct FaultySource {
    inner: Arc<dyn Source>,
    faults: Mutex<Vec<SourceFault>>,
}

impl FaultySource {
    pub fn new(inner: Arc<dyn Source>) -> Self {
        FaultySource {
            inner,
            faults: Mutex::default(),
        }
    }

    /// From now on, does all of `faults` wrong (none: honest).
    pub fn set_faults(&self, faults: &[SourceFault]) {
        *self.faults.lock().unwrap() = faults.to_vec();
    }

    /// Honest again.
    pub fn honest(&self) {
        self.set_faults(&[]);
    }

    fn has(&self, fault: SourceFault) -> bool {
        self.faults.lock().unwrap().contains(&fault)
    }

    /// The failure every call gives while the source is down or has nothing, if it is.
    fn failure(&self, what: impl FnOnce() -> String) -> Result<(), GatewayError> {
        let error = if self.has(SourceFault::Unavailable) {
            AttemptError::Status {
                status: 503,
                retry_after: None,
            }
        } else if self.has(SourceFault::NotFound) {
            AttemptError::NotFound
        } else {
            return Ok(());
        };
        let label = self.inner.labels().join(", ");
        Err(GatewayError::from_attempts(what(), vec![(label, error)]))
    }
}

impl Source for FaultySource {
    fn labels(&self) -> Vec<String> {
        self.inner.labels()
    }

    fn priority_order(&self) -> Vec<usize> {
        self.inner.priority_order()
    }

    fn tx_header<'a>(&'a self, id: &'a TxId) -> BoxFuture<'a, Result<TxHeader, GatewayError>> {
        Box::pin(async move {
            self.failure(|| format!("header of {id}"))?;
            let mut header = self.inner.tx_header(id).await?;
            if self.has(SourceFault::WrongHeader) {
                match header.data_root.as_mut() {
                    Some(root) => root[0] ^= 1,
                    None => header.tags.push(Tag {
                        name: b"Forged".to_vec(),
                        value: b"1".to_vec(),
                    }),
                }
            }
            Ok(header)
        })
    }

    fn tx_offset<'a>(
        &'a self,
        header: &'a TxHeader,
        only: Option<usize>,
    ) -> BoxFuture<'a, Result<u64, GatewayError>> {
        Box::pin(async move {
            self.failure(|| format!("offset of {}", header.id))?;
            let offset = self.inner.tx_offset(header, only).await?;
            Ok(match self.has(SourceFault::WrongOffset) {
                true => offset + header.data_size.max(1) + 123_457,
                false => offset,
            })
        })
    }

    fn chunk<'a>(
        &'a self,
        tx: &'a TxLocation,
        offset: u64,
    ) -> BoxFuture<'a, Result<ChunkProof, GatewayError>> {
        Box::pin(async move {
            self.failure(|| format!("chunk at byte {offset} of {}", tx.id))?;
            let mut proof = self.inner.chunk(tx, offset).await?;
            if self.has(SourceFault::CorruptChunk) && !proof.bytes.is_empty() {
                proof.bytes = flip_middle(&proof.bytes);
            }
            if self.has(SourceFault::ShortChunk) {
                proof.bytes = proof.bytes.slice(..proof.bytes.len() / 2);
            }
            if self.has(SourceFault::ForgeProof) {
                proof.data_path = self.forged_path(tx, offset, &proof).await;
            }
            Ok(proof)
        })
    }

    fn item_hint_on<'a>(
        &'a self,
        id: &'a TxId,
        gateway: usize,
    ) -> BoxFuture<'a, Result<ItemHint, GatewayError>> {
        Box::pin(async move {
            self.failure(|| format!("bundle holding {id}"))?;
            self.inner.item_hint_on(id, gateway).await
        })
    }

    fn block(&self, height: u64) -> BoxFuture<'_, Result<BlockHeader, GatewayError>> {
        Box::pin(async move {
            self.failure(|| format!("block {height}"))?;
            self.inner.block(height).await
        })
    }
}

impl FaultySource {
    /// A genuine proof of another chunk of the same data (every hash valid for the root,
    /// only the position wrong), or `proof`'s own path with a byte flipped when there is none.
    async fn forged_path(&self, tx: &TxLocation, offset: u64, proof: &ChunkProof) -> Bytes {
        let chunk_len = (proof.bytes.len() as u64).max(1);
        let other = match offset.checked_sub(chunk_len) {
            Some(before) => before,
            None => offset + chunk_len,
        };
        if other < tx.data_size
            && let Ok(another) = self.inner.chunk(tx, other).await
            && another.data_path != proof.data_path
        {
            return another.data_path;
        }
        flip_middle(&proof.data_path)
    }
}

fn flip_middle(bytes: &[u8]) -> Bytes {
    let mut copy = bytes.to_vec();
    if let Some(byte) = copy.get_mut(bytes.len() / 2) {
        *byte ^= 0x01;
    }
    copy.into()
}
