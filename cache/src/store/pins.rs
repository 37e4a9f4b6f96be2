//! Pins: one empty marker file per pinned transaction, `pins/<id>`, so pins survive restarts.
//! The marker is the whole record (no contents to tear); the blocks it keeps are found again
//! through the transaction's chunk map when the Drive opens.

use std::io;
use std::path::{Path, PathBuf};

use crate::arweave::TxId;

#[derive(Clone)]
pub(crate) struct PinStore {
    dir: PathBuf,
}

impl PinStore {
    /// The pins of the cache at `cache_dir` (the directory is made by the first pin).
    pub fn new(cache_dir: &Path) -> PinStore {
        PinStore {
            dir: cache_dir.join("pins"),
        }
    }

    pub fn add(&self, id: &TxId) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(self.dir.join(id.to_string()), b"")
    }

    pub fn remove(&self, id: &TxId) -> io::Result<()> {
        match std::fs::remove_file(self.dir.join(id.to_string())) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The pinned ids; none when there is no `pins/` (or it cannot be read). Names that are
    /// not ids are left alone.
    pub fn list(&self) -> io::Result<Vec<TxId>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        for entry in entries {
            if let Some(id) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}
