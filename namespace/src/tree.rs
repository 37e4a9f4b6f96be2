//! [`Namespace`]: the tree every frontend shows, over one Drive: lookup, attributes,
//! listings, opens, readlink, tags as xattrs, the access policy and the per-mount memos.
//! Frontends hold handles to [`Node`]s (inodes, fds) and translate [`ErrorKind`]s; nothing
//! here knows FUSE or WASI.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use weavedrive_cache::arweave::manifest::{DirTree, Entry, ManifestError};
use weavedrive_cache::drive::Metadata;
use weavedrive_cache::{AccessPolicy, Drive, FileHandle, TxId};

use crate::error::{ErrorKind, NsError, NsResult};
use crate::file::File;
use crate::memo::Memo;
use crate::node::{Kind, Node, TOP, link_target};
use crate::xattr;

/// `/tx/<id>` JSON kept: a header is a few KiB (owner and signature are 683 bytes of base64
/// each, tags at most 4 KiB), so this holds every header a session of model loading reads.
const HEADERS_KEPT: usize = 4096;
const HEADER_BYTES_KEPT: usize = 16 << 20;
/// `/block/<h>` JSON kept: a real block is tens of KiB (its transaction ids), with a
/// proof-of-access chunk up to about 400 KiB.
const BLOCKS_KEPT: usize = 1024;
const BLOCK_BYTES_KEPT: usize = 32 << 20;
/// Manifest trees kept. The byte budget holds two trees at the cap
/// ([`weavedrive_cache::arweave::manifest::MAX_TREE_NODES`], 57 MiB at worst), so even the
/// largest is built once, not on every lookup.
const MANIFESTS_KEPT: usize = 64;
const MANIFEST_BYTES_KEPT: usize = 128 << 20;
/// Manifests refused as too large to show, remembered so that asking again costs nothing
/// (checking the caps reads up to 64 MiB of paths) and is not logged again.
const REFUSED_KEPT: usize = 1024;

/// A node's attributes, as much as every frontend shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub kind: Kind,
    /// Bytes of a file, length of a symlink's target, 0 for a directory.
    pub size: u64,
}

/// One entry of a listing (without `.` and `..`, which each frontend adds its own way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub node: Node,
    pub kind: Kind,
}

/// A path manifest as directories, with what names it lacks lead to.
struct ManifestDirs {
    tree: DirTree,
    fallback: Option<TxId>,
}

/// Serves the tree from a Drive. Calls block the calling thread on the runtime for misses,
/// so call them from frontend threads, never from a tokio worker.
pub struct Namespace {
    drive: Drive,
    runtime: tokio::runtime::Handle,
    policy: AccessPolicy,
    /// `/tx/<id>` JSON recently shown.
    headers: Memo<TxId, Bytes>,
    /// Block JSON by height, recently shown (listed under `/block`).
    blocks: Memo<u64, Bytes>,
    /// Manifests recently looked up, as directory trees (listed under `/manifest`).
    manifests: Memo<TxId, Arc<ManifestDirs>>,
    refused: Memo<TxId, ()>,
}

impl Namespace {
    pub fn new(drive: Drive, runtime: tokio::runtime::Handle, policy: AccessPolicy) -> Self {
        Namespace {
            drive,
            runtime,
            policy,
            headers: Memo::new("headers", HEADERS_KEPT, HEADER_BYTES_KEPT),
            blocks: Memo::new("blocks", BLOCKS_KEPT, BLOCK_BYTES_KEPT),
            manifests: Memo::new("manifests", MANIFESTS_KEPT, MANIFEST_BYTES_KEPT),
            refused: Memo::new("refused manifests", REFUSED_KEPT, REFUSED_KEPT),
        }
    }

    pub fn drive(&self) -> &Drive {
        &self.drive
    }

    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// `Denied` for a node whose id the policy denies; checked before anything touches the
    /// network. Frontends call it again on open: a callback policy may change its mind.
    pub fn permit(&self, node: Node) -> NsResult<()> {
        match node.governed_id() {
            Some(id) if !self.policy.allows(&id) => {
                tracing::debug!(%id, "denied by the access policy");
                Err(ErrorKind::Denied.into())
            }
            _ => Ok(()),
        }
    }

