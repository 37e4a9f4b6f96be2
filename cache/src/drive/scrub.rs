//! `cache verify`: the scrub. Blocks entered the disk tier only after their Merkle proof, and
//! reads check each block's page checksums; a scrub checks more, and all of it at once: every
//! block file whole against the SHA-256 it is named by (what a page checksum recomputed by a
//! bad disk or a local hand cannot fake), and every record (a header's signature, a chunk
//! map's checksums) by loading it. What fails is removed, as a read would remove it; a repair
//! then fetches the chunks the cached transactions name again, each proven as usual.

use std::collections::HashSet;

use futures::StreamExt;

use super::{Drive, DriveError, blocking};
use crate::arweave::TxId;
use crate::store::{BlockKey, ExtentCheck, Scrubbed};

/// What [`Drive::verify_cache`] found (and, with a repair, did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheCheck {
    /// Block files checked whole and found sound, and their data bytes.
    pub sound_blocks: u64,
    pub sound_bytes: u64,
    /// Block files that failed, each removed: its key and why.
    pub corrupt: Vec<(BlockKey, String)>,
    /// Transaction and item records loaded (each checked as it loads; one that fails is
    /// dropped and fetched again when next asked for).
    pub records: u64,
    /// Chunks fetched again and proven, in place of corrupt blocks (repair only). A corrupt
    /// block no cached transaction names is not fetched: nothing needs it.
    pub refetched: u64,
    /// Chunks a repair could not fetch: which, and the error.
    pub unrepaired: Vec<String>,
    /// Extent files checked whole (every piece against its SHA-256) and found sound.
    pub sound_extents: u64,
    /// Extents that failed, each removed: whose, and why. A repair fetches such an id's
    /// data again (proven) and assembles its extent anew.
    pub corrupt_extents: Vec<(TxId, String)>,
    /// Ids of corrupt extents whose data a repair fetched again, proven, and kept.
    pub repaired_extents: u64,
}

/// Blocks checked per blocking task: progress is reported between batches.
const BATCH: usize = 64;

impl Drive {
    /// Checks every block in the cache directory against its name and loads every record;
    /// removes what fails. With `repair`, fetches again (from the gateways, proven) every
    /// chunk a cached transaction names whose block was corrupt. `progress` gets
    /// `(blocks checked, blocks)`.
    pub async fn verify_cache(
        &self,
        repair: bool,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<CacheCheck, DriveError> {
        let Some(disk) = self.inner.disk.clone() else {
            return Err(DriveError::NeedsDiskCache("cache verify"));
        };
        let keys = {
            let disk = disk.clone();
            blocking(move || disk.keys_on_disk()).await?
        };
        let total = keys.len() as u64;
        let mut check = CacheCheck {
            corrupt: disk.take_dropped_at_open(),
            ..CacheCheck::default()
        };
        progress(0, total);
        for (done, batch) in keys.chunks(BATCH).enumerate() {
            let (disk, batch) = (disk.clone(), batch.to_vec());
            let found = blocking(move || {
                batch
                    .into_iter()
                    .map(|key| disk.scrub(&key).map(|found| (key, found)))
                    .collect::<std::io::Result<Vec<_>>>()
            })
            .await?;
            for (key, found) in found {
                match found {
                    Scrubbed::Sound(bytes) => {
                        check.sound_blocks += 1;
                        check.sound_bytes += bytes;
                    }
                    Scrubbed::Corrupt(why) => check.corrupt.push((key, why)),
                    Scrubbed::Gone => {}
                }
            }
            progress((done * BATCH + BATCH).min(keys.len()) as u64, total);
        }
        for extent in disk.extents().list() {
            let disk = disk.clone();
            let (id, found) = blocking(move || {
                disk.extents()
                    .scrub(&extent)
                    .map(|found| (extent.id, found))
            })
            .await?;
            match found {
                ExtentCheck::Sound => check.sound_extents += 1,
                ExtentCheck::Corrupt(why) => check.corrupt_extents.push((id, why)),
            }
        }
        if repair {
            for (id, _) in check.corrupt_extents.clone() {
                match self.preload(&id, false, |_, _| {}).await {
                    Ok(_) => check.repaired_extents += 1,
                    Err(e) => check.unrepaired.push(format!("{id}: {e}")),
                }
            }
        }
        let corrupt: HashSet<BlockKey> = check.corrupt.iter().map(|(key, _)| *key).collect();
        for id in self.cached_ids()? {
            // Loading a transaction's record checks its header's signature and its map; an
            // item's, its place in the verified bundle.
            let tx = match self.stored_tx(&id).await? {
                Some(tx) => tx,
                None => {
                    if self.item(&id).await.is_ok() {
                        check.records += 1;
                    }
                    continue;
                }
            };
            check.records += 1;
            if !repair || corrupt.is_empty() {
                continue;
            }
            let wanted: Vec<usize> = (0..tx.chunk_count())
                .filter(|&index| tx.known_hash(index).is_some_and(|h| corrupt.contains(&h)))
                .collect();
            let fetched: Vec<Result<(), String>> = futures::stream::iter(wanted)
                .map(|index| {
                    let tx = tx.clone();
                    async move {
                        match self.fetch_chunk(&tx, index, false).await {
                            Ok(_) => Ok(()),
                            Err(e) => Err(format!("chunk {index} of {}: {e}", tx.id())),
                        }
                    }
                })
                .buffer_unordered(self.inner.config.preload_concurrency.max(1))
                .collect()
                .await;
            for outcome in fetched {
                match outcome {
                    Ok(()) => check.refetched += 1,
                    Err(e) => check.unrepaired.push(e),
                }
            }
        }
        Ok(check)
    }
}
