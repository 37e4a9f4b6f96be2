//! "Range then root": a whole transaction by large byte ranges in parallel (ar.io's ranged
//! `/raw/{id}`), each standard chunk hashed as it lands, the Merkle tree rebuilt from those
//! hashes and compared with the signed data_root. Fewer, larger requests and no base64, but no
//! byte counts as verified until the whole root matches, so it suits filling a file or a cache,
//! not streaming. When the root does not match (a lying gateway, or data that was not chunked
//! the standard way) the caller falls back to per-chunk proofs.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::arweave::chunking::{data_chunk_ranges, merkle_leaf_ranges};
use crate::arweave::merkle::{Hash, Leaf, MerkleTree};
use crate::gateway::{GatewayClient, GatewayError, TxLocation};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RangeFetchError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("data from ranged reads of {0} does not match its signed data_root")]
    RootMismatch(crate::arweave::TxId),
    #[error("writing fetched data: {0}")]
    Io(#[from] std::io::Error),
}

/// Ranged requests are this many chunks long (4 MiB): large enough that per-request latency
/// is small next to transfer time, small enough to spread over many connections.
pub const SPAN_CHUNKS: usize = 16;

/// Fills `file[0..size]` with the transaction's data and returns once the rebuilt root equals
/// `location.data_root`. On error the file's contents are unspecified and must not be used.
pub async fn fetch_ranges_to_file(
    client: Arc<GatewayClient>,
    location: &TxLocation,
    file: Arc<std::fs::File>,
    window: usize,
) -> Result<(), RangeFetchError> {
    let chunks = data_chunk_ranges(location.data_size);
    let spans: Vec<Vec<Range<u64>>> = chunks.chunks(SPAN_CHUNKS).map(<[_]>::to_vec).collect();
    let id = location.id;
    let mut results = futures::stream::iter(spans.into_iter().enumerate())
        .map(|(index, chunk_ranges)| {
            let client = client.clone();
            let file = file.clone();
            async move {
                let span = chunk_ranges[0].start..chunk_ranges.last().unwrap().end;
                let bytes = client
                    .data_unverified(&id, Some(span.clone()), span.end - span.start)
                    .await?;
                // Hashing and the positional write are CPU and disk work: off the runtime.
                let hashes = tokio::task::spawn_blocking(move || {
                    file.write_all_at(&bytes, span.start)?;
                    Ok::<_, std::io::Error>(
                        chunk_ranges
                            .iter()
                            .map(|r| {
                                let slice = &bytes[(r.start - span.start) as usize
                                    ..(r.end - span.start) as usize];
                                Hash::from(Sha256::digest(slice))
                            })
                            .collect::<Vec<_>>(),
                    )
                })
                .await
                .map_err(std::io::Error::other)??;
                Ok::<_, RangeFetchError>((index, hashes))
            }
        })
        .buffer_unordered(window.max(1));
    let mut hashes_by_span: Vec<Option<Vec<Hash>>> = vec![None; chunks.len().div_ceil(SPAN_CHUNKS)];
    while let Some(result) = results.next().await {
        let (index, hashes) = result?;
        hashes_by_span[index] = Some(hashes);
    }
    let mut data_hashes = hashes_by_span.into_iter().flatten().flatten();
    let leaves = merkle_leaf_ranges(location.data_size)
        .into_iter()
        .map(|r| Leaf {
            data_hash: if r.is_empty() {
                Sha256::digest([]).into()
            } else {
                data_hashes.next().expect("one hash per data chunk")
            },
            start: r.start,
            end: r.end,
        })
        .collect();
    if MerkleTree::build(leaves).root != location.data_root {
        return Err(RangeFetchError::RootMismatch(id));
    }
    Ok(())
}
