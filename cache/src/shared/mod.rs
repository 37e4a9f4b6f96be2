//! The shared tier: a verified cache a fleet of hosts shares on an object store they already
//! run (S3 and anything speaking its protocol, GCS, Azure, or a shared `file://` path),
//! through the `object_store` crate. Read order: memory, local disk, shared tier, gateways.
//!
//! # Why it needs no trust
//!
//! Everything in the tier is a claim checked exactly as a gateway's answer is: headers by
//! their signature (and the id they hash to), chunks by their Merkle proof to the signed
//! data_root, item records against the verified bundle index. A tampered object is caught,
//! counted (`verification_failures{kind="shared_*"}`), said once in the log, and the read goes
//! on at the gateways; a tier that lied is asked last for a while ([`health`]).
//!
//! # Layout (under the URL's prefix)
//!
//! ```text
//! blocks/<sha256 hex>               a chunk's bytes, named by their sha256 (the leaf hash)
//! proofs/<data_root b64url>/<start> the data_path proving the chunk at byte <start>
//! tx/<id>/header.json               a format-2 transaction header as gateways serve it
//! tx/<id>/offset                    the weave offset of its data's last byte, as text
//! items/<id>.json                   where data item <id> sits: {"root", "item_offset"}
//! ```
//!
//! Objects are immutable once right, so a host uploads only what the tier lacks (HEAD, then
//! PUT); a key caught serving something false is overwritten with the verified copy.
//! What a host uploads it verified first: chunks and headers by the same functions that
//! check them on read, offsets only once a gateway's chunk proved at them, item records only
//! once the Drive placed the item in its verified bundle.

mod health;
mod source;
mod store;
mod writeback;

pub use source::TieredSource;
pub use store::{SharedTier, TIER_LABEL_PREFIX};
pub use writeback::Flushed;

use crate::arweave::{Hash, TxId, b64};

/// Object keys, relative to the tier's prefix.
pub(crate) mod keys {
    use super::*;

    pub fn block(hash: &Hash) -> String {
        format!("blocks/{}", hex::encode(hash))
    }

    pub fn proof(data_root: &Hash, start: u64) -> String {
        format!("proofs/{}/{start}", b64::encode(data_root))
    }

    pub fn header(id: &TxId) -> String {
        format!("tx/{id}/header.json")
    }

    pub fn offset(id: &TxId) -> String {
        format!("tx/{id}/offset")
    }

    pub fn item(id: &TxId) -> String {
        format!("items/{id}.json")
    }
}
