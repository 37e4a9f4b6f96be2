//! The Arweave endpoints, each answer verified before it is returned: headers by signature and
//! id, chunks by Merkle proof against the header's data_root.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::client::{GatewayClient, Reply};
use super::error::{AttemptError, GatewayError, Unusable};
use super::limits::{self, Limits};
use super::source::ChunkProof;
use crate::arweave::tx::FORMAT1_MAX_DATA;
use crate::arweave::{Hash, Leaf, TxError, TxHeader, TxId, merkle};
use crate::metrics::ByteSource;
use crate::units::format_size;

/// The slowest link a format-1 data download is given time for (bytes per second), on top
/// of the usual request timeout.
const FORMAT1_SLOW_LINK: u64 = 256 * 1024;

/// Where a format-2 transaction's data lives in the weave, from its authenticated header plus
/// the (unauthenticated, but only used to find chunks that are then proven) `/offset` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    pub id: TxId,
    pub data_root: Hash,
    pub data_size: u64,
    /// Absolute weave offset of the last byte of the data.
    pub end_offset: u64,
}

impl TxLocation {
    /// The data_root `header`'s chunks are proven against. A header without one (format 1,
    /// or no data) has no chunks to locate: asked before any source is, so that costs no
    /// request.
    pub fn data_root_of(header: &TxHeader) -> Result<Hash, GatewayError> {
        header.data_root.ok_or_else(|| GatewayError::Invalid {
            what: format!("data of {}", header.id),
            detail: "transaction has no data_root (format 1 or empty)".into(),
        })
    }

    /// Whether data of `size` bytes can end at weave offset `end_offset` (it cannot start
    /// before the weave does).
    pub fn end_offset_fits(end_offset: u64, size: u64) -> bool {
        end_offset.checked_add(1).is_some_and(|end| end >= size)
    }

    /// Weave offset of byte `offset` of the data (byte 0 is at `end - size + 1`).
    pub fn weave_offset(&self, offset: u64) -> u64 {
        self.end_offset + 1 - self.data_size + offset
    }
}

/// A chunk whose bytes have been checked against the transaction's data_root. Made only by
/// [`verify_chunk`] (its fields are private to this crate), so holding one means the proof
/// was checked here, whatever [`Source`](super::Source) served the bytes.
#[derive(Debug, Clone)]
pub struct VerifiedChunk {
    pub(crate) leaf: Leaf,
    pub(crate) bytes: Bytes,
}

