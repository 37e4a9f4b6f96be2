//! ANS-104 data items on the Drive. An item's bytes are a stretch of its root transaction's
//! data, so they are read through that transaction's chunks, each verified against its
//! data_root as usual. Where the item sits comes from a gateway (ar.io's `/raw/{id}` headers
//! name the root and the item's offset) and is trusted only after checking it against the
//! verified bytes: the bundle index (nested bundles walked level by level) must list this id
//! at that offset, and the item header found there must have this id (the SHA-256 of its
//! signature).
//!
//! That proves the bytes are what the bundle's signer put under this id, and the bundle's
//! signer may be the gateway itself: a copied header (signature and all, so the id matches)
//! followed by other data passes every check so far. Only the item's own signature, which
//! covers all of its data, binds the bytes to the id. So no byte of an item is served before
//! that signature has been checked over all of its data: small items (up to
//! [`WHOLE_ITEM_MAX`]) when they are resolved, larger ones by the first read, which waits for
//! the check (every later read of any part is then proven against the same root's data_root,
//! which the check covered). Signature types this build cannot check (5 to 7) are refused.
//! [`super::DriveConfig::trust_bundle_signer`] is the one way around both, off by default.
//!
//! A root whose copy of the item fails the signature is remembered as bad for that id (on
//! disk too), and the item is resolved again through the other gateways' answers, so one lying
//! gateway cannot make an item unreadable for good.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{FutureExt, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha384};
use tokio::io::AsyncWriteExt;

use super::{Drive, DriveError, Flight};
use crate::arweave::ans104::{DataItem, ItemError, SignatureType, Verification};
use crate::arweave::bundle::{self, Index, MAX_NESTING};
use crate::arweave::{Tag, TxId, b64};
use crate::gateway::ItemHint;
use crate::txmap::TxRecord;

/// Items up to this size have their signature checked as soon as they are resolved, so even
/// their size and tags are authentic from the first lookup; larger ones at the first read.
pub const WHOLE_ITEM_MAX: u64 = 16 << 20;
/// Most item headers fit in this; longer ones (many large tags) are read again in full.
const FIRST_HEADER_READ: u64 = 16 << 10;
/// The longest header ANS-104 allows: type, multi-Aptos signature and owner, target, anchor,
/// counts and 128 tags of the longest names and values (with their length prefixes).
const MAX_HEADER_LEN: u64 = 2 + 2052 + 1025 + 66 + 16 + 128 * (1024 + 3072 + 20) + 20;
/// Chunks read at once while hashing an item for its signature (the gateway's usual
/// parallelism), and how much is hashed per trip off the runtime.
const HASH_READS_AHEAD: usize = 64;
const HASH_BATCH: u64 = 4 << 20;

/// How an item's bytes are verified before they are served, for `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationMode {
    /// Its signature is checked over all its data before the first byte is served.
    WholeItem,
    /// Served as each chunk verifies against the root transaction's data_root, on the word
    /// of whoever signed the bundle (only with `trust_bundle_signer`); the item's own signature
    /// is checked by `preload`.
    ChunksThroughBundle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    Verified,
    /// Not yet: the data has not all been read.
    Pending,
    /// A signature type this build parses but does not check (served only when the bundle's
    /// signer is trusted).
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
    /// The signature check under way, joined by every reader waiting for it.
    checking: Mutex<Option<Flight<SignatureCheck>>>,
}

