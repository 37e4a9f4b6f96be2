//! What the Drive keeps on disk for good, and what it lets go: preloads (every chunk on
//! disk), pins (kept from eviction across restarts), the per-id records' share of the disk
//! budget, and `gc`/`clear`.

use futures::{StreamExt, TryStreamExt};

use super::span::Span;
use super::{Drive, DriveError, blocking};
use crate::arweave::TxId;
use crate::store::records::RecordKind;

/// The share of the disk budget the per-id records (headers, chunk maps, item places) may
/// take: a sixteenth, 1.25 GiB of the default 20 GiB (a few hundred thousand records).
const RECORDS_SHARE: u64 = 16;

impl Drive {
    /// Fetches every chunk not yet on disk, `preload_concurrency` at a time, reporting
    /// `(bytes done, total)` as it goes. Returns the bytes that came from the network. A data
    /// item's signature is then checked over all its data, if that was not done yet.
    pub async fn preload(
        &self,
        id: &TxId,
        pin: bool,
        progress: impl FnMut(u64, u64),
    ) -> Result<u64, DriveError> {
        self.keep(id, pin, progress, true).await
    }

    /// [`Self::preload`], its extent assembled before it returns if `assemble` (not for an
    /// open that verifies a file whole: the reader that follows would compete with it; the
    /// extent comes when the file is closed).
    async fn keep(
        &self,
        id: &TxId,
        pin: bool,
        mut progress: impl FnMut(u64, u64),
        assemble: bool,
    ) -> Result<u64, DriveError> {
        if self.inner.disk.is_none() {
            return Err(DriveError::NeedsDiskCache("preload"));
        }
        let span = self.span(id).await?;
        span.usable()?;
        // A preload that fails leaves no pin behind it (one pinned before stays pinned).
        let newly_pinned = pin && !self.tx_pinned(&span.tx.id());
        if pin {
            self.pin(id).await?;
        }
        let filled = self.fill(id, &span, &mut progress).await;
        if filled.is_ok() {
            // Every chunk is on disk and verified: one file for the kernel to read.
            if assemble {
                self.assemble(&span).await;
            }
        }
        if filled.is_err()
            && newly_pinned
            && let Err(e) = self.unpin(&span.tx.id()).await
        {
            tracing::warn!(%id, error = %e, "could not take back the pin of a failed preload");
        }
        filled
    }

