//! The gateway's endpoints: parsing the path and rendering the (possibly faulted) answer.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use weavedrive_cache::arweave::{TxId, b64};

use crate::data::{GatewayData, ItemPlace, Reported, StoredTx};
use crate::faults::{Endpoint, Fault};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Info,
    /// `/`: an HTML list of the transactions, so HTTP-directory clients (rclone's http
    /// remote, used as a benchmark baseline) can find them.
    Index,
    Tx(TxId),
    TxOffset(TxId),
    TxDataSize(TxId),
    Chunk(u64),
    /// `/chunk/{offset}/data`: ar.io's binary chunk, its proof in headers.
    ChunkData(u64),
    Data(TxId),
    /// `/block/height/{h}`.
    Block(u64),
    BadRequest(&'static str),
    NotFound,
}

impl Route {
    pub fn parse(path: &str) -> Route {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let id = |text: &str, ok: fn(TxId) -> Route| {
            text.parse()
                .map_or(Route::BadRequest("malformed transaction id"), ok)
        };
        match parts[..] {
            ["info"] => Route::Info,
            [""] => Route::Index,
            ["tx", tx] => id(tx, Route::Tx),
            ["tx", tx, "offset"] => id(tx, Route::TxOffset),
            ["tx", tx, "data_size"] => id(tx, Route::TxDataSize),
            ["chunk", offset] => offset
                .parse()
                .map_or(Route::BadRequest("malformed offset"), Route::Chunk),
            ["chunk", offset, "data"] => offset
                .parse()
                .map_or(Route::BadRequest("malformed offset"), Route::ChunkData),
            ["raw", tx] => id(tx, Route::Data),
            ["block", "height", h] => h
                .parse()
                .map_or(Route::BadRequest("malformed height"), Route::Block),
            // Only something shaped like an id is a data request; `/favicon.ico` is a 404.
            [tx] => tx.parse().map_or(Route::NotFound, Route::Data),
            _ => Route::NotFound,
        }
    }

    pub fn endpoint(&self, path: &str) -> Endpoint {
        match self {
            Route::Tx(_) => Endpoint::TxHeader,
            Route::TxOffset(_) | Route::TxDataSize(_) => Endpoint::Offset,
            Route::Chunk(_) | Route::ChunkData(_) => Endpoint::Chunk,
            Route::Data(_) => Endpoint::Data,
            Route::Block(_) => Endpoint::Block,
            // Malformed requests still count towards the endpoint they aimed at.
            Route::BadRequest(_) if path.starts_with("/tx/") => {
                if path.ends_with("/offset") || path.ends_with("/data_size") {
                    Endpoint::Offset
                } else {
                    Endpoint::TxHeader
                }
            }
            Route::BadRequest(_) if path.starts_with("/chunk/") => Endpoint::Chunk,
            Route::BadRequest(_) if path.starts_with("/raw/") => Endpoint::Data,
            Route::BadRequest(_) if path.starts_with("/block/") => Endpoint::Block,
            _ => Endpoint::Other,
        }
    }
}

/// A rendered answer: status, extra headers and the body as zero-copy segments.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<Bytes>,
}

impl Reply {
    pub fn text(status: StatusCode, text: &str) -> Reply {
        Reply {
            status,
            headers: vec![(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
            body: vec![Bytes::copy_from_slice(text.as_bytes())],
        }
    }

    fn json(value: &impl Serialize) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: vec![(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body: vec![serde_json::to_vec(value).expect("JSON serialises").into()],
        }
    }

    pub fn len(&self) -> u64 {
        self.body.iter().map(|b| b.len() as u64).sum()
    }
}

#[derive(Serialize)]
struct ChunkJson<'a> {
    chunk: &'a str,
    data_path: &'a str,
    tx_path: &'a str,
    packing: &'a str,
}

/// What the gateway serves beyond the basic endpoints.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Serving {
    pub range_support: bool,
    pub binary_chunks: bool,
}

