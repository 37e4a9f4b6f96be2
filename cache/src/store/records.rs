//! The space the per-id records take on disk (`tx/<id>/` header and chunk map, `items/<id>`)
//! and which to drop when they take too much. Every id a reader names leaves a record, so
//! without a bound a mount asked for millions of ids would fill the disk outside the block
//! budget. The Drive gives records a share of the disk budget (the block store gets the rest)
//! and drops the least recently used unpinned ones past it; a dropped record only costs a
//! header fetch the next time its id is asked for.
//!
//! Sizes are what the files take on disk (allocated blocks: a chunk map is a sparse file).
//! Recency is the record's mtime, refreshed when this process loads or creates it, so a
//! restart keeps the order.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::arweave::TxId;

/// Which directory a record lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `tx/<id>/`: a transaction's header and chunk map.
    Tx,
    /// `items/<id>`: where a data item sits.
    Item,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    bytes: u64,
    used: SystemTime,
}

pub struct RecordSpace {
    dir: PathBuf,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<(RecordKind, TxId), Entry>,
    total: u64,
}

impl Entries {
    fn insert(&mut self, key: (RecordKind, TxId), entry: Entry) {
        self.total += entry.bytes;
        if let Some(old) = self.by_key.insert(key, entry) {
            self.total -= old.bytes;
        }
    }

    fn remove(&mut self, key: &(RecordKind, TxId)) {
        if let Some(old) = self.by_key.remove(key) {
            self.total -= old.bytes;
        }
    }
}

impl RecordSpace {
    /// Measures the records under `cache_dir`.
    pub fn open(cache_dir: &Path) -> io::Result<RecordSpace> {
        let space = RecordSpace {
            dir: cache_dir.to_path_buf(),
            entries: Mutex::default(),
        };
        for kind in [RecordKind::Tx, RecordKind::Item] {
            let dir = space.kind_dir(kind);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some(found) = measure(&entry.path()) {
                    space.entries.lock().unwrap().insert((kind, id), found);
                }
            }
        }
        Ok(space)
    }

    fn kind_dir(&self, kind: RecordKind) -> PathBuf {
        self.dir.join(match kind {
            RecordKind::Tx => "tx",
            RecordKind::Item => "items",
        })
    }

    fn path(&self, kind: RecordKind, id: &TxId) -> PathBuf {
        self.kind_dir(kind).join(id.to_string())
    }

    /// Bytes all known records take.
    pub fn bytes(&self) -> u64 {
        self.entries.lock().unwrap().total
    }

    pub fn count(&self) -> usize {
        self.entries.lock().unwrap().by_key.len()
    }

    /// Notes that a record was just written or read: measures it again and makes it the most
    /// recently used (its mtime too, for the next run). Blocking (file metadata).
    pub fn used(&self, kind: RecordKind, id: &TxId) {
        let path = self.path(kind, id);
        let now = SystemTime::now();
        let _ = touch(&path, now);
        match measure(&path) {
            Some(found) => {
                let entry = Entry { used: now, ..found };
                self.entries.lock().unwrap().insert((kind, *id), entry);
            }
            None => {
                self.entries.lock().unwrap().remove(&(kind, *id));
            }
        }
    }

    /// Notes that a record was removed.
    pub fn removed(&self, kind: RecordKind, id: &TxId) {
        self.entries.lock().unwrap().remove(&(kind, *id));
    }

    /// The least recently used records, other than those `keep` says to keep, whose removal
    /// brings the total to at most `limit` bytes (forgotten here; the caller deletes them).
    pub fn over(
        &self,
        limit: u64,
        keep: impl Fn(RecordKind, &TxId) -> bool,
    ) -> Vec<(RecordKind, TxId)> {
        let mut entries = self.entries.lock().unwrap();
        let mut total = entries.total;
        if total <= limit {
            return Vec::new();
        }
        let mut candidates: Vec<_> = entries
            .by_key
            .iter()
            .filter(|((kind, id), _)| !keep(*kind, id))
            .map(|(key, e)| (e.used, *key, e.bytes))
            .collect();
        candidates.sort_by_key(|(used, _, _)| *used);
        let mut victims = Vec::new();
        for (_, key, bytes) in candidates {
            if total <= limit {
                break;
            }
            total -= bytes;
            entries.remove(&key);
            victims.push(key);
        }
        victims
    }
}

/// What a record takes on disk (a file, or a directory of files), and its mtime.
fn measure(path: &Path) -> Option<Entry> {
    let meta = fs::symlink_metadata(path).ok()?;
    let allocated = |m: &fs::Metadata| (m.blocks() * 512).max(m.len().min(4096));
    let bytes = if meta.is_dir() {
        fs::read_dir(path)
            .ok()?
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| allocated(&m))
            .sum::<u64>()
            + 4096
    } else {
        allocated(&meta)
    };
    Some(Entry {
        bytes,
        used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    })
}

fn touch(path: &Path, when: SystemTime) -> io::Result<()> {
    let file = match fs::metadata(path)?.is_dir() {
        true => fs::File::open(path.join("header.json"))?,
        false => fs::File::open(path)?,
    };
    file.set_modified(when)?;
    // The directory's own mtime is what `open` reads for a transaction's record.
    if path.is_dir() {
        fs::File::open(path)?.set_modified(when)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_records_and_picks_the_least_recently_used_unkept() {
        let dir = tempfile::tempdir().unwrap();
        let space = RecordSpace::open(dir.path()).unwrap();
        assert_eq!(space.bytes(), 0);
        let id = |n: u8| TxId([n; 32]);
        for n in 0..4u8 {
            let tx = dir.path().join("tx").join(id(n).to_string());
            fs::create_dir_all(&tx).unwrap();
            fs::write(tx.join("header.json"), vec![b'x'; 3000]).unwrap();
            space.used(RecordKind::Tx, &id(n));
        }
        fs::create_dir_all(dir.path().join("items")).unwrap();
        fs::write(dir.path().join("items").join(id(9).to_string()), b"{}").unwrap();
        space.used(RecordKind::Item, &id(9));
        assert_eq!(space.count(), 5);
        let total = space.bytes();
        assert!(total >= 4 * 3000, "{total}");
        // Use the first again: the second is now the oldest; the third is kept (pinned).
        space.used(RecordKind::Tx, &id(0));
        let victims = space.over(total - 1, |_, id| *id == TxId([2; 32]));
        assert_eq!(victims, vec![(RecordKind::Tx, id(1))]);
        assert!(space.over(space.bytes(), |_, _| false).is_empty());
        // A restart finds the same records, in the same order.
        let again = RecordSpace::open(dir.path()).unwrap();
        assert_eq!(again.count(), 5, "forgotten but not deleted: still on disk");
        let all = again.over(0, |_, _| false);
        assert_eq!(all.len(), 5);
        assert_eq!(
            all[4],
            (RecordKind::Tx, id(0)),
            "the most recently used goes last"
        );
    }
}
