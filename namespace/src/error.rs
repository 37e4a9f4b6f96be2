//! One error kind for the whole tree. No errno numbers here: each frontend maps a kind to its
//! own numbers at its edge (FUSE: `fuse/src/errno.rs`; WASI: `wasi-adapter/src/vfs.rs`).

use weavedrive_cache::DriveError;

/// What went wrong, as much as a frontend needs to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such name: not an id, not a height, not in the manifest (and no fallback), or an
    /// id no gateway knows.
    NotFound,
    /// The access policy denies the id (decided before any network request).
    Denied,
    /// A path goes through something that is not a directory (`/data/<id>/x`; an id that is
    /// not a manifest, under `/manifest`).
    NotADirectory,
    /// A file operation on a directory.
    IsADirectory,
    /// Anything that would write: the tree is read-only.
    ReadOnly,
    /// A verified manifest too large to show as directories (its paths still resolve
    /// through `weavedrive get <id>/<path>`).
    TooLarge,
    /// `readlink` of something that is not a symlink.
    NotASymlink,
    /// A path that climbs out of where it started, or is absolute where it must not be.
    Escapes,
    /// The bytes cannot be had verified right now (gateways down or lying, a full disk):
    /// worth trying again, never a short read.
    Unavailable,
}

impl ErrorKind {
    /// Every kind, so that frontends can test their mapping is one to one.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::NotFound,
        ErrorKind::Denied,
        ErrorKind::NotADirectory,
        ErrorKind::IsADirectory,
        ErrorKind::ReadOnly,
        ErrorKind::TooLarge,
        ErrorKind::NotASymlink,
        ErrorKind::Escapes,
        ErrorKind::Unavailable,
    ];
}

/// An error of the namespace: its kind and, where it came from the Drive, why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
pub struct NsError {
    pub kind: ErrorKind,
    pub cause: Option<DriveError>,
}

pub type NsResult<T> = Result<T, NsError>;

impl NsError {
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<ErrorKind> for NsError {
    fn from(kind: ErrorKind) -> Self {
        NsError { kind, cause: None }
    }
}

impl From<DriveError> for NsError {
    /// Missing ids are `NotFound`; data that is not a manifest, where one was wanted as a
    /// directory, is `NotADirectory`; everything else means the bytes cannot be had verified
    /// right now, `Unavailable` (logged here, once, with its cause).
    fn from(error: DriveError) -> Self {
        let kind = if matches!(error, DriveError::NotAManifest { .. }) {
            ErrorKind::NotADirectory
        } else if error.is_not_found() {
            ErrorKind::NotFound
        } else {
            tracing::warn!(%error, "read failed");
            ErrorKind::Unavailable
        };
        NsError {
            kind,
            cause: Some(error),
        }
    }
}
