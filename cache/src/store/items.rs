//! Item records: where each resolved data item sits, one small JSON file per item id under
//! `items/` in the cache directory, so a restart finds it without asking a gateway.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::arweave::TxId;

/// Where a resolved item sits, kept in the cache directory so a restart finds it without
/// asking a gateway. Only the root and the offset are taken from it: everything else is read
/// again from the cached, verified bundle bytes (a damaged record cannot name a wrong range).
/// A record whose signature is "failed" remembers a root whose copy of the item is forged.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredItem {
    pub root: String,
    pub parents: Vec<String>,
    pub start: u64,
    pub size_in_bundle: u64,
    pub signature: String,
}

#[derive(Clone)]
pub(crate) struct ItemStore {
    dir: PathBuf,
    tmp_dir: PathBuf,
}

impl ItemStore {
    pub fn open(cache_dir: &Path) -> io::Result<ItemStore> {
        let dir = cache_dir.join("items");
        std::fs::create_dir_all(&dir)?;
        Ok(ItemStore {
            dir,
            tmp_dir: cache_dir.join("tmp"),
        })
    }

    fn path(&self, id: &TxId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.path(id).exists()
    }

    /// The record of `id`; a record that does not parse (a damaged disk) counts as none, so
    /// the item is resolved again rather than unreadable.
    pub fn load(&self, id: &TxId) -> io::Result<Option<StoredItem>> {
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

    /// Written in `tmp/` and renamed: a crash leaves the old record or the new (and a temp
    /// file the next open sweeps).
    pub fn save(&self, id: &TxId, item: &StoredItem) -> io::Result<()> {
        let mut file = super::temp_file(&self.tmp_dir, "item")?;
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