/// Renders `route`, applying `fault` if it is a content fault for this endpoint.
pub(crate) fn render(
    data: &GatewayData,
    route: &Route,
    request: &HeaderMap,
    serving: Serving,
    fault: Option<Fault>,
) -> Reply {
    let not_found = || Reply::text(StatusCode::NOT_FOUND, "Not Found");
    let tx = |id: &TxId| data.tx(id);
    match route {
        Route::Info => Reply::json(&serde_json::json!({
            "network": "weavedrive.testgw",
            "version": 5,
            "height": data.txs().len(),
            "blocks": data.txs().len() + 1,
            "peers": 0,
            "weave_size": data.weave_size().to_string(),
        })),
        Route::Index => {
            let links: String = data
                .txs()
                .iter()
                .map(|t| format!("<a href=\"{0}\">{0}</a>\n", t.id()))
                .collect();
            let mut reply = Reply::text(
                StatusCode::OK,
                &format!("<html><body><pre>\n{links}</pre></body></html>\n"),
            );
            reply.headers = vec![(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))];
            reply
        }
        Route::BadRequest(why) => Reply::text(StatusCode::BAD_REQUEST, why),
        Route::NotFound => not_found(),
        Route::Tx(id) => tx(id).map_or_else(not_found, |t| header_reply(t, fault)),
        Route::Block(height) => data
            .block_json(*height)
            .map_or_else(not_found, |json| Reply::json(&json)),
        Route::TxOffset(id) => tx(id).map_or_else(not_found, |t| {
            let offset = match fault {
                Some(Fault::WrongOffset) => data.decoy_end_offset(t),
                _ => t.end_offset,
            };
            // The header's size, like a node: a header claiming more than the data stored
            // (a lie, see `format1::claimed_size_header`) is answered consistently.
            Reply::json(&serde_json::json!({
                "offset": offset.to_string(),
                "size": t.header.data_size.max(t.size()).to_string(),
            }))
        }),
        Route::TxDataSize(id) => tx(id).map_or_else(not_found, |t| {
            let mut reply = Reply::text(StatusCode::OK, &t.size().to_string());
            reply.headers.clear();
            reply
        }),
        Route::Chunk(offset) => data.tx_at(*offset).map_or_else(not_found, |t| {
            let (chunk, proof) = chunk_as_served(t, offset - t.start_offset(), fault);
            Reply::json(&ChunkJson {
                chunk: &b64::encode(&chunk),
                data_path: &b64::encode(&proof),
                tx_path: "",
                packing: "unpacked",
            })
        }),
        Route::ChunkData(_) if !serving.binary_chunks => not_found(),
        Route::ChunkData(offset) => data.tx_at(*offset).map_or_else(not_found, |t| {
            let (chunk, proof) = chunk_as_served(t, offset - t.start_offset(), fault);
            binary_chunk_reply(t, *offset, chunk, &proof)
        }),
        Route::Data(id) => {
            let range = serving
                .range_support
                .then(|| request.get(header::RANGE))
                .flatten();
            match (tx(id), data.item(id)) {
                (Some(t), _) => data_reply(&t.data, range, fault),
                (None, Some(place)) => item_reply(data, place, range, fault),
                (None, None) => not_found(),
            }
        }
    }
}

fn header_reply(tx: &StoredTx, fault: Option<Fault>) -> Reply {
    let mut header = tx.header.clone();
    if fault == Some(Fault::WrongHeader) {
        match header.data_root.as_mut() {
            Some(root) => root[0] ^= 1,
            None => header.tags.push(weavedrive_cache::arweave::Tag {
                name: b"Forged".to_vec(),
                value: b"1".to_vec(),
            }),
        }
    }
    Reply::json(&header.to_json())
}

/// The chunk holding byte `offset` of `tx`'s data: its leaf index, bytes and data_path, as
/// served honestly (over HTTP here, and by `MemorySource`).
pub(crate) fn chunk_parts(tx: &StoredTx, offset: u64) -> (usize, Bytes, Vec<u8>) {
    let (index, range) = tx.chunk_at(offset).expect("the caller checked the offset");
    let chunk = tx.data.slice(range.start as usize..range.end as usize);
    (index, chunk, tx.tree.proof(index).to_vec())
}

/// The chunk holding byte `offset` of `tx`'s data and its data_path, with `fault` applied.
fn chunk_as_served(tx: &StoredTx, offset: u64, fault: Option<Fault>) -> (Bytes, Vec<u8>) {
    let (index, chunk, mut proof) = chunk_parts(tx, offset);
    let chunk = match fault {
        Some(Fault::CorruptChunk) => flip_middle(&chunk),
        Some(Fault::ShortChunk) => chunk.slice(..chunk.len() / 2),
        Some(Fault::ForgeProof) => {
            // A genuine proof of another chunk is the nastier forgery: every hash in it is
            // valid for the root, only the position is wrong.
            let other = (0..tx.tree.leaves.len())
                .find(|&i| i != index && !tx.tree.leaves[i].range().is_empty());
            match other {
                Some(other) => proof = tx.tree.proof(other).to_vec(),
                None => {
                    let middle = proof.len() / 2;
                    proof[middle] ^= 1;
                }
            }
            chunk
        }
        _ => chunk,
    };
    (chunk, proof)
}

/// ar.io's `/chunk/{offset}/data`: the raw bytes, the proof and where the chunk sits in
/// headers (names from ar-io-node's `src/constants.ts`).
fn binary_chunk_reply(tx: &StoredTx, weave_offset: u64, chunk: Bytes, proof: &[u8]) -> Reply {
    let relative = weave_offset - tx.start_offset();
    let (_, range) = tx
        .chunk_at(relative)
        .expect("the caller checked the offset");
    let text = |value: String| HeaderValue::from_str(&value).expect("a valid header value");
    Reply {
        status: StatusCode::OK,
        headers: vec![
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                HeaderName::from_static("x-arweave-chunk-data-path"),
                text(b64::encode(proof)),
            ),
            (
                HeaderName::from_static("x-arweave-chunk-data-root"),
                text(
                    tx.header
                        .data_root
                        .map(|r| b64::encode(&r))
                        .unwrap_or_default(),
                ),
            ),
            (
                HeaderName::from_static("x-arweave-chunk-start-offset"),
                text((tx.start_offset() + range.start).to_string()),
            ),
            (
                HeaderName::from_static("x-arweave-chunk-relative-start-offset"),
                text(range.start.to_string()),
            ),
            (
                HeaderName::from_static("x-arweave-chunk-read-offset"),
                text((relative - range.start).to_string()),
            ),
            (
                HeaderName::from_static("x-arweave-chunk-tx-data-size"),
                text(tx.size().to_string()),
            ),
            (
                HeaderName::from_static("x-arweave-chunk-tx-start-offset"),
                text(tx.start_offset().to_string()),
            ),
            (
                HeaderName::from_static("x-arweave-chunk-tx-path"),
                HeaderValue::from_static(""),
            ),
        ],
        body: vec![chunk],
    }
}

