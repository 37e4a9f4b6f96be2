//! ANS-104 data items on the Drive. An item's bytes are a stretch of its root transaction's
//! data, so they are read through that transaction's chunks, each verified against its
//! data_root as usual. Where the item sits comes from the gateway (ar.io's `/raw/{id}` headers
//! name the root and the item's offset) and is trusted only after checking it against the
//! verified bytes: the bundle index (nested bundles walked level by level) must list this id
//! at that offset, and the item header found there must have this id (the SHA-256 of its
//! signature).
//!
//! That proves the bytes are what the bundle's signer put under this id. That they are what
//! the item's own signer signed needs the item's signature, which covers all of its data:
//! items up to [`WHOLE_ITEM_MAX`] are checked in full before the first byte is served; larger
//! ones are served as their chunks verify, and their signature is checked once all the data
//! has been read (`preload` does it). An item whose signature fails is never served again.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha384};

use super::{Drive, DriveError};
use crate::arweave::ans104::{DataItem, ItemError, SignatureType, Verification};
use crate::arweave::bundle::{self, Index, MAX_NESTING};
use crate::arweave::{Tag, TxId, b64};
use crate::txmap::TxRecord;

/// Items up to this size have their signature checked over all their data before any of it
/// is served; larger ones stream (see the module docs).
pub const WHOLE_ITEM_MAX: u64 = 16 << 20;
/// Most item headers fit in this; longer ones (many large tags) are read again in full.
const FIRST_HEADER_READ: u64 = 16 << 10;
/// The longest header ANS-104 allows: type, multi-Aptos signature and owner, target, anchor,
/// counts and 128 tags of the longest names and values (with their length prefixes).
const MAX_HEADER_LEN: u64 = 2 + 2052 + 1025 + 66 + 16 + 128 * (1024 + 3072 + 20) + 20;
/// Data read at a time while hashing an item for its signature.
const HASH_PIECE: u64 = 4 << 20;

/// How an item's bytes were verified, for `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationMode {
    /// Its signature was checked over all its data before the first byte was served.
    WholeItem,
    /// Each chunk is verified against the root transaction's data_root as it arrives; the
    /// item's own signature is checked once all the data has been read.
    ChunksThroughBundle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    Verified,
    /// Not yet: the data has not all been read.
    Pending,
    /// A signature type this build parses but does not check.
    Unsupported(SignatureType),
    /// The signature does not match the data: the item is not served.
    Failed,
}

impl SignatureCheck {
    fn stored(self) -> &'static str {
        match self {
            SignatureCheck::Verified => "verified",
            SignatureCheck::Failed => "failed",
            SignatureCheck::Pending | SignatureCheck::Unsupported(_) => "pending",
        }
    }
}

/// A data item as `stat` shows it (beside its size and tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemInfo {
    /// The base-layer transaction whose data holds the item.
    pub root: TxId,
    /// Bundles between the root and the item (nested bundles), outermost first.
    pub parents: Vec<TxId>,
    /// Where the item's data starts in the root transaction's data.
    pub data_offset_in_root: u64,
    pub signature_type: SignatureType,
    pub mode: VerificationMode,
    pub signature: SignatureCheck,
}

pub(crate) struct ItemRecord {
    pub id: TxId,
    pub root: Arc<TxRecord>,
    pub parents: Vec<TxId>,
    /// Where the item (its header) starts in the root's data, and its size there.
    pub start: u64,
    pub size_in_bundle: u64,
    /// Where its data starts in the root's data, and the data's size.
    pub data_start: u64,
    pub size: u64,
    pub header: DataItem,
    pub mode: VerificationMode,
    check: Mutex<SignatureCheck>,
}

impl ItemRecord {
    /// An item whose signature failed is refused from then on.
    pub fn usable(&self) -> Result<(), DriveError> {
        match *self.check.lock().unwrap() {
            SignatureCheck::Failed => Err(DriveError::BadItem {
                id: self.id,
                reason: "its signature does not match its data".into(),
            }),
            _ => Ok(()),
        }
    }

