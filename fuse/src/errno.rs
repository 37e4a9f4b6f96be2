//! The mount's one edge between the namespace's error kinds and errno numbers.

use fuser::Errno;
use weavedrive_namespace::{ErrorKind, NsError};

/// The errno the kernel returns for `kind`.
pub fn errno_for(kind: ErrorKind) -> Errno {
    match kind {
        ErrorKind::NotFound => Errno::ENOENT,
        ErrorKind::Denied => Errno::EACCES,
        ErrorKind::NotADirectory => Errno::ENOTDIR,
        ErrorKind::IsADirectory => Errno::EISDIR,
        ErrorKind::ReadOnly => Errno::EROFS,
        ErrorKind::TooLarge => Errno::EFBIG,
        ErrorKind::NotASymlink => Errno::EINVAL,
        ErrorKind::Escapes => Errno::EPERM,
        // The bytes could not be had verified: an error, never a short or zeroed read.
        ErrorKind::Unavailable => Errno::EIO,
        // A kind added later; the test below fails until it has its own errno.
        _ => Errno::EIO,
    }
}

pub fn errno(error: NsError) -> Errno {
    errno_for(error.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_errno() {
        let mut seen: Vec<i32> = ErrorKind::ALL
            .iter()
            .map(|k| errno_for(*k).code())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), ErrorKind::ALL.len());
    }
}
