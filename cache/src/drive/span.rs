//! What one id names on the Drive: a transaction's data, or a data item's data, which is a
//! stretch of its root transaction's data (read, verified and cached through that
//! transaction's chunks, so both share one read path).

use std::ops::Range;
use std::sync::Arc;

use super::DriveError;
use super::item::ItemRecord;
use crate::arweave::TxId;
use crate::store::txmap::TxRecord;

#[derive(Clone)]
pub(crate) struct Span {
    /// The transaction whose chunks hold the bytes.
    pub tx: Arc<TxRecord>,
    /// Where the bytes start in its data.
    pub start: u64,
    pub len: u64,
    pub item: Option<Arc<ItemRecord>>,
}

impl Span {
    pub fn whole(tx: Arc<TxRecord>) -> Span {
        Span {
            start: 0,
            len: tx.size(),
            tx,
            item: None,
        }
    }

    pub fn of_item(item: Arc<ItemRecord>) -> Span {
        Span {
            tx: item.root.clone(),
            start: item.data_start,
            len: item.size,
            item: Some(item),
        }
    }

    pub fn id(&self) -> TxId {
        self.item.as_ref().map_or_else(|| self.tx.id(), |i| i.id)
    }

    /// Fails for an item whose signature turned out not to match its data.
    pub fn usable(&self) -> Result<(), DriveError> {
        self.item.as_ref().map_or(Ok(()), |item| item.usable())
    }

    /// `offset..offset + len` of this span, cut at its end, as a range of the transaction's
    /// data. Fails unless its bytes may be served now (a data item's signature checked: see
    /// `Drive::ready`, which readers wait for first).
    pub fn locate(&self, offset: u64, len: u64) -> Result<(u64, u64), DriveError> {
        if let Some(item) = &self.item {
            item.servable()?;
        }
        let offset = offset.min(self.len);
        let len = len.min(self.len - offset);
        Ok((self.start + offset, len))
    }

    /// `range` of this span as a range of the transaction's data.
    pub fn to_tx(&self, range: Range<u64>) -> Range<u64> {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        self.start + start..self.start + end
    }

    /// The transaction's chunks that hold this span.
    pub fn chunks(&self) -> Range<usize> {
        if self.len == 0 || !self.tx.is_chunked() {
            return 0..0;
        }
        self.tx.chunk_index(self.start)..self.tx.chunk_index(self.start + self.len - 1) + 1
    }

    /// Bytes of chunk `index` inside this span.
    pub fn overlap(&self, index: usize) -> u64 {
        let r = self.tx.chunk_range(index);
        r.end.min(self.start + self.len) - r.start.max(self.start)
    }
}
