//! The FUSE filesystem: a thin translation from kernel requests to `Drive` calls. Names and
//! numbers here; what to fetch, verify, keep or prefetch is the Drive's business.
//!
//! ```text
//! /data/<id>   the transaction's data, read-only, size = data_size
//! /tx/<id>     its authenticated header as JSON (plus the owner's address)
//! /block/<h>   the block header at height h as a gateway reports it (shape-checked only:
//!              nothing we hold authenticates a block; see weavedrive_cache::gateway::block)
//! /manifest/<id>/<path>
//!              a path manifest as directories; each file is a symlink to ../data/<its id>,
//!              and a name the manifest lacks leads to its fallback, if it has one
//! ```
//! `/data/<id>` carries the transaction's tags as extended attributes (`user.arweave.tag.<name>`
//! and `user.arweave.tags`; see [`crate::xattr`]).
//!
//! Looking up a valid id that is not cached fetches (and verifies) its header; an invalid name
//! is ENOENT without touching the network, and only a name found gets an inode (see
//! [`crate::inodes`]). Directory listings show what is cached (`/block` and `/manifest`: what
//! was recently read there). A manifest too large to show as directories is EFBIG.
//!
//! The mount's [`AccessPolicy`] governs `/data` and `/tx` (not `/block`): an id it denies is
//! EACCES on lookup, getattr and open, before any network request, and is left out of
//! listings.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fuser::{
    AccessFlags, Errno, FileAttr, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    IoctlFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyStatfs, ReplyXattr,
    Request,
};
use weavedrive_cache::arweave::manifest::{DirTree, Entry, ManifestError};
use weavedrive_cache::drive::Metadata;
use weavedrive_cache::{AccessPolicy, Drive, DriveError, FileHandle, TxId};

use crate::inodes::{BLOCK_DIR, DATA_DIR, Inodes, MANIFEST_DIR, Node, ROOT, TX_DIR};
use crate::memo::Memo;
use crate::xattr;

