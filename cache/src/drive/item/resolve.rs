//! Item resolution: where a data item sits (a gateway's word, checked against the verified
//! bundle bytes: the bundle index must list the id at that place and the header there must
//! have that id), from memory, the cache directory's item record, or the gateways. See
//! `mod.rs` for what that does and does not prove.

use std::io;
use std::sync::{Arc, Mutex};

use super::{ItemRecord, SignatureCheck, VerificationMode, WHOLE_ITEM_MAX};
use crate::arweave::TxId;
use crate::arweave::ans104::{DataItem, ItemError};
use crate::arweave::bundle::{self, Index, MAX_NESTING};
use crate::drive::{Drive, DriveError, ItemRefusal};
use crate::gateway::ItemHint;
use crate::store::txmap::TxRecord;

/// Most item headers fit in this; longer ones (many large tags) are read again in full.
const FIRST_HEADER_READ: u64 = 16 << 10;
/// The longest header ANS-104 allows: type, multi-Aptos signature and owner, target, anchor,
/// counts and 128 tags of the longest names and values (with their length prefixes).
const MAX_HEADER_LEN: u64 = 2 + 2052 + 1025 + 66 + 16 + 128 * (1024 + 3072 + 20) + 20;

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

impl Drive {
    /// The data item `id`, from memory, the cache directory, or (once, however many ask) the
    /// gateways and its bundle. An item whose signature failed is resolved again, away from
    /// the root that forged it.
    pub(in crate::drive) async fn item(&self, id: &TxId) -> Result<Arc<ItemRecord>, DriveError> {
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
        let (flight, _) = self.inner.item_flights.join(*id, || {
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

    /// The root transaction of data item `id`, if this Drive knows where the item sits
    /// without asking anyone (in memory, or its record in the cache directory).
    pub(in crate::drive) fn known_root(&self, id: &TxId) -> Option<TxId> {
        if let Some(item) = self.inner.items.lock().unwrap().get(id) {
            return Some(item.root.id());
        }
        self.inner.item_store.as_ref()?.root_of(id)
    }

    pub(in crate::drive) fn item_on_disk(&self, id: &TxId) -> bool {
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
        let source = &self.inner.source;
        let labels = source.labels();
        let label = |g: usize| labels.get(g).cloned().unwrap_or_default();
        let mut not_found = Vec::new();
        let mut last_error = None;
        for gateway in source.priority_order() {
            let hint = match source.item_hint_on(id, gateway).await {
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
                    ItemRefusal::ForgedRoot {
                        gateway: label(gateway),
                        root: hint.root,
                    },
                ));
                continue;
            }
            match self.place_item(id, hint).await {
                Ok(item) => {
                    source.item_placed(id, &item.root.id(), item.start);
                    return Ok(item);
                }
                Err(e @ DriveError::UnverifiableItem { .. }) => return Err(e),
                Err(e) => {
                    if let DriveError::BadItem { reason, .. } = &e {
                        // A wrong offset blames the hint, not the root's bytes: the next
                        // gateway may place the item in that same root correctly.
                        if !reason.blames_the_offset() {
                            forged_in.push(hint.root);
                        }
                        source.item_refused(id, gateway);
                    }
                    tracing::debug!(%id, gateway = label(gateway), error = %e, "item place refused");
                    last_error = Some(e);
                }
            }
        }
        match (last_error, not_found.pop()) {
            (Some(e), _) => Err(e),
            (None, Some(not_found)) => Err(not_found.into()),
            (None, None) => Err(bad(id, ItemRefusal::NoGateway)),
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
        let not_a_bundle = || bad(id, ItemRefusal::RootNotABundle { root: *root });
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
            let index = self.bundle_index(root, base, len).await?.map_err(|error| {
                let (root, at) = (root.id(), base);
                bad(id, ItemRefusal::BadBundle { root, at, error })
            })?;
            let entry = match hint {
                Some(at) => at
                    .checked_sub(base)
                    .and_then(|offset| index.containing(offset))
                    .ok_or_else(|| {
                        bad(
                            id,
                            ItemRefusal::NoItemAt {
                                root: root.id(),
                                at,
                            },
                        )
                    })?,
                None => index
                    .find(id)
                    .ok_or_else(|| bad(id, ItemRefusal::NotListed { bundle: root.id() }))?,
            };
            let start = base + entry.start;
            let header = self
                .read_item_header(root, start, entry.size)
                .await?
                .map_err(|error| {
                    let (item, at) = (entry.id, start);
                    bad(id, ItemRefusal::BadHeader { item, at, error })
                })?;
            if header.id() != entry.id {
                return Err(bad(
                    id,
                    ItemRefusal::IdMismatch {
                        listed: entry.id,
                        at: start,
                        root: root.id(),
                        found: header.id(),
                    },
                ));
            }
            if entry.id == *id {
                if let Some(at) = hint.filter(|&at| at != start) {
                    return Err(bad(id, ItemRefusal::WrongOffset { at, start }));
                }
                return Ok(Located {
                    start,
                    size_in_bundle: entry.size,
                    header,
                    parents,
                });
            }
            if !bundle::is_bundle(&header.tags) {
                return Err(bad(id, ItemRefusal::InsideNonBundle { item: entry.id }));
            }
            parents.push(entry.id);
            base = start + header.data_offset as u64;
            len = entry.size - header.data_offset as u64;
        }
        Err(bad(id, ItemRefusal::TooDeep { max: MAX_NESTING }))
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
            return Err(bad(&id, ItemRefusal::PastEnd { root: root.id() }));
        }
        let Some(size) = at.size_in_bundle.checked_sub(data_offset) else {
            let size = at.size_in_bundle;
            return Err(bad(
                &id,
                ItemRefusal::HeaderTooLong {
                    header: data_offset,
                    size,
                },
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
}

fn bad(id: &TxId, reason: ItemRefusal) -> DriveError {
    DriveError::BadItem {
        id: *id,
        reason: Box::new(reason),
    }
}
