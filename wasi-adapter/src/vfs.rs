//! Glue from the shim's fds to the [`Namespace`]: the preopens, paths resolved under them,
//! stats, opens and listings, and the one edge from error kinds to WASI errnos. The tree
//! itself (`/data`, `/tx`, `/block`, `/manifest`), its policy and memos are the namespace's.
//!
//! A guest has no symlinks: a manifest's file is shown as the regular file it leads to
//! (`/manifest/<id>/weights/x.bin` reads and stats as `/data/<its id>`).

use std::hash::{Hash, Hasher};

use weavedrive_cache::{AccessPolicy, Drive};
use weavedrive_namespace::{ErrorKind, File, Namespace, Node, NsError};

use crate::abi::{Errno, Filestat, WasiResult, filetype};

/// The virtual preopens: the namespace's top-level directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    /// `/data`: transaction data.
    Data,
    /// `/tx`: transaction headers as JSON.
    Tx,
    /// `/block`: block headers as JSON (not authenticated).
    Block,
    /// `/manifest`: path manifests as directories.
    Manifest,
}

impl Root {
    pub const ALL: [Root; 4] = [Root::Data, Root::Tx, Root::Block, Root::Manifest];

    /// The guest path of the preopen.
    pub fn guest_path(self) -> &'static str {
        match self {
            Root::Data => "/data",
            Root::Tx => "/tx",
            Root::Block => "/block",
            Root::Manifest => "/manifest",
        }
    }

    pub fn node(self) -> Node {
        match self {
            Root::Data => Node::DataDir,
            Root::Tx => Node::TxDir,
            Root::Block => Node::BlockDir,
            Root::Manifest => Node::ManifestDir,
        }
    }
}

/// A directory a guest fd stands for: its preopen and the path below it, so that `..` from
/// a directory opened below a preopen climbs as far as the preopen and no further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    pub root: Root,
    pub path: String,
}

impl Dir {
    pub fn preopen(root: Root) -> Dir {
        Dir {
            root,
            path: String::new(),
        }
    }

    /// `path` below this directory, as a path below the preopen.
    fn join(&self, path: &str) -> String {
        if self.path.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.path)
        }
    }
}

/// What an open fd reads from.
#[derive(Clone)]
pub enum Content {
    Dir(Dir),
    File(File),
}

impl Content {
    pub fn size(&self) -> u64 {
        match self {
            Content::Dir(_) => 0,
            Content::File(file) => file.size(),
        }
    }

    /// Fills `out[..n]` from `offset`; `n` is short only at the end of the file. Never
    /// returns bytes that failed verification: those are `IO`.
    pub fn read_into(&self, offset: u64, out: &mut [u8]) -> WasiResult<usize> {
        match self {
            Content::Dir(_) => Err(Errno::ISDIR),
            Content::File(file) => file.read_into(offset, out).map_err(errno),
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

/// The WASI errno for a namespace error kind: the shim's one edge.
pub fn errno_for(kind: ErrorKind) -> Errno {
    match kind {
        ErrorKind::NotFound => Errno::NOENT,
        ErrorKind::Denied => Errno::ACCES,
        ErrorKind::NotADirectory => Errno::NOTDIR,
        ErrorKind::IsADirectory => Errno::ISDIR,
        ErrorKind::ReadOnly => Errno::ROFS,
        ErrorKind::TooLarge => Errno::FBIG,
        ErrorKind::NotASymlink => Errno::INVAL,
        // As the stock preopen answers a path that climbs out.
        ErrorKind::Escapes => Errno::PERM,
        ErrorKind::Unavailable => Errno::IO,
        // A kind added later; the test below fails until it has its own errno.
        _ => Errno::IO,
    }
}

fn errno(error: NsError) -> Errno {
    errno_for(error.kind())
}

/// A device number for the tree ("WEAV"), distinct from host filesystems'.
const DEV: u64 = 0x5745_4156;

/// Serves the tree to guests. Host calls run on the guest's thread, which must not be a
/// tokio worker: misses block it on `runtime` until the verified bytes arrive.
pub struct VirtualFs {
    ns: Namespace,
}

impl VirtualFs {
    pub fn new(drive: Drive, policy: AccessPolicy, runtime: tokio::runtime::Handle) -> Self {
        VirtualFs {
            ns: Namespace::new(drive, runtime, policy),
        }
    }

    pub fn drive(&self) -> &Drive {
        self.ns.drive()
    }

    /// Resolves `path` relative to `dir`, lexically (see [`Namespace::walk`]); a manifest's
    /// file at the end is the data it leads to. A file exists if its id is valid, allowed
    /// (`ACCES` if not) and known to the gateways (`NOENT` if not).
    pub fn resolve(&self, dir: &Dir, path: &str) -> WasiResult<(Node, Dir)> {
        if path.starts_with('/') {
            return Err(Errno::PERM);
        }
        let below = dir.join(path);
        let node = self
            .ns
            .walk(dir.root.node(), &below)
            .map_err(errno)?
            .followed();
        self.ns.attr(node).map_err(errno)?;
        Ok((
            node,
            Dir {
                root: dir.root,
                path: below,
            },
        ))
    }

    pub fn stat(&self, node: Node) -> WasiResult<Filestat> {
        let attr = self.ns.attr(node).map_err(errno)?;
        Ok(Filestat {
            dev: DEV,
            ino: ino(node),
            filetype: filetype_of(node),
            nlink: if node.is_dir() { 2 } else { 1 },
            size: attr.size,
            mtime_ns: 0,
        })
    }

    /// A file opened for reading; a directory as the `dir` it was resolved as.
    pub fn open(&self, node: Node, dir: Dir) -> WasiResult<Content> {
        if node.is_dir() {
            self.ns.permit(node).map_err(errno)?;
            return Ok(Content::Dir(dir));
        }
        Ok(Content::File(self.ns.open(node).map_err(errno)?))
    }

    /// `.`, `..` and what the namespace lists.
    pub fn list(&self, dir: &Dir) -> WasiResult<Vec<DirEntry>> {
        let (node, _) = self.resolve(&Dir::preopen(dir.root), &dir.path)?;
        let dot = |name: &str| DirEntry {
            name: name.into(),
            ino: ino(node),
            filetype: filetype::DIRECTORY,
        };
        let mut entries = vec![dot("."), dot("..")];
        for listed in self.ns.list(node).map_err(errno)? {
            let node = listed.node.followed();
            entries.push(DirEntry {
                name: listed.name,
                ino: ino(node),
                filetype: filetype_of(node),
            });
        }
        Ok(entries)
    }
}

pub fn filetype_of(node: Node) -> u8 {
    if node.is_dir() {
        filetype::DIRECTORY
    } else {
        filetype::REGULAR_FILE
    }
}

/// Stable inode numbers: the directories' fixed, the rest a hash of what they are (SipHash
/// with fixed keys, the same in every run).
fn ino(node: Node) -> u64 {
    match node {
        Node::Root => 1,
        Node::DataDir => 2,
        Node::TxDir => 3,
        Node::BlockDir => 4,
        Node::ManifestDir => 5,
        node => {
            #[allow(deprecated)]
            let mut hasher = std::hash::SipHasher::new();
            node.hash(&mut hasher);
            hasher.finish() | 1 << 63
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_errno() {
        let mut seen: Vec<u16> = ErrorKind::ALL.iter().map(|k| errno_for(*k).0).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), ErrorKind::ALL.len());
    }
}