impl VerifiedChunk {
    /// Where the chunk sits in the data, and its hash, as the proof established.
    pub fn leaf(&self) -> &Leaf {
        &self.leaf
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[derive(Deserialize)]
pub(super) struct ChunkJson {
    pub(super) chunk: String,
    pub(super) data_path: String,
    #[serde(default)]
    pub(super) packing: Option<String>,
}

#[derive(Deserialize)]
struct OffsetJson {
    offset: NumText,
    size: NumText,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumText {
    Num(u64),
    Text(String),
}

impl NumText {
    fn value(&self) -> Option<u64> {
        match self {
            NumText::Num(n) => Some(*n),
            NumText::Text(t) => t.parse().ok(),
        }
    }
}

fn integrity(detail: impl Into<String>) -> AttemptError {
    AttemptError::Integrity(detail.into())
}

/// Where a gateway says a data item lives: ar.io answers `/raw/{id}` with the root
/// transaction's id and the item's offset in that transaction's data. Not trusted: the Drive
/// checks each claim against bundle bytes verified by the root's data_root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemHint {
    pub root: TxId,
    /// Where the item's header starts in the root transaction's data, if the gateway said.
    pub item_offset: Option<u64>,
}

/// The response headers ar.io gateways use for [`ItemHint`]; the offset has a newer name.
pub(super) const ROOT_TX_HEADER: &str = "x-ar-io-root-transaction-id";
const ROOT_ITEM_OFFSET_HEADERS: [&str; 2] =
    ["x-ar-io-root-item-offset", "x-ar-io-root-data-item-offset"];

impl GatewayClient {
    /// Asks gateway number `gateway` where data item `id` lives (HEAD `/raw/{id}`). A gateway
    /// that serves the item but does not say which transaction holds it cannot help verify it.
    /// Gateways that refuse HEAD (some CDNs) are asked for the item's first byte instead, as
    /// ar.io's own nodes do. Each gateway is asked on its own: one gateway's answer may point
    /// at a bundle that forges the item, and then the next one's is needed.
    pub async fn item_hint_on(&self, id: &TxId, gateway: usize) -> Result<ItemHint, GatewayError> {
        let what = format!("bundle holding {id}");
        let path = format!("raw/{id}");
        let timeout = self.small_timeout();
        let check = |reply: Reply| item_hint_from(id, &reply);
        let only = Some(gateway);
        match self.head_checked(only, &what, &path, timeout, check).await {
            Err(e) if !e.is_not_found() => {
                tracing::debug!(error = %e, "HEAD failed; asking for the first byte instead");
                let limits = Limits::new(timeout, limits::ITEM_HINT_MAX);
                self.get_checked_on(gateway, &what, &path, Some(0..1), limits, check)
                    .await
            }
            answer => answer,
        }
    }

    fn small_timeout(&self) -> Duration {
        self.config().request_timeout
    }

    /// The transaction's header, authenticated: it must carry this id, keep the field rules
    /// nodes enforce, and its signature must verify (checked off the runtime threads), so a
    /// gateway cannot substitute another transaction or alter data_root or tags.
    ///
    /// Gateways are asked in turn, each for its own header, completed (a format-1 header
    /// without its data) with that same gateway's data: an answer that fails verification
    /// passes the turn to the next gateway, and is asked again in a later round. A signed
    /// `data_size` above [`GatewayConfig::max_data_size`] is refused outright.
    ///
    /// Format 1 does not sign field boundaries, so with several gateways a format-1 header is
    /// returned once two gateways agree on every field and the data; when only one gateway
    /// serves a header that verifies, it is returned as with a single gateway; when the
    /// gateways' verified headers differ and no two agree, none is.
    ///
    /// [`GatewayConfig::max_data_size`]: super::GatewayConfig::max_data_size
    pub async fn tx_header(&self, id: &TxId) -> Result<TxHeader, GatewayError> {
        let gateways = self.gateway_count();
        let mut attempts = Vec::new();
        // Gateways to ask this round: all at first, then those whose answer failed
        // verification (a gateway that failed otherwise has had its retries).
        let mut pending: Vec<usize> = (0..gateways).collect();
        let mut format1: Vec<(usize, TxHeader)> = Vec::new();
        for round in 0..=self.config().retries {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(self.config().backoff * 2u32.pow((round - 1).min(6))).await;
            }
            // Open gateways first: one in a Retry-After pause is asked last, if at all.
            let mut this_round = self.priority_order();
            this_round.retain(|g| pending.contains(g));
            pending.clear();
            for gateway in this_round {
                let label = self.gateway_label(gateway).to_string();
                let header = match self.tx_header_on(gateway, id).await {
                    Ok(header) => header,
                    Err(HeaderFailure::Gateway(error)) => {
                        attempts.extend(attempts_of(error, &label));
                        continue;
                    }
                    Err(HeaderFailure::Verification(error)) => {
                        tracing::debug!(gateway = %label, %id, %error, "header failed verification");
                        attempts.push((label, integrity(error)));
                        pending.push(gateway);
                        continue;
                    }
                };
                self.check_data_size(&header, &label)?;
                if header.format != 1
                    || gateways == 1
                    || format1.iter().any(|(_, seen)| *seen == header)
                {
                    return Ok(header);
                }
                format1.push((gateway, header));
            }
        }
        match format1.len() {
            0 => Err(GatewayError::from_attempts(
                format!("header of {id}"),
                attempts,
            )),
            1 => {
                let (gateway, header) = format1.pop().expect("one answer");
                tracing::info!(
                    %id,
                    gateway = %self.gateway_label(gateway),
                    "format-1 header served by one gateway only: its field boundaries are \
                     neither signed nor confirmed by another gateway"
                );
                Ok(header)
            }
            _ => Err(self.format1_disagreement(id, &format1)),
        }
    }

    /// One gateway's header for `id`, completed with that gateway's format-1 data, and
    /// verified off the runtime threads.
    async fn tx_header_on(&self, gateway: usize, id: &TxId) -> Result<TxHeader, HeaderFailure> {
        let what = format!("header of {id}");
        let path = format!("tx/{id}");
        let limits = Limits::new(self.small_timeout(), limits::TX_HEADER_MAX);
        let header = self
            .get_checked_on(gateway, &what, &path, None, limits, |reply| {
                // Parsing checks the field rules: cheap, and before any signature work.
                let header =
                    TxHeader::from_json(&reply.body).map_err(|e| integrity(e.to_string()))?;
                if header.id != *id {
                    return Err(integrity(
                        TxError::WrongId {
                            expected: *id,
                            got: header.id,
                        }
                        .to_string(),
                    ));
                }
                Ok(header)
            })
            .await
            .map_err(HeaderFailure::Gateway)?;
        let (header, fetched) = if header.format == 1 && header.data.is_empty() {
            let data = self
                .format1_data_on(gateway, id, header.data_size)
                .await
                .map_err(HeaderFailure::Gateway)?;
            let complete = TxHeader {
                data: data.to_vec(),
                ..header
            };
            (complete, !data.is_empty())
        } else {
            (header, false)
        };
        let verified = tokio::task::spawn_blocking(move || header.verify().map(|()| header))
            .await
            .unwrap_or_else(|e| Err(TxError::Malformed(format!("verification task: {e}"))));
        verified.map_err(|e| {
            HeaderFailure::Verification(match fetched {
                true => format!("its format-1 data does not match the signed header: {e}"),
                false => e.to_string(),
            })
        })
    }

    /// A format-1 transaction's data from one gateway, for its header left it out: at most
    /// the format-1 limit (the header's data_size, checked against it), with a time budget
    /// that grows with the size, bounded by that limit. Not verified: the caller checks it
    /// against the signature.
    async fn format1_data_on(
        &self,
        gateway: usize,
        id: &TxId,
        data_size: u64,
    ) -> Result<Bytes, GatewayError> {
        if data_size == 0 {
            return Ok(Bytes::new());
        }
        // The header's rules keep data_size within the format-1 limit; min() bounds the
        // timeout even so.
        let slow_link_secs = data_size.min(FORMAT1_MAX_DATA).div_ceil(FORMAT1_SLOW_LINK);
        let timeout = self.small_timeout() + Duration::from_secs(slow_link_secs);
        let limits = Limits::new(timeout, data_size);
        let what = format!("format-1 data of {id}");
        let check = |reply: Reply| {
            if reply.body.len() as u64 != data_size {
                return Err(AttemptError::WrongLength {
                    expected: data_size,
                    received: reply.body.len() as u64,
                });
            }
            Ok(reply.body)
        };
        // ar.io gateways serve `/raw/{id}`; nodes and arlocal only `/{id}`.
        let raw = format!("raw/{id}");
        match self
            .get_checked_on(gateway, &what, &raw, None, limits, check)
            .await
        {
            Err(e) if e.is_not_found() => {
                let path = id.to_string();
                self.get_checked_on(gateway, &what, &path, None, limits, check)
                    .await
            }
            other => other,
        }
    }

    /// Refuses a header whose signed data_size is above the configured limit, before
    /// anything is sized by it. Signed by the owner, so every gateway would serve the same.
    fn check_data_size(&self, header: &TxHeader, gateway: &str) -> Result<(), GatewayError> {
        let limit = self.config().max_data_size;
        if header.data_size <= limit {
            return Ok(());
        }
        Err(GatewayError::Invalid {
            what: format!("header of {}", header.id),
            detail: format!(
                "{gateway} serves it signed with data_size {} ({}), above the limit of {} \
                 (max_data_size, well above the largest real transactions); if it is real, \
                 raise the limit with --max-data-size",
                header.data_size,
                format_size(header.data_size),
                format_size(limit),
            ),
        })
    }

    /// The error for verified format-1 headers that differ with no two agreeing.
    fn format1_disagreement(&self, id: &TxId, answers: &[(usize, TxHeader)]) -> GatewayError {
        let answers: Vec<String> = answers
            .iter()
            .map(|(gateway, header)| {
                format!(
                    "{}: {}",
                    self.gateway_label(*gateway),
                    format1_split(header)
                )
            })
            .collect();
        GatewayError::Invalid {
            what: format!("header of {id}"),
            detail: format!(
                "gateways serve different format-1 fields under the same valid signature \
                 (format 1 does not sign where one field ends and the next begins) and no \
                 two agree, so none is trusted: {}",
                answers.join("; ")
            ),
        }
    }

    /// Locates a format-2 transaction's data in the weave: the first gateway's answer, or
    /// only gateway number `only`'s (to compare answers when one place turns out wrong).
    pub async fn tx_location(
        &self,
        header: &TxHeader,
        only: Option<usize>,
    ) -> Result<TxLocation, GatewayError> {
        let id = header.id;
        let data_root = TxLocation::data_root_of(header)?;
        let what = format!("offset of {id}");
        let data_size = header.data_size;
        let path = format!("tx/{id}/offset");
        let check = |reply: Reply| {
            let parsed: OffsetJson = serde_json::from_slice(&reply.body)
                .map_err(|e| integrity(format!("offset JSON: {e}")))?;
            let (Some(offset), Some(size)) = (parsed.offset.value(), parsed.size.value()) else {
                return Err(integrity("offset JSON holds no numbers"));
            };
            if size != data_size {
                return Err(integrity(format!(
                    "offset endpoint says size {size}, signed header says {data_size}"
                )));
            }
            if !TxLocation::end_offset_fits(offset, size) {
                return Err(integrity(format!(
                    "offset {offset} is before the weave start"
                )));
            }
            Ok(offset)
        };
        let limits = Limits::new(self.small_timeout(), limits::OFFSET_JSON_MAX);
        let end_offset = match only {
            Some(gateway) => {
                self.get_checked_on(gateway, &what, &path, None, limits, check)
                    .await?
            }
            None => self.get_checked(&what, &path, None, limits, check).await?,
        };
        Ok(TxLocation {
            id,
            data_root,
            data_size,
            end_offset,
        })
    }

    /// The chunk holding byte `offset` of the transaction's data, verified against its
    /// data_root with the chunk's data_path. A chunk that fails is asked of the next gateway.
    pub async fn chunk(&self, tx: &TxLocation, offset: u64) -> Result<VerifiedChunk, GatewayError> {
        let proof = self.chunk_proof(tx, offset).await?;
        Ok(proof
            .proven_for(tx, offset)
            .expect("chunk_proof proves what it returns"))
    }

    /// [`Self::chunk`] as an unverified [`ChunkProof`], for the Drive to verify on its side of
    /// the [`Source`](super::Source) seam. Each gateway's answer is still proven here as it
    /// arrives, to pass the request on to the next gateway when one lies.
    pub async fn chunk_proof(
        &self,
        tx: &TxLocation,
        offset: u64,
    ) -> Result<ChunkProof, GatewayError> {
        if offset >= tx.data_size {
            return Err(GatewayError::Invalid {
                what: format!("chunk of {}", tx.id),
                detail: format!("offset {offset} beyond data size {}", tx.data_size),
            });
        }
        let weave_offset = tx.weave_offset(offset);
        let what = format!(
            "chunk at byte {offset} of {} (weave offset {weave_offset})",
            tx.id
        );
        let timeout = self.small_timeout();
        self.get_chunk_checked(&what, weave_offset, timeout, |reply| {
            let proof = match reply.binary_chunk {
                true => ChunkProof::from_binary(&reply)?,
                false => ChunkProof::from_json(&reply.body)?,
            };
            let chunk = verify_chunk(tx, offset, proof.clone())?;
            Ok(proof.with_proven(*tx, offset, chunk))
        })
        .await
        .inspect(|proof| {
            let len = proof.bytes.len() as u64;
            self.metrics().served(ByteSource::Gateway, len);
        })
    }

    /// Data bytes, optionally a range, from `/raw/{id}` (ar.io: raw bytes, Range honoured)
    /// falling back to `/{id}` (nodes; arlocal) when no gateway has `/raw`. NOT verified:
    /// callers check them (by data_root or signature) before anyone sees them. A gateway that
    /// ignores `Range` is refused for ranged reads rather than made to send everything.
    pub(crate) async fn data_unverified(
        &self,
        id: &TxId,
        range: Option<Range<u64>>,
        expected_len: u64,
    ) -> Result<Bytes, GatewayError> {
        let raw = self
            .data_at_path(&format!("raw/{id}"), id, range.clone(), expected_len)
            .await;
        match raw {
            Err(e) if e.is_not_found() => {
                self.data_at_path(&id.to_string(), id, range, expected_len)
                    .await
            }
            other => other,
        }
    }

    async fn data_at_path(
        &self,
        path: &str,
        id: &TxId,
        range: Option<Range<u64>>,
        expected_len: u64,
    ) -> Result<Bytes, GatewayError> {
        let what = match &range {
            Some(r) => format!("bytes {}..{} of {id}", r.start, r.end),
            None => format!("data of {id}"),
        };
        // Time budget grows with size: allow a slow 256 KiB/s link plus the usual margin.
        let timeout = self.small_timeout() + Duration::from_secs(expected_len / (256 * 1024));
        // Exactly the length asked for: anything longer is refused while it streams in.
        let limits = Limits::new(timeout, expected_len);
        self.get_checked(&what, path, range.clone(), limits, |reply| {
            if range.is_some() && reply.status.as_u16() != 206 {
                return Err(AttemptError::Unusable(Unusable::IgnoresRange));
            }
            if reply.body.len() as u64 != expected_len {
                return Err(AttemptError::WrongLength {
                    expected: expected_len,
                    received: reply.body.len() as u64,
                });
            }
            Ok(reply.body)
        })
        .await
    }
}

/// What an ar.io gateway's `/raw/{id}` answer says of where data item `id` lives.
fn item_hint_from(id: &TxId, reply: &Reply) -> Result<ItemHint, AttemptError> {
    let text = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
    let root = text(ROOT_TX_HEADER)
        .ok_or(AttemptError::Unusable(Unusable::NoItemRoot))?
        .parse::<TxId>()
        .map_err(|e| integrity(format!("{ROOT_TX_HEADER}: {e}")))?;
    if root == *id {
        return Err(AttemptError::Unusable(Unusable::ItemCalledTx));
    }
    let item_offset = match ROOT_ITEM_OFFSET_HEADERS.iter().find_map(|h| text(h)) {
        None => None,
        Some(offset) => Some(
            offset
                .parse()
                .map_err(|_| integrity(format!("item offset {offset:?}")))?,
        ),
    };
    Ok(ItemHint { root, item_offset })
}

/// A `/chunk` answer's JSON, checked: unpacked, base64url, and proven by its data_path to be
/// the chunk holding byte `offset` of `tx`'s data.
pub fn verify_chunk_json(
    tx: &TxLocation,
    offset: u64,
    body: &[u8],
) -> Result<VerifiedChunk, AttemptError> {
    verify_chunk(tx, offset, ChunkProof::from_json(body)?)
}

/// The one place a [`VerifiedChunk`] is made: `proof`'s data_path must prove its bytes to be
/// the chunk holding byte `offset` of `tx`'s data, under `tx`'s data_root.
pub fn verify_chunk(
    tx: &TxLocation,
    offset: u64,
    proof: ChunkProof,
) -> Result<VerifiedChunk, AttemptError> {
    let leaf = merkle::verify_chunk(
        &tx.data_root,
        tx.data_size,
        offset,
        &proof.data_path,
        &proof.bytes,
    )
    .map_err(|e| integrity(e.to_string()))?;
    Ok(VerifiedChunk {
        leaf,
        bytes: proof.bytes,
    })
}

/// Why one gateway's header was not taken.
enum HeaderFailure {
    /// The gateway did not serve it, after its retries (not found, unavailable, malformed).
    Gateway(GatewayError),
    /// It served a header (and data) that does not verify: asked again in a later round.
    Verification(String),
}

/// The per-gateway attempts behind `error`, to merge into one report over all gateways.
fn attempts_of(error: GatewayError, gateway: &str) -> Vec<(String, AttemptError)> {
    match error {
        GatewayError::NotFound { attempts, .. }
        | GatewayError::Integrity { attempts, .. }
        | GatewayError::Unavailable { attempts, .. } => attempts,
        GatewayError::Invalid { detail, .. } => {
            vec![(
                gateway.to_string(),
                AttemptError::Unusable(Unusable::Invalid(detail)),
            )]
        }
    }
}

/// How a format-1 header splits its signed bytes into fields, for messages.
fn format1_split(header: &TxHeader) -> String {
    let tags: Vec<String> = header
        .tags
        .iter()
        .map(|t| {
            format!(
                "{}={}",
                String::from_utf8_lossy(&t.name),
                String::from_utf8_lossy(&t.value)
            )
        })
        .collect();
    format!(
        "target {} B, data {} B, quantity {}, reward {}, last_tx {} B, tags [{}]",
        header.target.len(),
        header.data.len(),
        header.quantity,
        header.reward,
        header.last_tx.len(),
        tags.join(", ")
    )
}
