//! Drive errors. No errno here: frontends map them (through the namespace's error kinds) at
//! their own edge.

use std::sync::Arc;

use crate::arweave::TxId;
use crate::arweave::manifest::ManifestError;
use crate::gateway::GatewayError;

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// Data cut differently from the standard layout (some pre-2.5 uploads): the cache
    /// addresses chunks by standard index and cannot place it. Never served.
    #[error(
        "{id}: chunk {index} does not follow the standard chunk layout; not supported by the cache"
    )]
    NonStandardLayout { id: TxId, index: usize },
    /// The shared cache could not be set up (its URL, its store's settings).
    #[error("{0}")]
    SharedCache(String),
    /// A preload fetched and verified everything but could not keep it all on disk.
    #[error(
        "{id}: {missing} of {chunks} chunks could not be kept in the disk cache ({reason}); \
         the data was verified but is not cached"
    )]
    NotKept {
        id: TxId,
        missing: usize,
        chunks: usize,
        reason: String,
    },
    /// The data was read and verified, but it is not a path manifest.
    #[error("{id}: {error}")]
    NotAManifest { id: TxId, error: ManifestError },
    /// A data item that cannot be had verified: its bundle does not hold it where the
    /// gateway said, or its signature does not match its data.
    #[error("data item {id}: {reason}")]
    BadItem {
        id: TxId,
        /// Boxed: it names up to four ids, and every `Result` of the Drive carries this.
        reason: Box<ItemRefusal>,
    },
    /// A data item signed with a type this build cannot check: only the bundle's signer
    /// would vouch for its bytes, so it is refused unless that signer is trusted.
    #[error(
        "data item {id} is signed with signature type {} ({kind:?}), which this build cannot \
         verify; refused (trusting whoever signed its bundle would serve it: \
         --trust-bundle-signer)",
        *.kind as u16
    )]
    UnverifiableItem {
        id: TxId,
        kind: crate::arweave::ans104::SignatureType,
    },
    #[error("{0} needs a disk cache (--cache-dir)")]
    NeedsDiskCache(&'static str),
    #[error("blocking reads need a Drive created inside a tokio runtime")]
    NoRuntime,
    #[error("cache I/O: {0}")]
    Io(Arc<std::io::Error>),
}

/// Why a data item is refused: what about its place, its bundle or its signature does not
/// check out (see `item/`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemRefusal {
    /// Its signature does not match the data the bundle holds under its id.
    #[error("its signature does not match the data that bundle {bundle} holds under its id")]
    SignatureMismatch { bundle: TxId },
    /// Its bytes were asked for before its signature was checked (the read paths wait for
    /// the check first: this is the last line).
    #[error("its signature has not been checked yet")]
    NotChecked,
    /// A gateway names a root that is not tagged as a bundle.
    #[error(
        "the gateway says transaction {root} holds it, but that is not tagged as a bundle \
         (Bundle-Format: binary, Bundle-Version: 2.0.0)"
    )]
    RootNotABundle { root: TxId },
    /// The bundle at byte `at` of `root`'s data cannot be read as one.
    #[error("bundle at byte {at} of {root}: {error}")]
    BadBundle { root: TxId, at: u64, error: String },
    /// The gateway's offset falls where the bundle has no item.
    #[error("the gateway places it at byte {at} of {root}, where the bundle there has no item")]
    NoItemAt { root: TxId, at: u64 },
    /// The root's bundle does not list it, and no offset says where to look deeper.
    #[error(
        "not listed in bundle {bundle}, and the gateway gave no offset to find it in a nested \
         bundle"
    )]
    NotListed { bundle: TxId },
    /// The item header at the place the index gives does not parse.
    #[error("item {item} at byte {at}: {error}")]
    BadHeader {
        item: TxId,
        at: u64,
        error: crate::arweave::ans104::ItemError,
    },
    /// The index lists one id at a place, and the header there has another.
    #[error(
        "the bundle index lists {listed} at byte {at} of {root}, but the item there has id \
         {found}"
    )]
    IdMismatch {
        listed: TxId,
        at: u64,
        root: TxId,
        found: TxId,
    },
    /// The gateway's offset is not where the item starts.
    #[error("the gateway places it at byte {at}, but it starts at {start}")]
    WrongOffset { at: u64, start: u64 },
    /// The gateway's offset lies inside an item that is not a bundle.
    #[error("the gateway places it inside item {item}, which is not a bundle")]
    InsideNonBundle { item: TxId },
    #[error("nested in more than {max} bundles")]
    TooDeep { max: usize },
    /// Its place lies past the end of the root's data.
    #[error("its place in {root} lies past the end of the data")]
    PastEnd { root: TxId },
    /// Its header is longer than the item the bundle gives it.
    #[error("its header ({header} bytes) is longer than the {size} bytes the bundle gives it")]
    HeaderTooLong { header: u64, size: u64 },
    /// A gateway places it in a root already found to hold a forged copy.
    #[error("{gateway} places it in bundle {root}, whose copy does not match the item's signature")]
    ForgedRoot { gateway: String, root: TxId },
    #[error("no gateway was asked")]
    NoGateway,
}

impl ItemRefusal {
    /// Whether this refuses only the offset a source gave (no item starts there), not the
    /// root transaction's bytes.
    pub fn blames_the_offset(&self) -> bool {
        matches!(
            self,
            ItemRefusal::NoItemAt { .. }
                | ItemRefusal::WrongOffset { .. }
                | ItemRefusal::InsideNonBundle { .. }
                | ItemRefusal::PastEnd { .. }
        )
    }
}

impl From<std::io::Error> for DriveError {
    fn from(e: std::io::Error) -> Self {
        DriveError::Io(Arc::new(e))
    }
}

impl DriveError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, DriveError::Gateway(e) if e.is_not_found())
    }

    /// Whether the bytes cannot be had verified right now (gateways down or lying, a full
    /// disk): not a missing id, nor data that is not the manifest asked for. Frontends answer
    /// these with their I/O error, never with a short read.
    pub fn is_unavailable(&self) -> bool {
        !self.is_not_found() && !matches!(self, DriveError::NotAManifest { .. })
    }
}