impl ItemRecord {
    /// An item whose signature failed is refused from then on.
    pub fn usable(&self) -> Result<(), DriveError> {
        match *self.check.lock().unwrap() {
            SignatureCheck::Failed => Err(DriveError::BadItem {
                id: self.id,
                reason: format!(
                    "its signature does not match the data that bundle {} holds under its id",
                    self.bundle()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Whether bytes may be served now: usable, and checked unless the bundle's signer is
    /// trusted. The read paths wait for [`Drive::ready`] first; this is the last line.
    pub fn servable(&self) -> Result<(), DriveError> {
        self.usable()?;
        if self.needs_check() {
            return Err(DriveError::BadItem {
                id: self.id,
                reason: "its signature has not been checked yet".into(),
            });
        }
        Ok(())
    }

    /// Whether the signature must be checked before any byte is served.
    pub fn needs_check(&self) -> bool {
        self.mode == VerificationMode::WholeItem && self.signature() == SignatureCheck::Pending
    }

    pub fn signature(&self) -> SignatureCheck {
        *self.check.lock().unwrap()
    }

    /// The bundle that holds the item directly.
    fn bundle(&self) -> TxId {
        self.parents.last().copied().unwrap_or(self.root.id())
    }

    pub fn info(&self) -> ItemInfo {
        ItemInfo {
            root: self.root.id(),
            parents: self.parents.clone(),
            data_offset_in_root: self.data_start,
            signature_type: self.header.signature_type,
            mode: self.mode,
            signature: self.signature(),
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
            "bundled_in": self.bundle().to_string(),
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
            signature: self.signature().stored().into(),
        }
    }
}

/// The address of an item's owner as ar.io gateways and arbundles give it: the base64url
/// SHA-256 of the owner's public key.
pub fn owner_address(owner: &[u8]) -> String {
    b64::encode(&sha2::Sha256::digest(owner))
}

/// Where a resolved item sits, kept in the cache directory so a restart finds it without
/// asking a gateway. Only the root and the offset are taken from it: everything else is read
/// again from the cached, verified bundle bytes (a damaged record cannot name a wrong range).
/// A record whose signature is "failed" remembers a root whose copy of the item is forged.
#[derive(Serialize, Deserialize)]
struct StoredItem {
    root: String,
    parents: Vec<String>,
    start: u64,
    size_in_bundle: u64,
    signature: String,
}

#[derive(Clone)]
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

/// What the cache directory says of an item.
enum Stored {
    None,
    Item(Arc<ItemRecord>),
    /// A root whose copy of the item failed its signature.
    ForgedIn(TxId),
}

pub(super) type ItemFlights = Mutex<std::collections::HashMap<TxId, Flight<Arc<ItemRecord>>>>;

impl Drive {
    /// The data item `id`, from memory, the cache directory, or (once, however many ask) the
    /// gateways and its bundle. An item whose signature failed is resolved again, away from
    /// the root that forged it.
    pub(super) async fn item(&self, id: &TxId) -> Result<Arc<ItemRecord>, DriveError> {
        let known = self.inner.items.lock().unwrap().get(id);
        let mut forged_in = Vec::new();
        match known {
            Some(item) if item.signature() != SignatureCheck::Failed => return Ok(item),
            Some(failed) => {
                self.inner.items.lock().unwrap().pop(id);
                forged_in.push(failed.root.id());
            }
            None => {}
        }
        let flight = super::join_flight(&self.inner.item_flights, id, || {
            let (drive, id) = (self.clone(), *id);
            async move {
                let result = match drive.load_item(&id).await {
                    Ok(Stored::Item(item)) => Ok(item),
                    Ok(Stored::ForgedIn(root)) => {
                        forged_in.push(root);
                        drive.resolve_item(&id, forged_in).await
                    }
                    Ok(Stored::None) => drive.resolve_item(&id, forged_in).await,
                    Err(e) => Err(e),
                };
                if let Ok(item) = &result {
                    drive.remember_item(item.clone());
                }
                drive.inner.item_flights.lock().unwrap().remove(&id);
                result
            }
        });
        flight.await
    }

    fn remember_item(&self, item: Arc<ItemRecord>) {
        // The header with its tags (up to ~400 KiB of them) is most of an item's weight.
        let weight = 1024 + item.header.raw_tags.len() as u64 + item.header.owner.len() as u64;
        self.inner.items.lock().unwrap().put(item.id, item, weight);
    }

    pub(super) fn item_on_disk(&self, id: &TxId) -> bool {
        self.inner.items.lock().unwrap().contains(id)
            || self
                .inner
                .item_store
                .as_ref()
                .is_some_and(|s| s.contains(id))
    }

    /// The item as an earlier run left it: found again in the verified bundle at the recorded
    /// place (a record that no longer matches is dropped and the item resolved afresh).
    async fn load_item(&self, id: &TxId) -> Result<Stored, DriveError> {
        let Some(store) = &self.inner.item_store else {
            return Ok(Stored::None);
        };
        let stored = {
            let (store, id) = (store.clone(), *id);
            tokio::task::spawn_blocking(move || store.load(&id))
                .await
                .map_err(io::Error::other)??
        };
        let Some(stored) = stored else {
            return Ok(Stored::None);
        };
        let Ok(root) = stored.root.parse::<TxId>() else {
            tracing::warn!(%id, "item record names no valid root; resolving again");
            return Ok(Stored::None);
        };
        if stored.signature == "failed" {
            return Ok(Stored::ForgedIn(root));
        }
        let root = self.tx(&root).await?;
        let located = match self.locate(&root, id, Some(stored.start)).await {
            Ok(located) => located,
            Err(DriveError::BadItem { reason, .. }) => {
                tracing::warn!(%id, %reason, "item record does not match its bundle; resolving again");
                return Ok(Stored::None);
            }
            Err(e) => return Err(e),
        };
        let mut item = self.record(*id, root, located)?;
        if stored.signature == "verified" && item.header.signature_type.is_verified() {
            item.check = Mutex::new(SignatureCheck::Verified);
        }
        Ok(Stored::Item(Arc::new(item)))
    }

    /// Asks each gateway in turn where the item is, and takes the first place whose bytes
    /// check out; roots already found to forge the item are passed over.
    async fn resolve_item(
        &self,
        id: &TxId,
        mut forged_in: Vec<TxId>,
    ) -> Result<Arc<ItemRecord>, DriveError> {
        let client = &self.inner.client;
        let mut not_found = Vec::new();
        let mut last_error = None;
        for gateway in client.priority_order() {
            let hint = match client.item_hint_on(id, gateway).await {
                Ok(hint) => hint,
                Err(e) if e.is_not_found() => {
                    not_found.push(e);
                    continue;
                }
                Err(e) => {
                    last_error = Some(e.into());
                    continue;
                }
            };
            if forged_in.contains(&hint.root) {
                last_error = Some(bad(
                    id,
                    format!(
                        "{} places it in bundle {}, whose copy does not match the item's \
                         signature",
                        client.gateway_label(gateway),
                        hint.root
                    ),
                ));
                continue;
            }
            match self.place_item(id, hint).await {
                Ok(item) => return Ok(item),
                Err(e @ DriveError::UnverifiableItem { .. }) => return Err(e),
                Err(e) => {
                    if matches!(&e, DriveError::BadItem { .. }) {
                        forged_in.push(hint.root);
                    }
                    tracing::debug!(%id, gateway = client.gateway_label(gateway), error = %e, "item place refused");
                    last_error = Some(e);
                }
            }
        }
        match (last_error, not_found.pop()) {
            (Some(e), _) => Err(e),
            (None, Some(not_found)) => Err(not_found.into()),
            (None, None) => Err(bad(id, "no gateway was asked".into())),
        }
    }

    /// Checks a gateway's word on where item `id` lives against the verified bundle bytes,
    /// and a small item's signature; keeps what it learns (a forged copy too).
    async fn place_item(&self, id: &TxId, hint: ItemHint) -> Result<Arc<ItemRecord>, DriveError> {
        let root = self.bundle_root(id, &hint.root).await?;
        let located = self.locate(&root, id, hint.item_offset).await?;
        let item = Arc::new(self.record(*id, root, located)?);
        if item.size <= WHOLE_ITEM_MAX && item.needs_check() {
            self.ready_item(&item).await?;
        }
        self.save_item(&item).await;
        Ok(item)
    }

    /// The root transaction a gateway names, refused before its data is located unless its
    /// (signed) tags say it is a bundle.
    async fn bundle_root(&self, id: &TxId, root: &TxId) -> Result<Arc<TxRecord>, DriveError> {
        let not_a_bundle = || {
            bad(
                id,
                format!(
                    "the gateway says transaction {root} holds it, but that is not tagged as a \
                     bundle (Bundle-Format: binary, Bundle-Version: 2.0.0)"
                ),
            )
        };
        self.tx_checked(root, |header| {
            if bundle::is_bundle(&header.tags) {
                Ok(())
            } else {
                Err(not_a_bundle())
            }
        })
        .await
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

    /// An item record for what [`Self::locate`] found; refused if its place does not fit in
    /// the root's data (a header longer than the item), or if its signature type cannot be
    /// checked and the bundle's signer is not trusted.
    fn record(&self, id: TxId, root: Arc<TxRecord>, at: Located) -> Result<ItemRecord, DriveError> {
        let data_offset = at.header.data_offset as u64;
        if at
            .start
            .checked_add(at.size_in_bundle)
            .is_none_or(|end| end > root.size())
        {
            return Err(bad(
                &id,
                format!("its place in {} lies past the end of the data", root.id()),
            ));
        }
        let Some(size) = at.size_in_bundle.checked_sub(data_offset) else {
            return Err(bad(
                &id,
                format!(
                    "its header ({data_offset} bytes) is longer than the {} bytes the bundle \
                     gives it",
                    at.size_in_bundle
                ),
            ));
        };
        let kind = at.header.signature_type;
        let trusted = self.inner.config.trust_bundle_signer;
        if !kind.is_verified() && !trusted {
            return Err(DriveError::UnverifiableItem { id, kind });
        }
        let mode = if trusted && (size > WHOLE_ITEM_MAX || !kind.is_verified()) {
            VerificationMode::ChunksThroughBundle
        } else {
            VerificationMode::WholeItem
        };
        let check = if kind.is_verified() {
            SignatureCheck::Pending
        } else {
            SignatureCheck::Unsupported(kind)
        };
        Ok(ItemRecord {
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
            checking: Mutex::default(),
        })
    }

    /// Waits until the item's bytes may be served: its signature checked over all of its
    /// data, once however many readers ask at once. Fails if the signature does not match.
    pub(super) async fn ready_item(&self, item: &Arc<ItemRecord>) -> Result<(), DriveError> {
        if !item.needs_check() {
            return item.usable();
        }
        let flight = item
            .checking
            .lock()
            .unwrap()
            .get_or_insert_with(|| {
                let (drive, item) = (self.clone(), item.clone());
                async move { drive.check_item_signature(&item).await }
                    .boxed()
                    .shared()
            })
            .clone();
        let outcome = flight.await;
        // A check that failed to read (gateways down) may be tried again by the next reader.
        if outcome.is_err() && item.signature() == SignatureCheck::Pending {
            item.checking.lock().unwrap().take();
        }
        outcome.map(drop)
    }

    /// Reads all of the item's data (verified chunk by chunk, and cached) and checks its
    /// signature over it. Fails, and marks the item unusable, if it does not match.
    pub(super) async fn check_item_signature(
        &self,
        item: &Arc<ItemRecord>,
    ) -> Result<SignatureCheck, DriveError> {
        self.hash_item(item, None::<&mut tokio::io::Sink>, |_, _| {})
            .await
    }

    /// Reads all of the item's data in order, verified chunk by chunk, into `out` if given,
    /// and checks the item's signature over it (unless already done). The bytes written are
    /// good only if this returns `Ok`: a caller that keeps them must hold them until then.
    pub(super) async fn hash_item<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        item: &Arc<ItemRecord>,
        mut out: Option<&mut W>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<SignatureCheck, DriveError> {
        item.usable()?;
        let hash = item.signature() == SignatureCheck::Pending;
        let root = &item.root;
        // Chunk by chunk, many at once: each read is then the cached block itself, not a copy.
        let end = item.data_start + item.size;
        let chunk_end = |at: u64| root.chunk_range(root.chunk_index(at)).end.min(end);
        let pieces = std::iter::successors(Some(item.data_start), |&at| {
            Some(chunk_end(at)).filter(|&next| next < end)
        })
        .filter(|&at| at < end);
        let mut pieces = futures::stream::iter(pieces)
            .map(|at| self.read_tx(root, at, chunk_end(at) - at))
            .buffered(HASH_READS_AHEAD);
        let mut hasher = Some(Sha384::new());
        let (mut batch, mut batched): (Vec<Bytes>, u64) = (Vec::new(), 0);
        let mut done = 0;
        progress(0, item.size);
        loop {
            let next = pieces.try_next().await?;
            if let Some(bytes) = next.clone() {
                if let Some(out) = out.as_mut() {
                    out.write_all(&bytes).await?;
                }
                done += bytes.len() as u64;
                progress(done, item.size);
                batched += bytes.len() as u64;
                batch.push(bytes);
            }
            if hash && !batch.is_empty() && (next.is_none() || batched >= HASH_BATCH) {
                // Hashing is CPU work: off the runtime's threads, a few MiB at a time.
                let (mut h, pieces) =
                    (hasher.take().expect("put back"), std::mem::take(&mut batch));
                h = tokio::task::spawn_blocking(move || {
                    pieces.iter().for_each(|p| h.update(p));
                    h
                })
                .await
                .map_err(io::Error::other)?;
                hasher = Some(h);
                batched = 0;
            } else if !hash {
                batch.clear();
            }
            if next.is_none() {
                break;
            }
        }
        if let Some(out) = out.as_mut() {
            out.flush().await?;
        }
        if !hash {
            item.usable()?;
            return Ok(item.signature());
        }
        let sha384: [u8; 48] = hasher.expect("kept").finalize().into();
        self.finish_item_check(item, sha384).await
    }

    /// Checks the item's signature against the SHA-384 of all its data (off the runtime:
    /// RSA and elliptic curves are CPU work), once, and remembers the outcome. Fails if the
    /// signature does not match.
    async fn finish_item_check(
        &self,
        item: &Arc<ItemRecord>,
        sha384: [u8; 48],
    ) -> Result<SignatureCheck, DriveError> {
        let checked = item.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            match checked.header.verify_with_data_digest(checked.size, sha384) {
                Ok(Verification::Verified) => SignatureCheck::Verified,
                Ok(Verification::Unverified(kind)) => SignatureCheck::Unsupported(kind),
                Err(_) => SignatureCheck::Failed,
            }
        })
        .await
        .map_err(io::Error::other)?;
        let changed = {
            let mut check = item.check.lock().unwrap();
            let changed = *check == SignatureCheck::Pending;
            if changed {
                *check = outcome;
            }
            changed
        };
        if changed {
            if outcome == SignatureCheck::Failed {
                tracing::warn!(id = %item.id, bundle = %item.bundle(), "data item's signature does not match the bundle's copy");
            }
            self.save_item(item).await;
        }
        item.usable()?;
        Ok(item.signature())
    }

    /// Remembers where the item is (best effort: without it, a restart asks a gateway again).
    async fn save_item(&self, item: &ItemRecord) {
        let Some(store) = &self.inner.item_store else {
            return;
        };
        let (store, id, stored) = (store.clone(), item.id, item.stored());
        let drive = self.clone();
        let saved = tokio::task::spawn_blocking(move || {
            store.save(&id, &stored)?;
            drive.record_used(crate::store::records::RecordKind::Item, &id);
            Ok(())
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        if let Err(e) = saved {
            self.disk_write_failed(&e, "could not store a data item's location");
        }
    }

    /// Streams data item `id` in order into `out` while checking its signature over it: for
    /// `get`, which must hold what it receives (a temporary file) until this returns `Ok`.
    /// `progress` sees `(bytes done, total)`.
    pub async fn read_item_checked<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        id: &TxId,
        out: &mut W,
        progress: impl FnMut(u64, u64),
    ) -> Result<(), DriveError> {
        let item = self.item(id).await?;
        self.hash_item(&item, Some(out), progress).await.map(drop)
    }
}

fn bad(id: &TxId, reason: String) -> DriveError {
    DriveError::BadItem { id: *id, reason }
}
