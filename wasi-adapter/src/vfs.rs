//! The virtual tree the guest sees, independent of wasmtime: `/data/<id>` (the verified bytes)
//! and `/tx/<id>` (the header as JSON), names resolved lexically inside their preopen, ids
//! checked against the access policy before any network request.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;
use weavedrive_cache::{AccessPolicy, Drive, DriveError, FileHandle, TxId};

use crate::abi::{Errno, Filestat, WasiResult, filetype};

/// The two virtual preopens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    /// `/data`: transaction data.
    Data,
    /// `/tx`: transaction headers as JSON.
    Tx,
}

impl Root {
    pub const ALL: [Root; 2] = [Root::Data, Root::Tx];

    /// The guest path of the preopen.
    pub fn guest_path(self) -> &'static str {
        match self {
            Root::Data => "/data",
            Root::Tx => "/tx",
        }
    }

    fn ino(self) -> u64 {
        match self {
            Root::Data => 1,
            Root::Tx => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    Dir(Root),
    Data(TxId),
    TxJson(TxId),
}

impl Node {
    pub fn filetype(self) -> u8 {
        match self {
            Node::Dir(_) => filetype::DIRECTORY,
            _ => filetype::REGULAR_FILE,
        }
    }

    /// Stable inode numbers: the id's first bytes, one bit telling data from header.
    pub fn ino(self) -> u64 {
        let from_id = |id: &TxId, tag: u64| {
            let prefix = u64::from_le_bytes(id.0[..8].try_into().expect("8 bytes"));
            (prefix >> 2) << 2 | tag
        };
        match self {
            Node::Dir(root) => root.ino(),
            Node::Data(id) => from_id(&id, 0),
            Node::TxJson(id) => from_id(&id, 3),
        }
    }
}

/// What an open fd reads from.
#[derive(Clone)]
pub enum Content {
    Dir(Root),
    Data(Arc<FileHandle>),
    Json(Bytes),
}

impl Content {
    pub fn size(&self) -> u64 {
        match self {
            Content::Dir(_) => 0,
            Content::Data(handle) => handle.size(),
            Content::Json(json) => json.len() as u64,
        }
    }

    /// Fills `out[..n]` from `offset`; `n` is short only at the end of the file. Never
    /// returns bytes that failed verification: those are `IO`.
    pub fn read_into(&self, offset: u64, out: &mut [u8]) -> WasiResult<usize> {
        match self {
            Content::Dir(_) => Err(Errno::ISDIR),
            Content::Data(handle) => handle.read_into_blocking(offset, out).map_err(|e| {
                tracing::warn!(error = %e, id = %handle.id(), offset, "guest read failed");
                Errno::IO
            }),
            Content::Json(json) => {
                let start = (offset as usize).min(json.len());
                let n = out.len().min(json.len() - start);
                out[..n].copy_from_slice(&json[start..start + n]);
                Ok(n)
            }
        }
    }
}

/// One `fd_readdir` entry.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    pub filetype: u8,
}

/// Serves the tree from a Drive. Host calls run on the guest's thread, which must not be a
/// tokio worker: misses block it on `runtime` until the verified bytes arrive.
pub struct VirtualFs {
    drive: Drive,
    policy: AccessPolicy,
    runtime: tokio::runtime::Handle,
    json: Mutex<JsonMemo>,
}

/// A device number for the tree ("WEAV"), distinct from host filesystems'.
const DEV: u64 = 0x5745_4156;

fn drive_errno(error: DriveError) -> Errno {
    if error.is_not_found() {
        Errno::NOENT
    } else {
        tracing::warn!(%error, "drive request failed");
        Errno::IO
    }
}

impl VirtualFs {
    pub fn new(drive: Drive, policy: AccessPolicy, runtime: tokio::runtime::Handle) -> Self {
        VirtualFs {
            drive,
            policy,
            runtime,
            json: Mutex::new(JsonMemo::new(JSON_KEPT, JSON_BYTES_KEPT)),
        }
    }

    pub fn drive(&self) -> &Drive {
        &self.drive
    }