/// Data under an id never changes: the kernel may keep names and attributes for a long time.
const IMMUTABLE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Directory listings grow as things are cached.
const DIR_TTL: Duration = Duration::from_secs(1);
thread_local! {
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest kernel read request and read-ahead we ask for.
const MAX_IO: u32 = 1 << 20;

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

pub struct WeaveFs {
    drive: Drive,
    runtime: tokio::runtime::Handle,
    inodes: Inodes,
    /// Which ids `/data` and `/tx` serve.
    policy: AccessPolicy,
    handles: Mutex<HashMap<u64, Arc<FileHandle>>>,
    next_handle: AtomicU64,
    /// `/tx/<id>` JSON recently shown.
    headers: Memo<TxId, Bytes>,
    /// Block JSON by height, recently shown (a height asked again after it was dropped is
    /// fetched again; an open file keeps what it opened, see `open_json`).
    blocks: Memo<u64, Bytes>,
    /// Manifests recently looked up, as directory trees (with their fallback).
    manifests: Memo<TxId, Arc<ManifestDirs>>,
    refused: Memo<TxId, ()>,
    /// The JSON each open `/tx` or `/block` file reads, so one open reads one version
    /// whatever the memos drop meanwhile.
    open_json: Mutex<HashMap<u64, Bytes>>,
    uid: u32,
    gid: u32,
    mounted_at: SystemTime,
}

impl WeaveFs {
    /// `runtime` runs the Drive's network work; FUSE threads block on it only for misses.
    /// Serves every id; see [`WeaveFs::with_policy`].
    pub fn new(drive: Drive, runtime: tokio::runtime::Handle) -> Self {
        WeaveFs {
            drive,
            runtime,
            inodes: Inodes::default(),
            policy: AccessPolicy::AllowAll,
            handles: Mutex::default(),
            next_handle: AtomicU64::new(1),
            headers: Memo::new("headers", HEADERS_KEPT, HEADER_BYTES_KEPT),
            blocks: Memo::new("blocks", BLOCKS_KEPT, BLOCK_BYTES_KEPT),
            manifests: Memo::new("manifests", MANIFESTS_KEPT, MANIFEST_BYTES_KEPT),
            refused: Memo::new("refused manifests", REFUSED_KEPT, REFUSED_KEPT),
            open_json: Mutex::default(),
            // SAFETY: getuid/getgid cannot fail.
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
            mounted_at: SystemTime::now(),
        }
    }

    /// Serve only the ids `policy` allows under `/data` and `/tx`.
    pub fn with_policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// EACCES for an id the policy denies; checked before anything touches the network.
    fn permit(&self, id: &TxId) -> Result<(), Errno> {
        if self.policy.allows(id) {
            Ok(())
        } else {
            tracing::debug!(%id, "denied by the access policy");
            Err(Errno::EACCES)
        }
    }

    /// The id a node serves, if the policy applies to it (`/data/<id>`, `/tx/<id>`, a
    /// manifest's directories; a manifest's files lead into `/data`, governed there).
    fn governed_id(node: Node) -> Option<TxId> {
        match node {
            Node::Data(id) | Node::TxJson(id) | Node::ManifestPath(id, _) => Some(id),
            _ => None,
        }
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    fn attr(&self, ino: u64, kind: FileType, size: u64) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: self.mounted_at,
            mtime: self.mounted_at,
            ctime: self.mounted_at,
            crtime: self.mounted_at,
            kind,
            perm: if kind == FileType::Directory {
                0o555
            } else {
                0o444
            },
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            flags: 0,
            // A hint to readers: big reads suit us (a chunk is 256 KiB).
            blksize: 256 * 1024,
        }
    }

    /// Attributes and TTL of a node, fetching its header if needed (and allowed).
    fn node_attr(&self, ino: u64, node: Node) -> Result<(FileAttr, Duration), Errno> {
        if let Some(id) = Self::governed_id(node) {
            self.permit(&id)?;
        }
        Ok(match node {
            Node::Root | Node::DataDir | Node::TxDir | Node::BlockDir | Node::ManifestDir => {
                (self.attr(ino, FileType::Directory, 0), DIR_TTL)
            }
            Node::ManifestPath(..) => (self.attr(ino, FileType::Directory, 0), IMMUTABLE_TTL),
            Node::ManifestLink { target, up } => {
                let len = link_target(target, up).len() as u64;
                (self.attr(ino, FileType::Symlink, len), IMMUTABLE_TTL)
            }
            // The size alone: a data item's tags wait for its signature check, its size not.
            Node::Data(id) => {
                let size = self.block_on(self.drive.size(&id)).map_err(errno)?;
                (self.attr(ino, FileType::RegularFile, size), IMMUTABLE_TTL)
            }
            Node::TxJson(id) => {
                let json = self.header_json(&id)?;
                (
                    self.attr(ino, FileType::RegularFile, json.len() as u64),
                    IMMUTABLE_TTL,
                )
            }
            Node::Block(height) => {
                let json = self.block_json(height)?;
                (
                    self.attr(ino, FileType::RegularFile, json.len() as u64),
                    IMMUTABLE_TTL,
                )
            }
        })
    }

    /// Size, tags and JSON of a transaction or data item.
    fn header(&self, id: &TxId) -> Result<Metadata, Errno> {
        self.block_on(self.drive.metadata(id)).map_err(errno)
    }

    /// `/tx/<id>`: the header as gateways serve it, plus the owner's address, pretty printed.
    fn header_json(&self, id: &TxId) -> Result<Bytes, Errno> {
        if let Some(json) = self.headers.get(id) {
            return Ok(json);
        }
        let json = self.header(id)?.json();
        self.headers.insert(*id, json.clone(), json.len());
        Ok(json)
    }

    /// `/block/<h>`: the gateway's block JSON plus a note that it is not authenticated.
    fn block_json(&self, height: u64) -> Result<Bytes, Errno> {
        if let Some(json) = self.blocks.get(&height) {
            return Ok(json);
        }
        let block = self
            .block_on(self.drive.client().block(height))
            .map_err(|e| errno(e.into()))?;
        let mut value = block.json;
        value["weavedrive_verified"] = false.into();
        let mut text = serde_json::to_vec_pretty(&value).map_err(|_| Errno::EIO)?;
        text.push(b'\n');
        let json = Bytes::from(text);
        self.blocks.insert(height, json.clone(), json.len());
        Ok(json)
    }

    /// The JSON of a `/tx` or `/block` file.
    fn json(&self, node: Node) -> Result<Bytes, Errno> {
        match node {
            Node::TxJson(id) => self.header_json(&id),
            Node::Block(height) => self.block_json(height),
            _ => Err(Errno::EISDIR),
        }
    }

    fn child(&self, parent: Node, name: &OsStr) -> Result<Node, Errno> {
        let name = name.to_str().ok_or(Errno::ENOENT)?;
        match parent {
            Node::Root => match name {
                "data" => Ok(Node::DataDir),
                "tx" => Ok(Node::TxDir),
                "block" => Ok(Node::BlockDir),
                "manifest" => Ok(Node::ManifestDir),
                _ => Err(Errno::ENOENT),
            },
            Node::ManifestDir => {
                let id: TxId = name.parse().map_err(|_| Errno::ENOENT)?;
                self.permit(&id)?;
                self.manifest(&id)?;
                Ok(Node::ManifestPath(id, 0))
            }
            Node::ManifestPath(id, dir) => {
                let manifest = self.manifest(&id)?;
                let dir = manifest.tree.dir(dir);
                let up = dir.depth() + 2;
                match dir.get(name) {
                    Some(Entry::Dir(child)) => Ok(Node::ManifestPath(id, child)),
                    Some(Entry::File(target)) => Ok(Node::ManifestLink { target, up }),
                    None => manifest
                        .fallback
                        .map(|target| Node::ManifestLink { target, up })
                        .ok_or(Errno::ENOENT),
                }
            }
            // Not an id: no such file, and no reason to ask the network. An id the policy
            // denies: EACCES, also without asking (and without an inode).
            Node::DataDir | Node::TxDir => {
                let id: TxId = name.parse().map_err(|_| Errno::ENOENT)?;
                self.permit(&id)?;
                Ok(if parent == Node::DataDir {
                    Node::Data(id)
                } else {
                    Node::TxJson(id)
                })
            }
            // Only canonical decimal heights ("7", not "07" or "+7").
            Node::BlockDir => match name.parse::<u64>() {
                Ok(height) if height.to_string() == name => Ok(Node::Block(height)),
                _ => Err(Errno::ENOENT),
            },
            Node::Data(_) | Node::TxJson(_) | Node::Block(_) | Node::ManifestLink { .. } => {
                Err(Errno::ENOTDIR)
            }
        }
    }

    /// The manifest `id` holds, as directories. Data that is not a manifest is ENOTDIR; a
    /// manifest too large to show as directories is EFBIG (see [`too_large_to_show`]).
    fn manifest(&self, id: &TxId) -> Result<Arc<ManifestDirs>, Errno> {
        if let Some(tree) = self.manifests.get(id) {
            return Ok(tree);
        }
        if self.refused.get(id).is_some() {
            return Err(Errno::EFBIG);
        }
        let manifest = self.block_on(self.drive.manifest(id)).map_err(errno)?;
        let tree = DirTree::new(&manifest).map_err(|e| self.too_large_to_show(id, e))?;
        let bytes = tree.approx_bytes();
        let tree = Arc::new(ManifestDirs {
            tree,
            fallback: manifest.fallback,
        });
        self.manifests.insert(*id, tree.clone(), bytes);
        Ok(tree)
    }

    /// EFBIG ("File too large") for a manifest beyond a cap of its tree: the whole manifest
    /// is refused, never shown in part. Not EIO, which says the bytes could not be had
    /// verified (worth trying again), nor ENOTDIR, which says it is not a manifest; this one
    /// is verified and will always be too large. Its paths still resolve (`weavedrive get
    /// <id>/<path>`), as on gateways.
    fn too_large_to_show(&self, id: &TxId, error: ManifestError) -> Errno {
        tracing::warn!(
            %id,
            gateways = ?self.drive.client().config().gateways,
            %error,
            "manifest not shown as directories"
        );
        self.refused.insert(*id, (), 1);
        Errno::EFBIG
    }

    fn dir_entries(&self, ino: u64, node: Node) -> Result<Vec<(u64, FileType, String)>, Errno> {
        let mut entries = vec![
            (ino, FileType::Directory, ".".to_string()),
            (ROOT, FileType::Directory, "..".to_string()),
        ];
        match node {
            Node::Root => {
                entries.push((DATA_DIR, FileType::Directory, "data".into()));
                entries.push((TX_DIR, FileType::Directory, "tx".into()));
                entries.push((BLOCK_DIR, FileType::Directory, "block".into()));
                entries.push((MANIFEST_DIR, FileType::Directory, "manifest".into()));
            }
            // Blocks recently shown: those the memo holds (the chain itself cannot be listed
            // cheaply).
            Node::BlockDir => {
                let mut heights = self.blocks.keys();
                heights.sort_unstable();
                for height in heights {
                    let ino = self.inodes.listed(Node::Block(height));
                    entries.push((ino, FileType::RegularFile, height.to_string()));
                }
            }
            Node::DataDir | Node::TxDir => {
                let ids = self.drive.cached_ids().map_err(errno)?;
                for id in ids.into_iter().filter(|id| self.policy.allows(id)) {
                    let child = if node == Node::DataDir {
                        Node::Data(id)
                    } else {
                        Node::TxJson(id)
                    };
                    entries.push((
                        self.inodes.listed(child),
                        FileType::RegularFile,
                        id.to_string(),
                    ));
                }
            }
            // Manifests recently looked up: those the memo holds.
            Node::ManifestDir => {
                let mut ids = self.manifests.keys();
                ids.sort_unstable();
                for id in ids.into_iter().filter(|id| self.policy.allows(id)) {
                    let ino = self.inodes.listed(Node::ManifestPath(id, 0));
                    entries.push((ino, FileType::Directory, id.to_string()));
                }
            }
            Node::ManifestPath(id, dir) => {
                let manifest = self.manifest(&id)?;
                let dir = manifest.tree.dir(dir);
                for (name, entry) in dir.entries() {
                    let (child, kind) = match entry {
                        Entry::Dir(child) => (Node::ManifestPath(id, child), FileType::Directory),
                        Entry::File(target) => (
                            Node::ManifestLink {
                                target,
                                up: dir.depth() + 2,
                            },
                            FileType::Symlink,
                        ),
                    };
                    entries.push((self.inodes.listed(child), kind, name.to_string()));
                }
            }
            Node::Data(_) | Node::TxJson(_) | Node::Block(_) | Node::ManifestLink { .. } => {
                return Err(Errno::ENOTDIR);
            }
        }
        Ok(entries)
    }

    /// Extended attributes: the tags of `/data/<id>`; nothing elsewhere.
    fn xattrs(&self, ino: u64) -> Result<Vec<xattr::Attribute>, Errno> {
        match self.inodes.node(ino) {
            Some(Node::Data(id)) => {
                self.permit(&id)?;
                Ok(xattr::tag_attributes(&self.header(&id)?.tags))
            }
            Some(_) => Ok(Vec::new()),
            None => Err(Errno::ENOENT),
        }
    }

    fn open_handle(&self, id: &TxId) -> Result<Arc<FileHandle>, Errno> {
        self.permit(id)?;
        Ok(Arc::new(self.block_on(self.drive.open(id)).map_err(errno)?))
    }
}