    pub fn signature_pending(&self) -> bool {
        *self.check.lock().unwrap() == SignatureCheck::Pending
    }

    pub fn info(&self) -> ItemInfo {
        ItemInfo {
            root: self.root.id(),
            parents: self.parents.clone(),
            data_offset_in_root: self.data_start,
            signature_type: self.header.signature_type,
            mode: self.mode,
            signature: *self.check.lock().unwrap(),
        }
    }

    /// What `/tx/<item-id>` shows: the item's header fields, encoded as transaction headers
    /// are (base64url binary, decimal sizes), and where it is bundled.
    pub fn json(&self) -> Vec<u8> {
        let header = &self.header;
        let optional = |field: Option<[u8; 32]>| field.map(|f| b64::encode(&f)).unwrap_or_default();
        let tags: Vec<_> = header
            .tags
            .iter()
            .map(|t| serde_json::json!({"name": b64::encode(&t.name), "value": b64::encode(&t.value)}))
            .collect();
        let value = serde_json::json!({
            "format": "ans104",
            "id": self.id.to_string(),
            "signature_type": header.signature_type as u16,
            "signature": b64::encode(&header.signature),
            "owner": b64::encode(&header.owner),
            "owner_address": owner_address(&header.owner),
            "target": optional(header.target),
            "anchor": optional(header.anchor),
            "tags": tags,
            "data_size": self.size.to_string(),
            "bundled_in": self.parents.last().copied().unwrap_or(self.root.id()).to_string(),
            "root_transaction": self.root.id().to_string(),
        });
        let mut text = serde_json::to_vec_pretty(&value).expect("a JSON value always serializes");
        text.push(b'\n');
        text
    }

    pub fn tags(&self) -> &[Tag] {
        &self.header.tags
    }

    fn stored(&self) -> StoredItem {
        StoredItem {
            root: self.root.id().to_string(),
            parents: self.parents.iter().map(|p| p.to_string()).collect(),
            start: self.start,
            size_in_bundle: self.size_in_bundle,
            signature: self.check.lock().unwrap().stored().into(),
        }
    }
}

/// The address of an item's owner as ar.io gateways and arbundles give it: the base64url
/// SHA-256 of the owner's public key.
pub fn owner_address(owner: &[u8]) -> String {
    b64::encode(&sha2::Sha256::digest(owner))
}

/// Where a resolved item sits, kept in the cache directory so a restart finds it without
/// asking a gateway (the header is read again from the cached, verified bundle bytes).
#[derive(Serialize, Deserialize)]
struct StoredItem {
    root: String,
    parents: Vec<String>,
    start: u64,
    size_in_bundle: u64,
    signature: String,
}

pub(crate) struct ItemStore {
    dir: PathBuf,
}

impl ItemStore {
    pub fn open(cache_dir: &Path) -> io::Result<ItemStore> {
        let dir = cache_dir.join("items");
        std::fs::create_dir_all(&dir)?;
        Ok(ItemStore { dir })
    }

    fn path(&self, id: &TxId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.path(id).exists()
    }

    /// The record of `id`; a record that does not parse (a damaged disk) counts as none, so
    /// the item is resolved again rather than unreadable.
    fn load(&self, id: &TxId) -> io::Result<Option<StoredItem>> {
        match std::fs::read(self.path(id)) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)
                .inspect_err(|e| tracing::warn!(%id, error = %e, "unreadable item record"))
                .ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The root transaction a stored item record names.
    pub fn root_of(&self, id: &TxId) -> Option<TxId> {
        self.load(id).ok()??.root.parse().ok()
    }

