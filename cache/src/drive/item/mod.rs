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

mod resolve;
mod signature;

use std::sync::{Arc, Mutex};

use sha2::Digest;

use super::flight::Flight;
use super::{DriveError, ItemRefusal};
use crate::arweave::ans104::{DataItem, SignatureType};
use crate::arweave::{Tag, TxId, b64};
use crate::store::items::StoredItem;
use crate::store::txmap::TxRecord;

/// Items up to this size have their signature checked as soon as they are resolved, so even
/// their size and tags are authentic from the first lookup; larger ones at the first read.
pub const WHOLE_ITEM_MAX: u64 = 16 << 20;

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
    pub(crate) fn stored(self) -> &'static str {
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
                reason: Box::new(ItemRefusal::SignatureMismatch {
                    bundle: self.bundle(),
                }),
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
                reason: Box::new(ItemRefusal::NotChecked),
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
    pub(super) fn bundle(&self) -> TxId {
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

    pub(super) fn stored(&self) -> StoredItem {
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
