//! Fetching a whole transaction's data as a stream of verified pieces, in order, with many
//! chunk requests in flight (a distant gateway's throughput comes from parallelism).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::arweave::chunking::ChunkLayout;
use crate::arweave::{TxHeader, TxId};
use crate::gateway::{GatewayClient, GatewayError, TxLocation, VerifiedChunk};

/// A transaction whose header has been authenticated, ready to read.
#[derive(Debug, Clone)]
pub struct VerifiedTx {
    pub header: TxHeader,
    /// Where a format-2 transaction's data lives; `None` for format 1 and empty data.
    pub location: Option<TxLocation>,
}

impl VerifiedTx {
    /// Fetches and authenticates the header, then locates the data in the weave.
    pub async fn open(client: &GatewayClient, id: &TxId) -> Result<Self, GatewayError> {
        let header = client.tx_header(id).await?;
        let location = if header.format == 2 && header.data_size > 0 {
            Some(client.tx_location(&header, None).await?)
        } else {
            None
        };
        Ok(VerifiedTx { header, location })
    }

    pub fn id(&self) -> TxId {
        self.header.id
    }

    pub fn size(&self) -> u64 {
        self.header.data_size
    }

    /// Streams the data in order, `window` chunk requests in flight.
    pub fn stream(&self, client: Arc<GatewayClient>, window: usize) -> DataStream {
        let source = match self.location {
            Some(location) => Source::Chunks {
                layout: ChunkLayout::new(location.data_size),
                next_chunk: 0,
                location,
                in_flight: VecDeque::new(),
                sequential: false,
            },
            None => Source::Format1 {
                header: Some(self.header.clone()),
            },
        };
        DataStream {
            client,
            window: window.max(1),
            position: 0,
            size: self.size(),
            source,
        }
    }
}

/// Verified data of one transaction, yielded in order. Only bytes that passed verification are
/// ever yielded; an error ends the stream.
pub struct DataStream {
    client: Arc<GatewayClient>,
    window: usize,
    position: u64,
    size: u64,
    source: Source,
}

/// A chunk fetch running on the runtime.
type ChunkTask = JoinHandle<Result<VerifiedChunk, GatewayError>>;

enum Source {
    Chunks {
        location: TxLocation,
        /// The chunks to ask for, computed as they are needed (a header may claim any size).
        layout: ChunkLayout,
        next_chunk: u64,
        in_flight: VecDeque<(Range<u64>, ChunkTask)>,
        /// Set when the data turned out not to follow standard chunking: then each chunk's
        /// proof tells where the next one starts, so we walk one at a time.
        sequential: bool,
    },
    Format1 {
        header: Option<TxHeader>,
    },
}

impl DataStream {
    /// Bytes verified and yielded so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub async fn next(&mut self) -> Option<Result<Bytes, GatewayError>> {
        if self.position >= self.size {
            return None;
        }
        let result = match &mut self.source {
            // Format-1 data is covered by the signature; `tx_header` fetched and checked it.
            Source::Format1 { header } => Ok(Bytes::from(header.take()?.data)),
            Source::Chunks { .. } => self.next_chunk().await,
        };
        match &result {
            Ok(bytes) => self.position += bytes.len() as u64,
            Err(_) => self.abort(),
        }
        Some(result)
    }

    async fn next_chunk(&mut self) -> Result<Bytes, GatewayError> {
        let Source::Chunks {
            location,
            layout,
            next_chunk,
            in_flight,
            sequential,
        } = &mut self.source
        else {
            unreachable!()
        };
        if *sequential {
            let chunk = self.client.chunk(location, self.position).await?;
            let skip = (self.position - chunk.leaf.start) as usize;
            return Ok(chunk.bytes.slice(skip..));
        }
        while in_flight.len() < self.window && *next_chunk < layout.count() {
            let range = layout.range(*next_chunk);
            *next_chunk += 1;
            let client = self.client.clone();
            let loc = *location;
            let start = range.start;
            in_flight.push_back((
                range,
                tokio::spawn(async move { client.chunk(&loc, start).await }),
            ));
        }
        let (expected, task) = in_flight.pop_front().expect("position < size implies work");
        let chunk = task.await.map_err(|e| GatewayError::Invalid {
            what: format!("chunk of {}", location.id),
            detail: format!("fetch task failed: {e}"),
        })??;
        if chunk.leaf.range() != expected {
            // Verified, but cut differently from the standard layout: drop the guesses in
            // flight and follow the proofs instead.
            tracing::info!(tx = %location.id, "non-standard chunking, reading sequentially");
            for (_, task) in in_flight.drain(..) {
                task.abort();
            }
            *next_chunk = layout.count();
            *sequential = true;
        }
        let skip = (self.position - chunk.leaf.start) as usize;
        Ok(chunk.bytes.slice(skip..))
    }

    fn abort(&mut self) {
        if let Source::Chunks { in_flight, .. } = &mut self.source {
            for (_, task) in in_flight.drain(..) {
                task.abort();
            }
        }
        self.position = self.size;
    }
}

impl Drop for DataStream {
    fn drop(&mut self) {
        self.abort();
    }
}