impl WeaveFs {
    /// The first reads of a data item wait for its signature check over all of its data
    /// (seconds to minutes for a large one): they wait on the runtime, and reply from there,
    /// so that the FUSE threads go on serving other files meanwhile.
    fn read_after_check(&self, handle: Arc<FileHandle>, offset: u64, size: u32, reply: ReplyData) {
        self.runtime.spawn(async move {
            let read = match handle.ready().await {
                Ok(()) => tokio::task::spawn_blocking(move || {
                    handle.read_at_blocking(offset, size as u64)
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e).into())),
                Err(e) => Err(e),
            };
            match read {
                Ok(bytes) => reply.data(&bytes),
                Err(e) => reply.error(errno(e)),
            }
        });
    }
}

/// An xattr answer: the size when asked for it (`size` 0), ERANGE when it does not fit.
fn reply_sized(reply: ReplyXattr, size: u32, bytes: &[u8]) {
    if size == 0 {
        reply.size(bytes.len() as u32)
    } else if (size as usize) < bytes.len() {
        reply.error(Errno::ERANGE)
    } else {
        reply.data(bytes)
    }
}

/// A path manifest as the mount shows it.
struct ManifestDirs {
    tree: DirTree,
    /// What names the manifest lacks lead to.
    fallback: Option<TxId>,
}