    /// The child `name` of directory `parent`. An invalid name is `NotFound` without touching
    /// the network, a denied id `Denied` without either; a manifest is fetched (and verified)
    /// to look into it. Whether a data id exists is for [`Namespace::attr`] to find.
    pub fn child(&self, parent: Node, name: &str) -> NsResult<Node> {
        let node = match parent {
            Node::Root => TOP
                .iter()
                .find(|(top, _)| *top == name)
                .map(|(_, node)| *node)
                .ok_or(ErrorKind::NotFound)?,
            Node::DataDir => Node::Data(parse_id(name)?),
            Node::TxDir => Node::TxJson(parse_id(name)?),
            // Only canonical decimal heights ("7", not "07" or "+7").
            Node::BlockDir => match name.parse::<u64>() {
                Ok(height) if height.to_string() == name => Node::Block(height),
                _ => return Err(ErrorKind::NotFound.into()),
            },
            Node::ManifestDir => {
                let node = Node::ManifestPath(parse_id(name)?, 0);
                self.permit(node)?;
                self.manifest(&parse_id(name)?)?;
                node
            }
            Node::ManifestPath(id, dir) => {
                let manifest = self.manifest(&id)?;
                let dir = manifest.tree.dir(dir);
                let up = dir.depth() + 2;
                match dir.get(name) {
                    Some(Entry::Dir(child)) => Node::ManifestPath(id, child),
                    Some(Entry::File(target)) => Node::ManifestLink { target, up },
                    // Listed with a bad id: nothing, as `get` and gateways answer.
                    Some(Entry::DeadEnd) => return Err(ErrorKind::NotFound.into()),
                    None => manifest
                        .fallback
                        .map(|target| Node::ManifestLink { target, up })
                        .ok_or(ErrorKind::NotFound)?,
                }
            }
            Node::Data(_) | Node::TxJson(_) | Node::Block(_) | Node::ManifestLink { .. } => {
                return Err(ErrorKind::NotADirectory.into());
            }
        };
        self.permit(node)?;
        Ok(node)
    }

    /// Looks up `name` in `parent` and finds it exists: its header fetched and verified (a
    /// data item's size known), its block read, its manifest parsed. What a frontend calls
    /// before it hands out a handle.
    pub fn lookup(&self, parent: Node, name: &str) -> NsResult<(Node, Attr)> {
        let node = self.child(parent, name)?;
        Ok((node, self.attr(node)?))
    }

