//! Transactions on the Drive: authenticated headers with their data located (a chunk proven
//! there first), from memory, the disk cache, or (once, however many ask) the network; and
//! moved to another place when their chunks prove nowhere at the one first reported.

use std::sync::Arc;

use super::info::Counters;
use super::{Drive, DriveError, blocking};
use crate::arweave::{TxError, TxHeader, TxId};
use crate::gateway::{ChunkProof, GatewayError, TxLocation, VerifiedChunk, verify_chunk};
use crate::store::records::RecordKind;
use crate::store::txmap::TxRecord;
use crate::units::format_size;

impl Drive {
    /// A transaction from memory, the disk cache, or (once, however many ask) the network.
    pub(super) async fn tx(&self, id: &TxId) -> Result<Arc<TxRecord>, DriveError> {
        self.tx_checked(id, |_| Ok(())).await
    }

    /// [`Self::tx`], refused when `check` refuses its authenticated header: before the data
    /// is located or anything is kept, when it comes from the network (a bundle root must be
    /// tagged as one, whatever size it claims).
    pub(super) async fn tx_checked(
        &self,
        id: &TxId,
        check: impl Fn(&TxHeader) -> Result<(), DriveError>,
    ) -> Result<Arc<TxRecord>, DriveError> {
        if let Some(tx) = self.inner.txs.lock().unwrap().get(id) {
            check(&tx.header)?;
            return Ok(tx);
        }
        let joined = self.inner.tx_flights.get(id);
        let tx = match joined {
            Some(flight) => flight.await?,
            None => match self.stored_tx(id).await? {
                Some(tx) => tx,
                None => {
                    let header = self.fetch_header(id).await?;
                    check(&header)?;
                    let (flight, _) = self.inner.tx_flights.join(*id, || {
                        let drive = self.clone();
                        async move {
                            let result = drive.complete_tx(header).await;
                            if let Ok(tx) = &result {
                                drive.remember_tx(tx.clone());
                            }
                            result
                        }
                    });
                    flight.await?
                }
            },
        };
        check(&tx.header)?;
        Ok(tx)
    }

    pub(super) fn remember_tx(&self, tx: Arc<TxRecord>) {
        // A format-1 header holds its data; a large map, up to 2 MiB of hashes in memory.
        let weight = 4096 + tx.header.data.len() as u64 + 33 * tx.chunk_count().min(1 << 16) as u64;
        self.inner.txs.lock().unwrap().put(tx.id(), tx, weight);
    }

    /// From the disk cache only, without network. Blocking (file reads, a signature check).
    pub(super) fn cached_tx(&self, id: &TxId) -> Result<Option<Arc<TxRecord>>, DriveError> {
        if let Some(tx) = self.inner.txs.lock().unwrap().get(id) {
            return Ok(Some(tx));
        }
        let Some(maps) = &self.inner.maps else {
            return Ok(None);
        };
        Ok(maps.load(id)?.map(|tx| {
            let tx = Arc::new(tx);
            self.record_used(RecordKind::Tx, id);
            self.remember_tx(tx.clone());
            tx
        }))
    }

    /// [`Self::cached_tx`] off the runtime's threads.
    pub(super) async fn stored_tx(&self, id: &TxId) -> Result<Option<Arc<TxRecord>>, DriveError> {
        let (drive, id) = (self.clone(), *id);
        blocking(move || drive.cached_tx(&id)).await
    }

    /// An authenticated header from the source.
    async fn fetch_header(&self, id: &TxId) -> Result<TxHeader, DriveError> {
        let header = self.inner.source.tx_header(id).await?;
        let header = self.verified_header(id, header).await?;
        Counters::add(&self.inner.counters.headers_fetched, 1);
        Ok(header)
    }

    /// `header` as the source served it for `id`, checked here whatever the source checked:
    /// it must carry this id, keep the field rules, and its signature (over the data too, for
    /// format 1) must verify (off the runtime threads), with a data_size within the limit.
    async fn verified_header(&self, id: &TxId, header: TxHeader) -> Result<TxHeader, GatewayError> {
        let what = format!("header of {id}");
        if header.id != *id {
            let wrong = TxError::WrongId {
                expected: *id,
                got: header.id,
            };
            return Err(self.source_lie(what, wrong.to_string()));
        }
        let limit = self.inner.config.gateway.max_data_size;
        if header.data_size > limit {
            return Err(GatewayError::Invalid {
                what,
                detail: format!(
                    "{} serve it signed with data_size {} ({}), above the limit of {} \
                     (max_data_size, well above the largest real transactions); if it is \
                     real, raise the limit with --max-data-size",
                    self.source_labels().join(", "),
                    header.data_size,
                    format_size(header.data_size),
                    format_size(limit),
                ),
            });
        }
        let verified = tokio::task::spawn_blocking(move || header.verify().map(|()| header))
            .await
            .unwrap_or_else(|e| Err(TxError::Malformed(format!("verification task: {e}"))));
        verified.map_err(|e| self.source_lie(what, e.to_string()))
    }

    /// Where the source says `header`'s data sits (the first gateway's word, or only gateway
    /// `only`'s), as a location built from the verified header: the source gives only the
    /// end offset, never the data_root or size chunks are proven against.
    async fn location(
        &self,
        header: &TxHeader,
        only: Option<usize>,
    ) -> Result<TxLocation, GatewayError> {
        let id = header.id;
        let data_root = TxLocation::data_root_of(header)?;
        let end_offset = self.inner.source.tx_offset(header, only).await?;
        if !TxLocation::end_offset_fits(end_offset, header.data_size) {
            let detail = format!("offset {end_offset} is before the weave start");
            return Err(self.source_lie(format!("offset of {id}"), detail));
        }
        Ok(TxLocation {
            id,
            data_root,
            data_size: header.data_size,
            end_offset,
        })
    }

