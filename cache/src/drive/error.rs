//! Drive errors, and the errno each means to a filesystem frontend.

use std::sync::Arc;

use crate::arweave::TxId;
use crate::arweave::manifest::ManifestError;
use crate::gateway::GatewayError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// Data cut differently from the standard layout (some pre-2.5 uploads): the cache
    /// addresses chunks by standard index and cannot place it. Never served.
    #[error(
        "{id}: chunk {index} does not follow the standard chunk layout; not supported by the cache"
    )]
    NonStandardLayout { id: TxId, index: usize },
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
    BadItem { id: TxId, reason: String },
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

impl From<std::io::Error> for DriveError {
    fn from(e: std::io::Error) -> Self {
        DriveError::Io(Arc::new(e))
    }
}

impl DriveError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, DriveError::Gateway(e) if e.is_not_found())
    }

    /// The errno a filesystem should return: missing ids are ENOENT; data that is not a
    /// manifest, where one was wanted as a directory, is ENOTDIR; everything else means the
    /// bytes cannot be had verified right now, which is EIO (never a short read).
    pub fn errno(&self) -> i32 {
        const ENOENT: i32 = 2;
        const EIO: i32 = 5;
        const ENOTDIR: i32 = 20;
        match self {
            DriveError::NotAManifest { .. } => ENOTDIR,
            _ if self.is_not_found() => ENOENT,
            _ => EIO,
        }
    }
}