    /// Written to a temporary file and renamed: a crash leaves the old record or the new.
    fn save(&self, id: &TxId, item: &StoredItem) -> io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        serde_json::to_writer(&mut file, item).map_err(io::Error::other)?;
        file.persist(self.path(id)).map_err(|e| e.error)?;
        Ok(())
    }

    pub fn list(&self) -> io::Result<Vec<TxId>> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            if let Some(id) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    pub fn remove(&self, id: &TxId) -> io::Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// An item found in verified bundle bytes.
struct Located {
    start: u64,
    size_in_bundle: u64,
    header: DataItem,
    parents: Vec<TxId>,
}

pub(super) type ItemFlights = Mutex<HashMap<TxId, super::Flight<Arc<ItemRecord>>>>;

impl Drive {
    /// The data item `id`, from memory, the cache directory, or (once, however many ask) the
    /// gateways and its bundle.
    pub(super) async fn item(&self, id: &TxId) -> Result<Arc<ItemRecord>, DriveError> {
        if let Some(item) = self.inner.items.lock().unwrap().get(id) {
            return Ok(item.clone());
        }
        let flight = super::join_flight(&self.inner.item_flights, id, || {
            let (drive, id) = (self.clone(), *id);
            async move {
                let result = match drive.load_item(&id).await {
                    Ok(Some(item)) => Ok(item),
                    Ok(None) => drive.resolve_item(&id).await,
                    Err(e) => Err(e),
                };
                if let Ok(item) = &result {
                    drive.inner.items.lock().unwrap().insert(id, item.clone());
                }
                drive.inner.item_flights.lock().unwrap().remove(&id);
                result
            }
        });
        flight.await
    }

    pub(super) fn item_on_disk(&self, id: &TxId) -> bool {
        self.inner.items.lock().unwrap().contains_key(id)
            || self
                .inner
                .item_store
                .as_ref()
                .is_some_and(|s| s.contains(id))
    }

    async fn load_item(&self, id: &TxId) -> Result<Option<Arc<ItemRecord>>, DriveError> {
        let Some(store) = &self.inner.item_store else {
            return Ok(None);
        };
        let Some(stored) = store.load(id)? else {
            return Ok(None);
        };
        let corrupt = |what: &str| io::Error::other(format!("item record {id}: bad {what}"));
        let root: TxId = stored.root.parse().map_err(|_| corrupt("root"))?;
        let parents = stored
            .parents
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<TxId>, _>>()
            .map_err(|_| corrupt("parent"))?;
        let root = self.tx(&root).await?;
        let header = self
            .read_item_header(&root, stored.start, stored.size_in_bundle)
            .await?
            .map_err(|e| corrupt(&e.to_string()))?;
        if header.id() != *id {
            return Err(corrupt("offset").into());
        }
        let check = match stored.signature.as_str() {
            "verified" => SignatureCheck::Verified,
            "failed" => SignatureCheck::Failed,
            _ => initial_check(&header),
        };
        let located = Located {
            start: stored.start,
            size_in_bundle: stored.size_in_bundle,
            header,
            parents,
        };
        Ok(Some(Arc::new(record(*id, root, located, check))))
    }

    async fn resolve_item(&self, id: &TxId) -> Result<Arc<ItemRecord>, DriveError> {
        let hint = self.inner.client.item_hint(id).await?;
        let root = self.tx(&hint.root).await?;
        if !bundle::is_bundle(&root.header.tags) {
            return Err(bad(
                id,
                format!(
                    "the gateway says transaction {} holds it, but that is not tagged as a \
                     bundle (Bundle-Format: binary, Bundle-Version: 2.0.0)",
                    hint.root
                ),
            ));
        }
        let located = self.locate(&root, id, hint.item_offset).await?;
        let check = initial_check(&located.header);
        let item = Arc::new(record(*id, root, located, check));
        if item.mode == VerificationMode::WholeItem {
            self.check_item_signature(&item).await?;
        }
        self.save_item(&item);
        Ok(item)
    }