    /// The chunk holding byte `offset` of the data at `location`, from the source and proven
    /// here against the location's (signed) data_root.
    pub(super) async fn proven_chunk(
        &self,
        location: &TxLocation,
        offset: u64,
    ) -> Result<VerifiedChunk, GatewayError> {
        let proof = self.inner.source.chunk(location, offset).await?;
        self.check_proof(location, offset, proof)
    }

    /// A chunk's proof as a source served it, proven here against the location's (signed)
    /// data_root; taken as proven when this crate's client already proved these very bytes.
    pub(super) fn check_proof(
        &self,
        location: &TxLocation,
        offset: u64,
        proof: ChunkProof,
    ) -> Result<VerifiedChunk, GatewayError> {
        if let Some(chunk) = proof.proven_for(location, offset) {
            return Ok(chunk);
        }
        verify_chunk(location, offset, proof).map_err(|e| {
            let what = format!("chunk at byte {offset} of {}", location.id);
            GatewayError::from_attempts(what, vec![(self.source_labels().join(", "), e)])
        })
    }

    /// The record of a freshly fetched header: its data located (and a chunk proven there),
    /// kept on disk when there is a disk cache.
    async fn complete_tx(&self, header: TxHeader) -> Result<Arc<TxRecord>, DriveError> {
        let (location, first) = if header.format == 2 && header.data_size > 0 {
            let (location, chunk) = self.locate_proven(&header).await?;
            (Some(location), Some(chunk))
        } else {
            (None, None)
        };
        let tx = match self.inner.maps.clone() {
            None => Arc::new(TxRecord::in_memory(header, location)),
            Some(maps) => {
                let fallback = header.clone();
                let (drive, id) = (self.clone(), header.id);
                let created = blocking(move || {
                    let created = maps.create(header, location);
                    drive.record_used(RecordKind::Tx, &id);
                    Ok::<_, DriveError>(created)
                })
                .await?;
                // A disk that cannot take the map (full, read-only) must not stop reads: this
                // process keeps the map in memory and the network still serves.
                Arc::new(created.unwrap_or_else(|e| {
                    self.disk_write_failed(&e, "could not store chunk map on disk");
                    TxRecord::in_memory(fallback, location)
                }))
            }
        };
        if let Some(chunk) = first {
            // Most readers start at the beginning: keep it hot too. (A non-standard layout is
            // reported by the reads that need the chunks.)
            let hash = chunk.leaf.data_hash;
            if let Ok(bytes) = self.store_chunk(&tx, 0, chunk).await {
                self.inner.memory.put(hash, bytes);
            }
        }
        Ok(tx)
    }

    /// Where the data sits, with its first chunk proven there before the place is kept: a
    /// wrong `/offset` answer would otherwise make every chunk fail its proof at every gateway,
    /// for good. When the first gateway's place fails, each gateway is asked for its own.
    async fn locate_proven(
        &self,
        header: &TxHeader,
    ) -> Result<(TxLocation, VerifiedChunk), DriveError> {
        let first = self.location(header, None).await?;
        let failure = match self.proven_chunk(&first, 0).await {
            Ok(chunk) => return Ok((first, chunk)),
            Err(e) if e.is_integrity() => e,
            Err(e) => return Err(e.into()),
        };
        match self.other_location(header, first.end_offset, 0).await {
            Some(found) => Ok(found),
            None => Err(failure.into()),
        }
    }

    /// Asks each gateway where the data sits, and returns the first place other than
    /// `tried` where the chunk holding byte `offset` proves.
    async fn other_location(
        &self,
        header: &TxHeader,
        tried: u64,
        offset: u64,
    ) -> Option<(TxLocation, VerifiedChunk)> {
        let source = &self.inner.source;
        let mut tried = vec![tried];
        for gateway in source.priority_order() {
            let Ok(location) = self.location(header, Some(gateway)).await else {
                continue;
            };
            if tried.contains(&location.end_offset) {
                continue;
            }
            tried.push(location.end_offset);
            if let Ok(chunk) = self.proven_chunk(&location, offset).await {
                tracing::warn!(
                    id = %header.id,
                    gateway = source.labels().get(gateway).map(String::as_str),
                    end_offset = location.end_offset,
                    "the data proves at another place than first reported; using it"
                );
                return Some((location, chunk));
            }
        }
        None
    }

    /// After chunk `index` failed its proof at every gateway: asks the gateways again where
    /// the data sits and moves the record there (on disk too) if a place proves the chunk.
    /// Once at a time per transaction; returns whether the place changed.
    pub(super) async fn relocate(
        &self,
        tx: &Arc<TxRecord>,
        index: usize,
    ) -> Result<bool, DriveError> {
        let (flight, _) = self.inner.relocations.join(tx.id(), || {
            let (drive, tx) = (self.clone(), tx.clone());
            async move { drive.try_relocate(&tx, index).await }
        });
        flight.await
    }

    async fn try_relocate(&self, tx: &Arc<TxRecord>, index: usize) -> Result<bool, DriveError> {
        let current = tx.location().map_or(0, |l| l.end_offset);
        let offset = tx.chunk_range(index).start;
        let Some((location, _)) = self.other_location(&tx.header, current, offset).await else {
            return Ok(false);
        };
        let record = tx.clone();
        blocking(move || record.relocate(location.end_offset)).await?;
        Ok(true)
    }
}
