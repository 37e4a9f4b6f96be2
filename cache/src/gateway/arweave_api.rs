//! The Arweave endpoints, each answer verified before it is returned: headers by signature and
//! id, chunks by Merkle proof against the header's data_root.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::client::{GatewayClient, Reply};
use super::error::{AttemptError, GatewayError};
use super::limits::{self, Limits};
use crate::arweave::{Hash, Leaf, TxError, TxHeader, TxId, b64, merkle};

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
    /// Weave offset of byte `offset` of the data (byte 0 is at `end - size + 1`).
    pub fn weave_offset(&self, offset: u64) -> u64 {
        self.end_offset + 1 - self.data_size + offset
    }
}

/// A chunk whose bytes have been checked against the transaction's data_root.
#[derive(Debug, Clone)]
pub struct VerifiedChunk {
    pub leaf: Leaf,
    pub bytes: Bytes,
}

#[derive(Deserialize)]
struct ChunkJson {
    chunk: String,
    data_path: String,
    #[serde(default)]
    packing: Option<String>,
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
const ROOT_TX_HEADER: &str = "x-ar-io-root-transaction-id";
const ROOT_ITEM_OFFSET_HEADERS: [&str; 2] =
    ["x-ar-io-root-item-offset", "x-ar-io-root-data-item-offset"];

impl GatewayClient {
    /// Asks where data item `id` lives (HEAD `/raw/{id}`). A gateway that serves the item but
    /// does not say which transaction holds it cannot help verify it, and the next is asked.
    /// Gateways that refuse HEAD (some CDNs) are asked for the item's first byte instead, as
    /// ar.io's own nodes do.
    pub async fn item_hint(&self, id: &TxId) -> Result<ItemHint, GatewayError> {
        let what = format!("bundle holding {id}");
        let path = format!("raw/{id}");
        let timeout = self.small_timeout();
        let check = |reply: Reply| item_hint_from(id, &reply);
        match self.head_checked(&what, &path, timeout, check).await {
            Err(e) if !e.is_not_found() => {
                tracing::debug!(error = %e, "HEAD failed; asking for the first byte instead");
                let limits = Limits::new(timeout, limits::ITEM_HINT_MAX);
                self.get_checked(&what, &path, Some(0..1), limits, check)
                    .await
            }
            answer => answer,
        }
    }

    fn small_timeout(&self) -> Duration {
        self.config().request_timeout
    }

    /// The transaction's header, authenticated: it must carry this id and its signature must
    /// verify, so a gateway cannot substitute another transaction or alter data_root or tags.
    /// Format-1 headers whose data the gateway left out are completed from `/{id}` (format-1
    /// data is small) so that what is returned is always fully authenticated.
    pub async fn tx_header(&self, id: &TxId) -> Result<TxHeader, GatewayError> {
        let what = format!("header of {id}");
        let header = self
            .get_checked(
                &what,
                &format!("tx/{id}"),
                None,
                Limits::new(self.small_timeout(), limits::TX_HEADER_MAX),
                |reply| match TxHeader::from_json_verified(&reply.body, id) {
                    Err(TxError::NeedsData) => {
                        Ok(TxHeader::from_json(&reply.body).expect("parsed a moment ago"))
                    }
                    other => other.map_err(|e| integrity(e.to_string())),
                },
            )
            .await?;
        if header.format != 1 || header.data.len() as u64 == header.data_size {
            return Ok(header);
        }
        let data = self.data_unverified(id, None, header.data_size).await?;
        header
            .verify_with_data(data.to_vec())
            .map_err(|e| GatewayError::Integrity {
                what: format!("format-1 data of {id}"),
                attempts: vec![("gateway".into(), integrity(e.to_string()))],
            })
    }

    /// Locates a format-2 transaction's data in the weave.
    pub async fn tx_location(&self, header: &TxHeader) -> Result<TxLocation, GatewayError> {
        let id = header.id;
        let data_root = header.data_root.ok_or_else(|| GatewayError::Invalid {
            what: format!("data of {id}"),
            detail: "transaction has no data_root (format 1 or empty)".into(),
        })?;
        let what = format!("offset of {id}");
        let data_size = header.data_size;
        let end_offset = self
            .get_checked(
                &what,
                &format!("tx/{id}/offset"),
                None,
                Limits::new(self.small_timeout(), limits::OFFSET_JSON_MAX),
                |reply| {
                    let parsed: OffsetJson = serde_json::from_slice(&reply.body)
                        .map_err(|e| integrity(format!("offset JSON: {e}")))?;
                    let (Some(offset), Some(size)) = (parsed.offset.value(), parsed.size.value())
                    else {
                        return Err(integrity("offset JSON holds no numbers"));
                    };
                    if size != data_size {
                        return Err(integrity(format!(
                            "offset endpoint says size {size}, signed header says {data_size}"
                        )));
                    }
                    if offset.checked_add(1).is_none_or(|end| end < size) {
                        return Err(integrity(format!(
                            "offset {offset} is before the weave start"
                        )));
                    }
                    Ok(offset)
                },
            )
            .await?;
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
        let path = format!("chunk/{weave_offset}");
        let limits = Limits::new(self.small_timeout(), limits::CHUNK_JSON_MAX);
        self.get_checked(&what, &path, None, limits, |reply| {
            verify_chunk_reply(tx, offset, reply)
        })
        .await
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
                return Err(AttemptError::Refused("gateway ignores Range".into()));
            }
            if reply.body.len() as u64 != expected_len {
                return Err(AttemptError::Transient(format!(
                    "expected {expected_len} bytes, got {}",
                    reply.body.len()
                )));
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
        .ok_or_else(|| {
            AttemptError::Refused(format!(
                "serves it without {ROOT_TX_HEADER}, so it cannot be verified"
            ))
        })?
        .parse::<TxId>()
        .map_err(|e| integrity(format!("{ROOT_TX_HEADER}: {e}")))?;
    if root == *id {
        return Err(AttemptError::Refused(
            "calls it a transaction, but has no header for it".into(),
        ));
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

fn verify_chunk_reply(
    tx: &TxLocation,
    offset: u64,
    reply: Reply,
) -> Result<VerifiedChunk, AttemptError> {
    verify_chunk_json(tx, offset, &reply.body)
}

/// A `/chunk` answer's JSON, checked: unpacked, base64url, and proven by its data_path to be
/// the chunk holding byte `offset` of `tx`'s data.
pub fn verify_chunk_json(
    tx: &TxLocation,
    offset: u64,
    body: &[u8],
) -> Result<VerifiedChunk, AttemptError> {
    let parsed: ChunkJson =
        serde_json::from_slice(body).map_err(|e| integrity(format!("chunk JSON: {e}")))?;
    if let Some(packing) = parsed.packing.as_deref()
        && packing != "unpacked"
    {
        // Packed bytes are not the data; a gateway offering only those cannot help us.
        return Err(AttemptError::Refused(format!(
            "chunk is packed ({packing})"
        )));
    }
    let chunk = b64::decode(&parsed.chunk).map_err(|_| integrity("chunk is not base64url"))?;
    let path =
        b64::decode(&parsed.data_path).map_err(|_| integrity("data_path is not base64url"))?;
    let leaf = merkle::verify_chunk(&tx.data_root, tx.data_size, offset, &path, &chunk)
        .map_err(|e| integrity(e.to_string()))?;
    Ok(VerifiedChunk {
        leaf,
        bytes: Bytes::from(chunk),
    })
}
