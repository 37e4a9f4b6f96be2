//! The seam between the Drive and where its bytes come from: [`Source`], implemented by the
//! HTTP [`GatewayClient`] and, for tests, by sources that answer from memory or lie on
//! purpose (`weavedrive-testgw`'s `MemorySource` and `FaultySource`).

use bytes::Bytes;
use futures::future::BoxFuture;

use super::arweave_api::{ChunkJson, ItemHint, TxLocation, VerifiedChunk};
use super::block::BlockHeader;
use super::chunk_endpoint::DATA_PATH_HEADER;
use super::client::{GatewayClient, Reply};
use super::error::{AttemptError, GatewayError};
use crate::arweave::{TxHeader, TxId, b64};

/// A chunk as a source serves it: the bytes and the Merkle path (`data_path`) that should
/// prove them to be the chunk asked for. Anyone can make one ([`ChunkProof::new`]); nothing
/// trusts it until [`verify_chunk`](super::verify_chunk) proves it against the signed
/// data_root.
#[derive(Debug, Clone)]
pub struct ChunkProof {
    pub bytes: Bytes,
    pub data_path: Bytes,
    /// Set only by this crate's own code (the HTTP client, which proves each gateway's answer
    /// as it arrives to fail over from a liar): the proof it checked, so that the Drive need
    /// not hash the chunk a second time. See [`ChunkProof::proven_for`].
    proven: Option<Proven>,
}

/// What [`verify_chunk`](super::verify_chunk) established for a [`ChunkProof`], and the very
/// bytes it established it for.
#[derive(Debug, Clone)]
struct Proven {
    location: TxLocation,
    offset: u64,
    chunk: VerifiedChunk,
}

impl PartialEq for ChunkProof {
    fn eq(&self, other: &Self) -> bool {
        (&self.bytes, &self.data_path) == (&other.bytes, &other.data_path)
    }
}

impl Eq for ChunkProof {}

impl ChunkProof {
    /// A proof as served, unverified.
    pub fn new(bytes: Bytes, data_path: Bytes) -> ChunkProof {
        ChunkProof {
            bytes,
            data_path,
            proven: None,
        }
    }

    /// This proof, with what checking it against `location` at `offset` established.
    pub(crate) fn with_proven(
        self,
        location: TxLocation,
        offset: u64,
        chunk: VerifiedChunk,
    ) -> Self {
        ChunkProof {
            proven: Some(Proven {
                location,
                offset,
                chunk,
            }),
            ..self
        }
    }

    /// The chunk as already proven by this crate for exactly this `location` and `offset`,
    /// if its bytes are still the very buffer that was proven (`Bytes` cannot change in
    /// place, so the same pointer and length are the same bytes; anything a source swapped in
    /// is checked afresh). Only this crate can set it, so no source can make one up.
    pub(crate) fn proven_for(&self, location: &TxLocation, offset: u64) -> Option<VerifiedChunk> {
        let proven = self.proven.as_ref()?;
        let same_bytes = proven.chunk.bytes.as_ptr() == self.bytes.as_ptr()
            && proven.chunk.bytes.len() == self.bytes.len();
        (proven.location == *location && proven.offset == offset && same_bytes)
            .then(|| proven.chunk.clone())
    }
    /// Parses a `/chunk` answer's JSON (unpacked, base64url). Not verified.
    pub fn from_json(body: &[u8]) -> Result<ChunkProof, AttemptError> {
        let integrity = |detail: String| AttemptError::Integrity(detail);
        let parsed: ChunkJson =
            serde_json::from_slice(body).map_err(|e| integrity(format!("chunk JSON: {e}")))?;
        if let Some(packing) = parsed.packing.as_deref()
            && packing != "unpacked"
        {
            // Packed bytes are not the data; a gateway offering only those cannot help us.
            return Err(AttemptError::Unusable(super::Unusable::PackedChunk(
                packing.to_string(),
            )));
        }
        let bytes =
            b64::decode(&parsed.chunk).map_err(|_| integrity("chunk is not base64url".into()))?;
        let data_path = b64::decode(&parsed.data_path)
            .map_err(|_| integrity("data_path is not base64url".into()))?;
        Ok(ChunkProof::new(bytes.into(), data_path.into()))
    }

    /// Parses a binary `/chunk/{offset}/data` answer: the body is the chunk, the data_path is
    /// in a header (base64url). Not verified.
    pub fn from_binary(reply: &Reply) -> Result<ChunkProof, AttemptError> {
        let integrity = |detail: &str| AttemptError::Integrity(detail.to_string());
        let header = reply
            .headers
            .get(DATA_PATH_HEADER)
            .ok_or_else(|| integrity("binary chunk without its data_path header"))?;
        let text = header
            .to_str()
            .map_err(|_| integrity("data_path header is not text"))?;
        let data_path =
            b64::decode(text).map_err(|_| integrity("data_path header is not base64url"))?;
        Ok(ChunkProof::new(reply.body.clone(), data_path.into()))
    }
}