    /// Walks the bundle index from the root's data down to the item: by the gateway's offset
    /// when it gave one (through nested bundles), else by id in the root's own bundle.
    async fn locate(
        &self,
        root: &Arc<TxRecord>,
        id: &TxId,
        hint: Option<u64>,
    ) -> Result<Located, DriveError> {
        let (mut base, mut len) = (0, root.size());
        let mut parents = Vec::new();
        for _ in 0..MAX_NESTING {
            let index = self
                .bundle_index(root, base, len)
                .await?
                .map_err(|e| bad(id, format!("bundle at byte {base} of {}: {e}", root.id())))?;
            let entry = match hint {
                Some(at) => at
                    .checked_sub(base)
                    .and_then(|offset| index.containing(offset))
                    .ok_or_else(|| {
                        bad(
                            id,
                            format!(
                                "the gateway places it at byte {at} of {}, where the bundle \
                                 there has no item",
                                root.id()
                            ),
                        )
                    })?,
                None => index.find(id).ok_or_else(|| {
                    bad(
                        id,
                        format!(
                            "not listed in bundle {}, and the gateway gave no offset to find \
                             it in a nested bundle",
                            root.id()
                        ),
                    )
                })?,
            };
            let start = base + entry.start;
            let header = self
                .read_item_header(root, start, entry.size)
                .await?
                .map_err(|e| bad(id, format!("item {} at byte {start}: {e}", entry.id)))?;
            if header.id() != entry.id {
                return Err(bad(
                    id,
                    format!(
                        "the bundle index lists {} at byte {start} of {}, but the item there \
                         has id {}",
                        entry.id,
                        root.id(),
                        header.id()
                    ),
                ));
            }
            if entry.id == *id {
                if let Some(at) = hint.filter(|&at| at != start) {
                    return Err(bad(
                        id,
                        format!("the gateway places it at byte {at}, but it starts at {start}"),
                    ));
                }
                return Ok(Located {
                    start,
                    size_in_bundle: entry.size,
                    header,
                    parents,
                });
            }
            if !bundle::is_bundle(&header.tags) {
                return Err(bad(
                    id,
                    format!(
                        "the gateway places it inside item {}, which is not a bundle",
                        entry.id
                    ),
                ));
            }
            parents.push(entry.id);
            base = start + header.data_offset as u64;
            len = entry.size - header.data_offset as u64;
        }
        Err(bad(
            id,
            format!("nested in more than {MAX_NESTING} bundles"),
        ))
    }

    /// The index of the bundle at `base..base + len` of the root's data, from verified
    /// bytes. The outer error is a failed read; the inner one says what is wrong with it.
    async fn bundle_index(
        &self,
        root: &Arc<TxRecord>,
        base: u64,
        len: u64,
    ) -> Result<Result<Index, String>, DriveError> {
        let head = self.read_tx(root, base, 32.min(len)).await?;
        let Ok(head) = <&[u8; 32]>::try_from(&head[..]) else {
            return Ok(Err("shorter than its item count".into()));
        };
        let count = match Index::count(head) {
            Ok(count) if Index::len_for(count) <= len => count,
            Ok(count) => {
                return Ok(Err(format!(
                    "an index of {count} items does not fit in {len} bytes"
                )));
            }
            Err(e) => return Ok(Err(e.to_string())),
        };
        let entries = self
            .read_tx(root, base + 32, Index::len_for(count) - 32)
            .await?;
        Ok(Index::parse(&entries, count, len).map_err(|e| e.to_string()))
    }

    /// Parses the item header at `start` of the root's data (an item of `size` bytes).
    async fn read_item_header(
        &self,
        root: &Arc<TxRecord>,
        start: u64,
        size: u64,
    ) -> Result<Result<DataItem, ItemError>, DriveError> {
        let first = self
            .read_tx(root, start, size.min(FIRST_HEADER_READ))
            .await?;
        Ok(match DataItem::parse_header(&first) {
            Err(ItemError::Truncated(_)) if size > FIRST_HEADER_READ => {
                let all = self.read_tx(root, start, size.min(MAX_HEADER_LEN)).await?;
                DataItem::parse_header(&all)
            }
            parsed => parsed,
        })
    }

