//! What the Drive reports: per-transaction info and counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

use std::sync::Arc;

use super::item::{self, ItemRecord};
use super::span::Span;
use super::{Drive, ItemInfo};
use crate::arweave::{Tag, TxId};
use crate::store::DiskStats;
use crate::store::memory::MemoryStats;
use crate::store::txmap::TxRecord;

/// One transaction or data item as `stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxInfo {
    pub id: TxId,
    /// 1 or 2 for a transaction; 0 for a data item (see `item`).
    pub format: u8,
    pub size: u64,
    pub owner_address: String,
    /// Tags as text (lossy UTF-8), in signed order.
    pub tags: Vec<(String, String)>,
    pub chunks: usize,
    pub chunks_cached: usize,
    pub bytes_cached: u64,
    /// Pinned, for a data item: the transaction holding it is.
    pub pinned: bool,
    /// Set for a data item: where it is bundled and how it was verified. Chunk counts above
    /// are of its root transaction's chunks that hold it.
    pub item: Option<ItemInfo>,
}

/// What frontends show for an id, transaction or data item: its size, tags and the JSON of
/// `/tx/<id>` (built only when asked for: frontends look sizes up far more often).
#[derive(Clone)]
pub struct Metadata {
    pub id: TxId,
    pub data_size: u64,
    pub tags: Vec<Tag>,
    pub(super) source: Source,
}

#[derive(Clone)]
pub(super) enum Source {
    Tx(Arc<TxRecord>),
    Item(Arc<ItemRecord>),
}

impl Metadata {
    /// The JSON of `/tx/<id>`: the transaction's header, or the data item's.
    pub fn json(&self) -> Bytes {
        match &self.source {
            Source::Tx(tx) => header_json(&tx.header).into(),
            Source::Item(item) => item.json().into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriveStats {
    pub memory: MemoryStats,
    pub disk: Option<DiskStats>,
    /// Chunks fetched from gateways (each verified by its proof before use).
    pub chunks_fetched: u64,
    pub bytes_fetched: u64,
    pub headers_fetched: u64,
    /// Blocks that could not be written to disk (full disk...): served from memory anyway.
    pub disk_write_errors: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub chunks_fetched: AtomicU64,
    pub bytes_fetched: AtomicU64,
    pub headers_fetched: AtomicU64,
    pub disk_write_errors: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}

/// What `/tx/<id>` shows in every frontend: the authenticated header as gateways serve it,
/// plus the owner's address, pretty printed with a final newline. Format 1 also says that
/// its field boundaries are not authenticated.
pub fn header_json(header: &crate::arweave::TxHeader) -> Vec<u8> {
    let mut value = header.to_json();
    value["owner_address"] = header.owner_address().into();
    if header.format == 1 {
        value["weavedrive_format1_fields_authenticated"] = false.into();
        value["weavedrive_note"] = crate::arweave::tx::FORMAT1_NOTE.into();
    }
    let mut text = serde_json::to_vec_pretty(&value).expect("a JSON value always serializes");
    text.push(b'\n');
    text
}

impl Drive {
    pub fn stats(&self) -> DriveStats {
        let c = &self.inner.counters;
        DriveStats {
            memory: self.inner.memory.stats(),
            disk: self.inner.disk.as_ref().map(|d| d.stats()),
            chunks_fetched: Counters::get(&c.chunks_fetched),
            bytes_fetched: Counters::get(&c.bytes_fetched),
            headers_fetched: Counters::get(&c.headers_fetched),
            disk_write_errors: Counters::get(&c.disk_write_errors),
        }
    }

    pub(super) fn info(&self, span: &Span) -> TxInfo {
        let tx = &span.tx;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (mut chunks_cached, mut bytes_cached) = (0, 0);
        for index in span.chunks() {
            if self.on_disk(tx, index) {
                chunks_cached += 1;
                bytes_cached += span.overlap(index);
            }
        }
        let (format, owner_address, tags) = match &span.item {
            None => (
                tx.header.format,
                tx.header.owner_address(),
                &tx.header.tags[..],
            ),
            // An item's tags are signed with its data: not shown before the check.
            Some(item) => (
                0,
                item::owner_address(&item.header.owner),
                if item.needs_check() {
                    &[][..]
                } else {
                    item.tags()
                },
            ),
        };
        TxInfo {
            id: span.id(),
            format,
            size: span.len,
            owner_address,
            tags: tags
                .iter()
                .map(|t| (text(&t.name), text(&t.value)))
                .collect(),
            chunks: span.chunks().len(),
            chunks_cached,
            bytes_cached,
            pinned: self.tx_pinned(&tx.id()),
            item: span.item.as_ref().map(|i| i.info()),
        }
    }
}