    /// Fetches and verifies every byte of `id` not cached yet, onto disk: a preload without
    /// a pin and without its promise that everything stays (a file larger than the disk
    /// budget is still verified whole). What a frontend calls before it hands out a file a
    /// reader may map, so that a chunk no gateway serves verified is an error now, not a
    /// failed page fault later. Without a disk tier there is nowhere to keep what it would
    /// fetch, and it does nothing.
    pub async fn verify_whole(&self, id: &TxId) -> Result<(), DriveError> {
        if self.inner.disk.is_none() {
            return Ok(());
        }
        match self.keep(id, false, |_, _| {}, false).await {
            Ok(_) | Err(DriveError::NotKept { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The body of [`Drive::preload`]: every chunk fetched onto disk, then a data item's
    /// signature checked over them.
    async fn fill(
        &self,
        id: &TxId,
        span: &Span,
        progress: &mut impl FnMut(u64, u64),
    ) -> Result<u64, DriveError> {
        let tx = &span.tx;
        let total = span.len;
        if self
            .inner
            .disk
            .as_ref()
            .is_some_and(|d| d.extent(id).is_some())
        {
            // Whole on disk, verified (an item's signature too) when it was assembled.
            progress(total, total);
            return Ok(0);
        }
        let mut done = 0;
        let mut fetched = 0;
        progress(0, total);
        let mut pieces = futures::stream::iter(span.chunks())
            .map(|index| {
                let (tx, len) = (tx.clone(), span.overlap(index));
                async move {
                    if self.on_disk(&tx, index) {
                        return Ok((len, 0));
                    }
                    self.fetch_chunk(&tx, index, false)
                        .await
                        .map(|b| (len, b.len() as u64))
                }
            })
            .buffer_unordered(self.inner.config.preload_concurrency.max(1));
        while let Some((len, from_network)) = pieces.try_next().await? {
            done += len;
            fetched += from_network;
            progress(done, total);
        }
        // Fetched and verified is not enough: a preload promises the data is on disk.
        let missing = self.chunks_not_kept(span).await?;
        if missing > 0 {
            let reason = self.inner.last_disk_error.lock().unwrap().clone();
            return Err(DriveError::NotKept {
                id: *id,
                missing,
                chunks: span.chunks().len(),
                reason: reason.unwrap_or_else(|| "evicted: more than the disk budget".into()),
            });
        }
        // Every chunk is on disk; a data item's signature is checked over them now (even when
        // the bundle's signer is trusted: that only lets reads go first).
        if let Some(item) = &span.item {
            match item.needs_check() {
                true => self.ready_item(item).await?,
                false => drop(self.check_item_signature(item).await?),
            }
        }
        Ok(fetched)
    }

    /// Keeps the transaction's blocks from eviction, now and across restarts. Pinning a data
    /// item pins the transaction that holds it.
    pub async fn pin(&self, id: &TxId) -> Result<(), DriveError> {
        let tx = self.span(id).await?.tx;
        let id = &tx.id();
        let Some(pins) = self.inner.pins.clone() else {
            return Err(DriveError::NeedsDiskCache("pin"));
        };
        let marker = *id;
        blocking(move || pins.add(&marker)).await?;
        if self.inner.pinned.lock().unwrap().insert(*id) {
            let disk = self.inner.disk.as_ref().expect("pins need a disk");
            tx.known_hashes().iter().for_each(|h| disk.pin(h));
            disk.pin_root(id);
        }
        Ok(())
    }

    /// Lets the transaction's blocks be evicted again. Unpinning a data item unpins the
    /// transaction that holds it, and so every other item pinned with it.
    pub async fn unpin(&self, id: &TxId) -> Result<(), DriveError> {
        let Some(pins) = self.inner.pins.clone() else {
            return Ok(());
        };
        let root = match self.item_on_disk(id) {
            true => Some(self.item(id).await?.root.id()),
            false => None,
        };
        let id = &root.unwrap_or(*id);
        let marker = *id;
        blocking(move || pins.remove(&marker)).await?;
        let unpinned = self.inner.pinned.lock().unwrap().remove(id);
        if unpinned && let Some(tx) = self.stored_tx(id).await? {
            let disk = self.inner.disk.as_ref().expect("pins need a disk");
            tx.known_hashes().iter().for_each(|h| disk.unpin(h));
            disk.unpin_root(id);
        }
        Ok(())
    }

    /// Whether `id` is pinned: a transaction, or a data item (pinned with its root
    /// transaction, so as far as this Drive knows where the item sits: in memory or in the
    /// cache directory).
    pub fn is_pinned(&self, id: &TxId) -> bool {
        self.tx_pinned(id)
            || self
                .known_root(id)
                .is_some_and(|root| self.tx_pinned(&root))
    }

    /// Whether transaction `id` is pinned (what the read path asks, per chunk: no lookup).
    pub(super) fn tx_pinned(&self, id: &TxId) -> bool {
        self.inner.pinned.lock().unwrap().contains(id)
    }

    /// Evicts unpinned blocks, and records past their share, until the disk cache is within
    /// `target` bytes. Returns the bytes of blocks freed.
    pub fn gc(&self, target: u64) -> Result<u64, DriveError> {
        let records = self.trim_records(target);
        match &self.inner.disk {
            Some(disk) => Ok(disk.evict_to(target.saturating_sub(records))?),
            None => Ok(0),
        }
    }

    /// Notes a record written or read (blocking), and trims the records to their share of
    /// the budget if they went past it.
    pub(super) fn record_used(&self, kind: RecordKind, id: &TxId) {
        let Some(records) = &self.inner.records else {
            return;
        };
        records.used(kind, id);
        if records.bytes() > self.inner.config.disk_budget / RECORDS_SHARE {
            self.trim_records(self.inner.config.disk_budget);
        } else if let Some(disk) = &self.inner.disk {
            disk.reserve(records.bytes());
        }
    }

    /// Deletes the least recently used unpinned records past their share of `budget`, and
    /// tells the block store what the rest take. Returns that. Blocking.
    pub(super) fn trim_records(&self, budget: u64) -> u64 {
        let Some(records) = &self.inner.records else {
            return 0;
        };
        let pinned = self.inner.pinned.lock().unwrap().clone();
        let keep = |kind: RecordKind, id: &TxId| match kind {
            RecordKind::Tx => pinned.contains(id),
            RecordKind::Item => {
                !pinned.is_empty()
                    && self
                        .inner
                        .item_store
                        .as_ref()
                        .and_then(|s| s.root_of(id))
                        .is_some_and(|root| pinned.contains(&root))
            }
        };
        for (kind, id) in records.over(budget / RECORDS_SHARE, keep) {
            let removed = match kind {
                RecordKind::Tx => {
                    self.inner.txs.lock().unwrap().pop(&id);
                    self.inner.maps.as_ref().map(|m| m.remove(&id))
                }
                RecordKind::Item => {
                    self.inner.items.lock().unwrap().pop(&id);
                    self.inner.item_store.as_ref().map(|s| s.remove(&id))
                }
            };
            if let Some(Err(e)) = removed {
                tracing::warn!(%id, error = %e, "could not remove a record past the budget");
            }
        }
        let bytes = records.bytes();
        if let Some(disk) = &self.inner.disk {
            disk.reserve(bytes);
        }
        bytes
    }

    /// Removes every unpinned block and the maps of unpinned transactions.
    pub fn clear(&self) -> Result<(), DriveError> {
        let (Some(disk), Some(maps)) = (&self.inner.disk, &self.inner.maps) else {
            return Ok(());
        };
        disk.clear()?;
        for id in maps.list()? {
            if !self.tx_pinned(&id) {
                maps.remove(&id)?;
                self.inner.txs.lock().unwrap().pop(&id);
                self.forget_record(RecordKind::Tx, &id);
            }
        }
        if let Some(items) = &self.inner.item_store {
            for id in items.list()? {
                if !items.root_of(&id).is_some_and(|r| self.tx_pinned(&r)) {
                    items.remove(&id)?;
                    self.inner.items.lock().unwrap().pop(&id);
                    self.forget_record(RecordKind::Item, &id);
                }
            }
        }
        Ok(())
    }

    fn forget_record(&self, kind: RecordKind, id: &TxId) {
        if let Some(records) = &self.inner.records {
            records.removed(kind, id);
        }
    }

    pub(super) fn restore_pins(&self) -> Result<(), DriveError> {
        let (Some(pins), Some(disk)) = (&self.inner.pins, &self.inner.disk) else {
            return Ok(());
        };
        for id in pins.list()? {
            self.inner.pinned.lock().unwrap().insert(id);
            disk.pin_root(&id);
            if let Some(tx) = self.cached_tx(&id)? {
                tx.known_hashes().iter().for_each(|h| disk.pin(h));
            }
        }
        Ok(())
    }

    /// Chunks of `tx` a restart would not find: no block file, or no entry in the chunk map
    /// on disk.
    async fn chunks_not_kept(&self, span: &Span) -> Result<usize, DriveError> {
        let chunks = span.chunks();
        let (Some(disk), Some(maps)) = (self.inner.disk.clone(), self.inner.maps.clone()) else {
            return Ok(chunks.len());
        };
        let id = span.tx.id();
        tokio::task::spawn_blocking(move || {
            let Some(stored) = maps.load(&id)? else {
                return Ok(chunks.len());
            };
            let kept = |i: usize| stored.known_hash(i).is_some_and(|h| disk.contains(&h));
            Ok(chunks.filter(|&i| !kept(i)).count())
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