    /// Reads all of the item's data (verified chunk by chunk, and cached) and checks its
    /// signature over it, once. Fails, and marks the item unusable, if it does not match.
    pub(super) async fn check_item_signature(
        &self,
        item: &Arc<ItemRecord>,
    ) -> Result<SignatureCheck, DriveError> {
        let now = *item.check.lock().unwrap();
        if now != SignatureCheck::Pending {
            item.usable()?;
            return Ok(now);
        }
        let mut digest = ItemDigest::default();
        while digest.hashed < item.size {
            let n = (item.size - digest.hashed).min(HASH_PIECE);
            let at = item.data_start + digest.hashed;
            let bytes: Bytes = self.read_tx(&item.root, at, n).await?;
            digest.add(digest.hashed, &bytes);
        }
        self.finish_item_check(item, digest)
    }

    /// Checks the item's signature against the digest of all its data, once, and remembers
    /// the outcome. Fails if the signature does not match.
    pub(super) fn finish_item_check(
        &self,
        item: &ItemRecord,
        digest: ItemDigest,
    ) -> Result<SignatureCheck, DriveError> {
        assert_eq!(digest.hashed, item.size, "a digest of all the data");
        let mut check = item.check.lock().unwrap();
        if *check == SignatureCheck::Pending {
            let sha384 = digest.hasher.finalize().into();
            *check = match item.header.verify_with_data_digest(item.size, sha384) {
                Ok(Verification::Verified) => SignatureCheck::Verified,
                Ok(Verification::Unverified(kind)) => SignatureCheck::Unsupported(kind),
                Err(_) => SignatureCheck::Failed,
            };
            drop(check);
            self.save_item(item);
        } else {
            drop(check);
        }
        item.usable()?;
        Ok(*item.check.lock().unwrap())
    }

    /// Remembers where the item is (best effort: without it, a restart asks a gateway again).
    fn save_item(&self, item: &ItemRecord) {
        if let Some(store) = &self.inner.item_store
            && let Err(e) = store.save(&item.id, &item.stored())
        {
            self.disk_write_failed(&e, "could not store a data item's location");
        }
    }
}

/// SHA-384 of an item's data, fed in order from the start.
#[derive(Default)]
pub(super) struct ItemDigest {
    hasher: Sha384,
    /// Bytes hashed so far: the next piece must start here.
    pub hashed: u64,
}

impl ItemDigest {
    /// Adds `bytes` found at `offset` of the data; anything but the next piece is ignored
    /// (returns whether it was taken).
    pub fn add(&mut self, offset: u64, bytes: &[u8]) -> bool {
        if offset != self.hashed || bytes.is_empty() {
            return false;
        }
        self.hasher.update(bytes);
        self.hashed += bytes.len() as u64;
        true
    }
}

fn bad(id: &TxId, reason: String) -> DriveError {
    DriveError::BadItem { id: *id, reason }
}

fn initial_check(header: &DataItem) -> SignatureCheck {
    if header.signature_type.is_verified() {
        SignatureCheck::Pending
    } else {
        SignatureCheck::Unsupported(header.signature_type)
    }
}

fn record(id: TxId, root: Arc<TxRecord>, at: Located, check: SignatureCheck) -> ItemRecord {
    let data_offset = at.header.data_offset as u64;
    let size = at.size_in_bundle - data_offset;
    let mode = if size <= WHOLE_ITEM_MAX && at.header.signature_type.is_verified() {
        VerificationMode::WholeItem
    } else {
        VerificationMode::ChunksThroughBundle
    };
    ItemRecord {
        id,
        root,
        parents: at.parents,
        start: at.start,
        size_in_bundle: at.size_in_bundle,
        data_start: at.start + data_offset,
        size,
        header: at.header,
        mode,
        check: Mutex::new(check),
    }
}