/// Where the Drive gets transactions, chunks, data item places and blocks: the calls it makes
/// on gateways, and nothing else.
///
/// # Where verification sits
///
/// A source is *untrusted*, whatever it is: every answer is a claim, and the Drive checks it
/// with the same code whichever source gave it, on its side of this seam:
///
/// - [`Source::tx_header`]: the Drive checks the id, the field rules, the signature (over the
///   data too, for format 1) and the data_size limit itself (`drive/tx.rs`);
/// - [`Source::tx_offset`]: only a number; the Drive builds the [`TxLocation`] from the
///   *verified* header (data_root, data_size) and this end offset, so a source cannot choose
///   the root chunks are proven against, and a wrong place fails the first chunk's proof;
/// - [`Source::chunk`]: raw [`ChunkProof`]s; the Drive proves each against the header's
///   data_root with [`verify_chunk`](super::verify_chunk), the one function that makes a
///   [`VerifiedChunk`](super::VerifiedChunk) (a type no code outside this crate can build);
/// - [`Source::item_hint_on`]: a hint, checked against bundle bytes proven as above;
/// - [`Source::block`]: block headers are not authenticated by anything (see `block.rs`);
///   the Drive re-runs their shape check and labels them unverified.
///
/// So the trait hands back raw answers and verification happens in one place, not inside each
/// source: a source (a test double, a future one) cannot make up a verified value, and a
/// faulty source is exactly as harmless as a lying gateway. The [`GatewayClient`] still checks
/// each gateway's answer with the same functions as it arrives, but only to fail over to the
/// next gateway when one lies; the Drive's check is the one that counts. So that a chunk is not
/// hashed twice, the client hands over what its check established with the proof, and the
/// Drive takes it only for the same location, offset and bytes ([`ChunkProof::proven_for`]).
pub trait Source: Send + Sync {
    /// The gateways behind this source, numbered from 0 in priority order, for messages and
    /// for [`Source::tx_offset`] / [`Source::item_hint_on`]'s `gateway`. Never empty.
    fn labels(&self) -> Vec<String>;

    /// The gateways in the order to ask them now (recently failing ones last).
    fn priority_order(&self) -> Vec<usize> {
        (0..self.labels().len()).collect()
    }

    /// Transaction `id`'s header (format 1: with its data). Unverified.
    fn tx_header<'a>(&'a self, id: &'a TxId) -> BoxFuture<'a, Result<TxHeader, GatewayError>>;

    /// The weave offset of the last byte of `header`'s data (`/tx/{id}/offset`): the first
    /// gateway's answer, or only gateway number `only`'s. Unverified.
    fn tx_offset<'a>(
        &'a self,
        header: &'a TxHeader,
        only: Option<usize>,
    ) -> BoxFuture<'a, Result<u64, GatewayError>>;

    /// The chunk holding byte `offset` of `tx`'s data, with its proof. Unverified.
    fn chunk<'a>(
        &'a self,
        tx: &'a TxLocation,
        offset: u64,
    ) -> BoxFuture<'a, Result<ChunkProof, GatewayError>>;

    /// Where gateway number `gateway` says data item `id` lives. Unverified.
    fn item_hint_on<'a>(
        &'a self,
        id: &'a TxId,
        gateway: usize,
    ) -> BoxFuture<'a, Result<ItemHint, GatewayError>>;

    /// The block at `height`. Not authenticated by anything.
    fn block(&self, height: u64) -> BoxFuture<'_, Result<BlockHeader, GatewayError>>;

    /// The Drive placed data item `id` in its verified bundle: in root transaction `root`,
    /// its header at byte `item_offset` of the root's data. (A cache tier keeps it.)
    fn item_placed(&self, _id: &TxId, _root: &TxId, _item_offset: u64) {}

    /// The place source number `gateway` gave for item `id` did not check out.
    fn item_refused(&self, _id: &TxId, _gateway: usize) {}
}

impl Source for GatewayClient {
    fn labels(&self) -> Vec<String> {
        (0..self.gateway_count())
            .map(|g| self.gateway_label(g).to_string())
            .collect()
    }

    fn priority_order(&self) -> Vec<usize> {
        GatewayClient::priority_order(self)
    }

    fn tx_header<'a>(&'a self, id: &'a TxId) -> BoxFuture<'a, Result<TxHeader, GatewayError>> {
        Box::pin(GatewayClient::tx_header(self, id))
    }

    fn tx_offset<'a>(
        &'a self,
        header: &'a TxHeader,
        only: Option<usize>,
    ) -> BoxFuture<'a, Result<u64, GatewayError>> {
        Box::pin(async move { Ok(self.tx_location(header, only).await?.end_offset) })
    }

    fn chunk<'a>(
        &'a self,
        tx: &'a TxLocation,
        offset: u64,
    ) -> BoxFuture<'a, Result<ChunkProof, GatewayError>> {
        Box::pin(self.chunk_proof(tx, offset))
    }

    fn item_hint_on<'a>(
        &'a self,
        id: &'a TxId,
        gateway: usize,
    ) -> BoxFuture<'a, Result<ItemHint, GatewayError>> {
        Box::pin(GatewayClient::item_hint_on(self, id, gateway))
    }

    fn block(&self, height: u64) -> BoxFuture<'_, Result<BlockHeader, GatewayError>> {
        Box::pin(GatewayClient::block(self, height))
    }
}