/// Where a manifest's file points: `up` directories up, then `data/<id>`.
fn link_target(target: TxId, up: u16) -> String {
    format!("{}data/{target}", "../".repeat(up as usize))
}

/// The part of an in-memory file a read asks for.
fn slice(file: &Bytes, offset: u64, size: u32) -> Bytes {
    let start = (offset as usize).min(file.len());
    let end = start.saturating_add(size as usize).min(file.len());
    file.slice(start..end)
}

fn errno(error: DriveError) -> Errno {
    if !error.is_not_found() {
        tracing::warn!(%error, "read failed");
    }
    Errno::from_i32(error.errno())
}

impl Filesystem for WeaveFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Large reads mean fewer round trips through the kernel; take what it allows. (The
        // kernel caps read-ahead at the bdi's read_ahead_kb, 128 KiB by default; measured,
        // raising it to 1 MiB made reads slower here, as each request is then served by one
        // thread, so it is left alone.)
        if let Err(max) = config.set_max_readahead(MAX_IO) {
            let _ = config.set_max_readahead(max);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let result = self
            .inodes
            .node(parent.0)
            .ok_or(Errno::ENOENT)
            .and_then(|parent| self.child(parent, name))
            .and_then(|node| Ok((node, self.node_attr(0, node)?)));
        match result {
            // Only now, found (and verified where there is anything to verify), does the
            // name get an inode.
            Ok((node, (mut attr, ttl))) => {
                attr.ino = INodeNo(self.inodes.looked_up(node));
                reply.entry(&ttl, &attr, Generation(0))
            }
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        // (fuser's `batch_forget` calls this for each inode: its argument type is not public
        // in fuser 0.18, so it cannot be overridden.)
        self.inodes.forget(ino.0, nlookup);
    }

    fn getattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: Option<fuser::FileHandle>,
        reply: ReplyAttr,
    ) {
        match self
            .inodes
            .node(ino.0)
            .ok_or(Errno::ENOENT)
            .and_then(|n| self.node_attr(ino.0, n))
        {
            Ok((attr, ttl)) => reply.attr(&ttl, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        let node = self.inodes.node(ino.0);
        // Again here, not only at lookup: the kernel keeps entries and inodes for a long time,
        // and a callback policy may have changed its mind since.
        if let Some(id) = node.and_then(Self::governed_id)
            && let Err(e) = self.permit(&id)
        {
            return reply.error(e);
        }
        match node {
            Some(Node::Data(id)) => match self.open_handle(&id) {
                Ok(handle) => {
                    let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
                    self.handles.lock().unwrap().insert(fh, handle);
                    // Immutable data: let the page cache keep it across opens.
                    reply.opened(fuser::FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
                }
                Err(e) => reply.error(e),
            },
            Some(node @ (Node::TxJson(_) | Node::Block(_))) => match self.json(node) {
                Ok(json) => {
                    let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
                    self.open_json.lock().unwrap().insert(fh, json);
                    reply.opened(fuser::FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE)
                }
                Err(e) => reply.error(e),
            },
            Some(_) => reply.error(Errno::EISDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: fuser::FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        tracing::trace!(ino = ino.0, offset, size, "read");
        let result = match self.inodes.node(ino.0) {
            Some(Node::Data(id)) => {
                let handle = self.handles.lock().unwrap().get(&fh.0).cloned();
                let handle = match handle {
                    Some(handle) => handle,
                    None => match self.open_handle(&id) {
                        Ok(handle) => handle,
                        Err(e) => return reply.error(e),
                    },
                };
                if handle.waits_for_check() {
                    return self.read_after_check(handle, offset, size, reply);
                }
                // One buffer per FUSE thread, reused: no allocation or page faults per read.
                return READ_BUFFER.with_borrow_mut(|buf| {
                    let mut reply = Some(reply);
                    let r = handle.read_at_blocking_with(offset, size as u64, buf, |bytes| {
                        reply.take().expect("replied once").data(bytes)
                    });
                    if let (Err(e), Some(reply)) = (r, reply) {
                        reply.error(errno(e))
                    }
                });
            }
            Some(node @ (Node::TxJson(_) | Node::Block(_))) => {
                let opened = self.open_json.lock().unwrap().get(&fh.0).cloned();
                opened
                    .map_or_else(|| self.json(node), Ok)
                    .map(|json| slice(&json, offset, size))
            }
            Some(_) => Err(Errno::EISDIR),
            None => Err(Errno::ENOENT),
        };
        match result {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.handles.lock().unwrap().remove(&fh.0);
        self.open_json.lock().unwrap().remove(&fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.inodes.node(ino.0) {
            Some(
                Node::Root
                | Node::DataDir
                | Node::TxDir
                | Node::BlockDir
                | Node::ManifestDir
                | Node::ManifestPath(..),
            ) => reply.opened(fuser::FileHandle(0), FopenFlags::empty()),
            Some(_) => reply.error(Errno::ENOTDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: fuser::FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = self
            .inodes
            .node(ino.0)
            .ok_or(Errno::ENOENT)
            .and_then(|n| self.dir_entries(ino.0, n));
        match entries {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.inodes.node(ino.0) {
            Some(Node::ManifestLink { target, up }) => {
                reply.data(link_target(target, up).as_bytes())
            }
            Some(_) => reply.error(Errno::EINVAL),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: fuser::FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing is ever written, so there is nothing to flush.
        reply.ok();
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let node = self.inodes.node(ino.0);
        match node {
            None => reply.error(Errno::ENOENT),
            Some(_) if mask.contains(AccessFlags::W_OK) => reply.error(Errno::EROFS),
            Some(node) if Self::governed_id(node).is_some_and(|id| !self.policy.allows(&id)) => {
                reply.error(Errno::EACCES)
            }
            Some(_) => reply.ok(),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let name = std::os::unix::ffi::OsStrExt::as_bytes(name);
        match self.xattrs(ino.0) {
            Ok(attributes) => match attributes.iter().find(|(n, _)| n == name) {
                Some((_, value)) => reply_sized(reply, size, value),
                None => reply.error(Errno::NO_XATTR),
            },
            Err(e) => reply.error(e),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        match self.xattrs(ino.0) {
            Ok(attributes) => reply_sized(reply, size, &xattr::name_list(&attributes)),
            Err(e) => reply.error(e),
        }
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: fuser::FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::ENOTTY);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let stats = self.drive.stats();
        let used = stats.disk.map(|d| d.bytes).unwrap_or(stats.memory.bytes);
        let files = self
            .drive
            .cached_ids()
            .map(|ids| ids.iter().filter(|id| self.policy.allows(id)).count() as u64)
            .unwrap_or(0);
        // Read-only: nothing free. Sizes in 4 KiB blocks.
        reply.statfs(used.div_ceil(4096), 0, 0, files, 0, 4096, 255, 4096);
    }
}