    /// Resolves a relative `path` from directory `start`, lexically, the way WASI resolves
    /// under a preopen: empty and `.` components are skipped; `..` may not climb above
    /// `start` (`Escapes`), nor may an absolute path. Checked before any lookup, so an escape
    /// costs no network request. A manifest's file met on the way is not a directory; one at
    /// the end is returned as is (see [`Node::followed`]).
    pub fn walk(&self, start: Node, path: &str) -> NsResult<Node> {
        if path.starts_with('/') {
            return Err(ErrorKind::Escapes.into());
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop().ok_or(ErrorKind::Escapes)?;
                }
                name => parts.push(name),
            }
        }
        let mut node = start;
        for name in parts {
            node = self.child(node, name)?;
        }
        // `x/` names a directory.
        if path.ends_with('/') && !node.is_dir() {
            self.attr(node)?;
            return Err(ErrorKind::NotADirectory.into());
        }
        Ok(node)
    }

    /// Kind and size, fetching (and verifying) a header, a block or a manifest if needed.
    /// A data item's size is known before its signature check; its tags are not.
    pub fn attr(&self, node: Node) -> NsResult<Attr> {
        self.permit(node)?;
        let (kind, size) = (node.kind(), 0);
        let size = match node {
            Node::ManifestPath(id, _) => {
                self.manifest(&id)?;
                size
            }
            Node::ManifestLink { target, up } => link_target(target, up).len() as u64,
            Node::Data(id) => self.block_on(self.drive.size(&id))?,
            Node::TxJson(_) | Node::Block(_) => self.json(node)?.len() as u64,
            _ => size,
        };
        Ok(Attr { kind, size })
    }

    /// The entries of a directory. `/data` and `/tx` list what is cached (Arweave itself
    /// cannot be listed), `/block` and `/manifest` what was recently read there; ids the
    /// policy denies are left out.
    pub fn list(&self, dir: Node) -> NsResult<Vec<Listed>> {
        self.permit(dir)?;
        let entry = |name: String, node: Node| Listed {
            name,
            kind: node.kind(),
            node,
        };
        let allowed = |id: &TxId| self.policy.allows(id);
        Ok(match dir {
            Node::Root => TOP
                .iter()
                .map(|(name, node)| entry(name.to_string(), *node))
                .collect(),
            Node::DataDir | Node::TxDir => {
                let ids = self.drive.cached_ids()?;
                ids.into_iter()
                    .filter(allowed)
                    .map(|id| {
                        let node = if dir == Node::DataDir {
                            Node::Data(id)
                        } else {
                            Node::TxJson(id)
                        };
                        entry(id.to_string(), node)
                    })
                    .collect()
            }
            Node::BlockDir => {
                let mut heights = self.blocks.keys();
                heights.sort_unstable();
                heights
                    .into_iter()
                    .map(|h| entry(h.to_string(), Node::Block(h)))
                    .collect()
            }
            Node::ManifestDir => {
                let mut ids = self.manifests.keys();
                ids.sort_unstable();
                ids.into_iter()
                    .filter(allowed)
                    .map(|id| entry(id.to_string(), Node::ManifestPath(id, 0)))
                    .collect()
            }
            Node::ManifestPath(id, dir) => {
                let manifest = self.manifest(&id)?;
                let dir = manifest.tree.dir(dir);
                let up = dir.depth() + 2;
                dir.entries()
                    .map(|(name, child)| {
                        let node = match child {
                            Entry::Dir(child) => Node::ManifestPath(id, child),
                            Entry::File(target) => Node::ManifestLink { target, up },
                            Entry::DeadEnd => unreachable!("not listed"),
                        };
                        entry(name.to_string(), node)
                    })
                    .collect()
            }
            Node::Data(_) | Node::TxJson(_) | Node::Block(_) | Node::ManifestLink { .. } => {
                return Err(ErrorKind::NotADirectory.into());
            }
        })
    }

    /// Opens a file for reading, following a manifest's file to its data. Directories are
    /// `IsADirectory` (frontends open those themselves).
    pub fn open(&self, node: Node) -> NsResult<File> {
        let node = node.followed();
        self.permit(node)?;
        match node {
            Node::Data(id) => Ok(File::Data(Arc::new(self.block_on(self.drive.open(&id))?))),
            Node::TxJson(_) | Node::Block(_) => Ok(File::Json(self.json(node)?)),
            _ => Err(ErrorKind::IsADirectory.into()),
        }
    }

    /// Fetches and verifies all of an open data file that is not cached yet (see
    /// [`Drive::verify_whole`]); for a frontend whose readers may map the file.
    pub fn verify_whole(&self, handle: &FileHandle) -> NsResult<()> {
        Ok(self.block_on(self.drive.verify_whole(&handle.id()))?)
    }

    /// Where a symlink points (relative, within the tree).
    pub fn readlink(&self, node: Node) -> NsResult<String> {
        match node {
            Node::ManifestLink { target, up } => Ok(link_target(target, up)),
            _ => Err(ErrorKind::NotASymlink.into()),
        }
    }

    /// Extended attributes: the tags of `/data/<id>` (after a data item's signature check);
    /// nothing elsewhere.
    pub fn xattrs(&self, node: Node) -> NsResult<Vec<xattr::Attribute>> {
        self.permit(node)?;
        match node {
            Node::Data(id) => Ok(xattr::tag_attributes(&self.metadata(&id)?.tags)),
            _ => Ok(Vec::new()),
        }
    }

    /// Whether `node` may be accessed: never for writing (`ReadOnly`), and only as the policy
    /// allows.
    pub fn access(&self, node: Node, write: bool) -> NsResult<()> {
        if write {
            return Err(ErrorKind::ReadOnly.into());
        }
        self.permit(node)
    }

    /// Bytes the cache holds and the number of ids it may show, for `statfs`.
    pub fn usage(&self) -> (u64, u64) {
        let stats = self.drive.stats();
        let used = stats.disk.map(|d| d.bytes).unwrap_or(stats.memory.bytes);
        let files = self
            .drive
            .cached_ids()
            .map(|ids| ids.iter().filter(|id| self.policy.allows(id)).count() as u64)
            .unwrap_or(0);
        (used, files)
    }

    /// Size, tags and JSON of a transaction or data item.
    fn metadata(&self, id: &TxId) -> NsResult<Metadata> {
        Ok(self.block_on(self.drive.metadata(id))?)
    }

    /// The JSON a `/tx` or `/block` file shows.
    fn json(&self, node: Node) -> NsResult<Bytes> {
        match node {
            Node::TxJson(id) => self.header_json(&id),
            Node::Block(height) => self.block_json(height),
            _ => Err(ErrorKind::IsADirectory.into()),
        }
    }

    /// `/tx/<id>`: the header as gateways serve it, plus the owner's address, pretty printed.
    fn header_json(&self, id: &TxId) -> NsResult<Bytes> {
        if let Some(json) = self.headers.get(id) {
            return Ok(json);
        }
        let json = self.metadata(id)?.json();
        self.headers.insert(*id, json.clone(), json.len());
        Ok(json)
    }

    /// `/block/<h>`: the gateway's block JSON plus a note that it is not authenticated.
    fn block_json(&self, height: u64) -> NsResult<Bytes> {
        if let Some(json) = self.blocks.get(&height) {
            return Ok(json);
        }
        let block = self
            .block_on(self.drive.block(height))
            .map_err(weavedrive_cache::DriveError::from)?;
        let mut value = block.json;
        value["weavedrive_verified"] = false.into();
        let mut text = serde_json::to_vec_pretty(&value).expect("JSON values serialise");
        text.push(b'\n');
        let json = Bytes::from(text);
        self.blocks.insert(height, json.clone(), json.len());
        Ok(json)
    }

    /// The manifest `id` holds, as directories. Data that is not a manifest is
    /// `NotADirectory`; a manifest too large to show as directories `TooLarge`.
    fn manifest(&self, id: &TxId) -> NsResult<Arc<ManifestDirs>> {
        if let Some(tree) = self.manifests.get(id) {
            return Ok(tree);
        }
        if self.refused.get(id).is_some() {
            return Err(ErrorKind::TooLarge.into());
        }
        let manifest = self.block_on(self.drive.manifest(id))?;
        let tree = DirTree::new(&manifest).map_err(|e| self.too_large_to_show(id, e))?;
        let bytes = tree.approx_bytes();
        let tree = Arc::new(ManifestDirs {
            tree,
            fallback: manifest.fallback,
        });
        self.manifests.insert(*id, tree.clone(), bytes);
        Ok(tree)
    }

    /// `TooLarge` for a manifest beyond a cap of its tree: the whole manifest is refused,
    /// never shown in part. Not `Unavailable`, which says the bytes could not be had verified
    /// (worth trying again), nor `NotADirectory`, which says it is not a manifest; this one
    /// is verified and will always be too large.
    fn too_large_to_show(&self, id: &TxId, error: ManifestError) -> NsError {
        tracing::warn!(
            %id,
            gateways = ?self.drive.source_labels(),
            %error,
            "manifest not shown as directories"
        );
        self.refused.insert(*id, (), 1);
        ErrorKind::TooLarge.into()
    }
}

/// A name under `/data`, `/tx` or `/manifest`: an id, or no such file (no reason to ask the
/// network).
fn parse_id(name: &str) -> NsResult<TxId> {
    name.parse().map_err(|_| ErrorKind::NotFound.into())
}