    /// Resolves `path` relative to directory `root`, lexically: `.` and empty components are
    /// skipped, `..` may not climb out of the preopen (`PERM`, as the stock preopen answers),
    /// absolute paths are `PERM`. A file exists if its id is valid, allowed (`ACCES` if not)
    /// and known to the gateways (its header is fetched and verified; `NOENT` if missing).
    pub fn resolve(&self, root: Root, path: &str) -> WasiResult<Node> {
        if path.starts_with('/') {
            return Err(Errno::PERM);
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop().ok_or(Errno::PERM)?;
                }
                name => parts.push(name),
            }
        }
        let (name, rest) = match parts.split_first() {
            None => return Ok(Node::Dir(root)),
            Some(split) => split,
        };
        let id: TxId = name.parse().map_err(|_| Errno::NOENT)?;
        let node = match root {
            Root::Data => Node::Data(id),
            Root::Tx => Node::TxJson(id),
        };
        self.check_exists(&id)?;
        if !rest.is_empty() || path.ends_with('/') {
            return Err(Errno::NOTDIR);
        }
        Ok(node)
    }

    fn check_exists(&self, id: &TxId) -> WasiResult<()> {
        self.size(id).map(drop)
    }

    /// The size of an allowed id's data (a data item's, before its signature check).
    fn size(&self, id: &TxId) -> WasiResult<u64> {
        if !self.policy.allows(id) {
            return Err(Errno::ACCES);
        }
        self.runtime
            .block_on(self.drive.size(id))
            .map_err(drive_errno)
    }

    /// The verified header of an allowed id (`ACCES` before any network request if not).
    fn header(&self, id: &TxId) -> WasiResult<weavedrive_cache::drive::Metadata> {
        if !self.policy.allows(id) {
            return Err(Errno::ACCES);
        }
        self.runtime
            .block_on(self.drive.metadata(id))
            .map_err(drive_errno)
    }

    pub fn stat(&self, node: Node) -> WasiResult<Filestat> {
        let size = match node {
            Node::Dir(_) => 0,
            Node::Data(id) => self.size(&id)?,
            Node::TxJson(id) => self.header_json(&id)?.len() as u64,
        };
        Ok(Filestat {
            dev: DEV,
            ino: node.ino(),
            filetype: node.filetype(),
            nlink: if matches!(node, Node::Dir(_)) { 2 } else { 1 },
            size,
            mtime_ns: 0,
        })
    }

    pub fn open(&self, node: Node) -> WasiResult<Content> {
        Ok(match node {
            Node::Dir(root) => Content::Dir(root),
            Node::Data(id) => {
                self.check_exists(&id)?;
                let handle = self
                    .runtime
                    .block_on(self.drive.open(&id))
                    .map_err(drive_errno)?;
                Content::Data(Arc::new(handle))
            }
            Node::TxJson(id) => Content::Json(self.header_json(&id)?),
        })
    }

    fn header_json(&self, id: &TxId) -> WasiResult<Bytes> {
        if let Some(json) = self.json.lock().unwrap().get(id) {
            return Ok(json);
        }
        let json = self.header(id)?.json();
        self.json.lock().unwrap().insert(*id, json.clone());
        Ok(json)
    }

    /// `.`, `..` and what is cached and allowed (Arweave itself cannot be listed).
    pub fn list(&self, root: Root) -> WasiResult<Vec<DirEntry>> {
        let dir = |name: &str| DirEntry {
            name: name.into(),
            ino: root.ino(),
            filetype: filetype::DIRECTORY,
        };
        let mut entries = vec![dir("."), dir("..")];
        let ids = self.drive.cached_ids().map_err(drive_errno)?;
        for id in ids.into_iter().filter(|id| self.policy.allows(id)) {
            let node = match root {
                Root::Data => Node::Data(id),
                Root::Tx => Node::TxJson(id),
            };
            entries.push(DirEntry {
                name: id.to_string(),
                ino: node.ino(),
                filetype: filetype::REGULAR_FILE,
            });
        }
        Ok(entries)
    }
}

/// `/tx` JSON kept: a header is a few KiB, so this holds every header a guest reads in a
/// session, while the ids a guest may look up (each kept until now) are unbounded.
const JSON_KEPT: usize = 4096;
const JSON_BYTES_KEPT: usize = 16 << 20;

/// `/tx/<id>` JSON recently read, least recently used out first, within a count and bytes.
struct JsonMemo {
    lru: LruCache<TxId, Bytes>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl JsonMemo {
    fn new(max_entries: usize, max_bytes: usize) -> Self {
        JsonMemo {
            lru: LruCache::unbounded(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    fn get(&mut self, id: &TxId) -> Option<Bytes> {
        self.lru.get(id).cloned()
    }

    /// JSON larger than the whole budget is not kept (it is made again when asked).
    fn insert(&mut self, id: TxId, json: Bytes) {
        if json.len() > self.max_bytes {
            return;
        }
        self.bytes += json.len();
        if let Some(old) = self.lru.put(id, json) {
            self.bytes -= old.len();
        }
        while self.lru.len() > self.max_entries || self.bytes > self.max_bytes {
            let (_, dropped) = self.lru.pop_lru().expect("over budget means not empty");
            self.bytes -= dropped.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_memo_keeps_the_most_recent_within_count_and_bytes() {
        let mut memo = JsonMemo::new(3, 100);
        let id = |n: u8| TxId([n; 32]);
        for n in 0..10 {
            memo.insert(id(n), Bytes::from(vec![n; 10]));
        }
        assert_eq!((memo.lru.len(), memo.bytes), (3, 30));
        assert_eq!(memo.get(&id(6)), None);
        assert!(memo.get(&id(7)).is_some(), "7 is now the most recent");
        memo.insert(id(10), Bytes::from(vec![0; 85]));
        assert_eq!((memo.lru.len(), memo.bytes), (2, 95), "8 and 9 made room");
        assert!(memo.get(&id(7)).is_some() && memo.get(&id(8)).is_none());
        memo.insert(id(11), Bytes::from(vec![0; 101]));
        assert_eq!(memo.get(&id(11)), None, "larger than the budget: not kept");
        memo.insert(id(7), Bytes::from(vec![0; 5]));
        assert_eq!(
            (memo.lru.len(), memo.bytes),
            (2, 90),
            "replaced, not counted twice"
        );
    }
}