fn flip_middle(bytes: &[u8]) -> Bytes {
    let mut copy = bytes.to_vec();
    copy[bytes.len() / 2] ^= 0x01;
    copy.into()
}

/// A bundled item's data, with the headers ar.io gateways add: the root transaction and where
/// the item and its data start in the root's data.
fn item_reply(
    data: &GatewayData,
    place: &ItemPlace,
    range: Option<&HeaderValue>,
    fault: Option<Fault>,
) -> Reply {
    let mut reply = data_reply(&data.item_data(place), range, fault);
    let told = match place.reported {
        Reported::RootAndOffset => 3,
        Reported::RootOnly => 1,
        Reported::Nothing => 0,
    };
    let headers = [
        ("x-ar-io-root-transaction-id", place.root.to_string()),
        (
            "x-ar-io-root-data-item-offset",
            place.item_offset.to_string(),
        ),
        ("x-ar-io-root-data-offset", place.data_offset.to_string()),
    ];
    for (name, value) in headers.into_iter().take(told) {
        reply.headers.push((
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("ids and numbers are valid header values"),
        ));
    }
    reply
}

fn data_reply(data: &Bytes, range: Option<&HeaderValue>, fault: Option<Fault>) -> Reply {
    let size = data.len() as u64;
    let mut reply = Reply {
        status: StatusCode::OK,
        headers: vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        body: Vec::new(),
    };
    let (start, end) = match range.and_then(|r| parse_range(r.to_str().ok()?, size)) {
        None => (0, size),
        Some(Err(())) => {
            reply.status = StatusCode::RANGE_NOT_SATISFIABLE;
            reply.headers.push((
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).unwrap(),
            ));
            return reply;
        }
        Some(Ok((start, end))) => {
            reply.status = StatusCode::PARTIAL_CONTENT;
            reply.headers.push((
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1)).unwrap(),
            ));
            (start, end)
        }
    };
    let body = data.slice(start as usize..end as usize);
    reply.body = if fault == Some(Fault::CorruptChunk) {
        // Three zero-copy segments around one flipped byte, so a corrupted 1 GiB body costs
        // nothing extra.
        let middle = body.len() / 2;
        vec![
            body.slice(..middle),
            flip_middle(&body[middle..middle + 1]),
            body.slice(middle + 1..),
        ]
    } else {
        vec![body]
    };
    reply
}

/// Parses a single `bytes=` range against `size` into a half-open range. `None`: ignore the
/// header (malformed or multi-range; a server may always answer 200). `Some(Err)`: 416.
fn parse_range(header: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let range = if first.is_empty() {
        // Suffix range: the last N bytes.
        let n = number(last)?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        (size - n.min(size), size)
    } else {
        let start = number(first)?;
        let end = if last.is_empty() {
            size
        } else {
            let last = number(last)?;
            if last < start {
                return None;
            }
            last.saturating_add(1).min(size)
        };
        if start >= size {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 10))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=90-1000", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=-1000", 100), Some(Ok((0, 100))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-0", 0), Some(Err(())));
        assert_eq!(parse_range("bytes=5-4", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=a-b", 100), None);
    }

    #[test]
    fn routes() {
        let id = TxId([3; 32]);
        assert_eq!(Route::parse(&format!("/tx/{id}")), Route::Tx(id));
        assert_eq!(
            Route::parse(&format!("/tx/{id}/offset")),
            Route::TxOffset(id)
        );
        assert_eq!(Route::parse(&format!("/{id}")), Route::Data(id));
        assert_eq!(Route::parse(&format!("/raw/{id}")), Route::Data(id));
        assert_eq!(Route::parse("/chunk/123"), Route::Chunk(123));
        assert_eq!(Route::parse("/chunk/123/data"), Route::ChunkData(123));
        assert_eq!(Route::parse("/block/height/7"), Route::Block(7));
        assert!(matches!(
            Route::parse("/block/height/x"),
            Route::BadRequest(_)
        ));
        assert!(matches!(Route::parse("/chunk/-1"), Route::BadRequest(_)));
        assert!(matches!(Route::parse("/tx/abc"), Route::BadRequest(_)));
        assert_eq!(Route::parse("/favicon.ico"), Route::NotFound);
        assert_eq!(Route::parse("/info"), Route::Info);
        assert_eq!(Route::parse("/"), Route::Index);
    }
}
