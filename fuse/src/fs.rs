//! The FUSE filesystem: glue from kernel requests to the [`Namespace`]. Inode numbers, file
//! handles, TTLs and errnos here; the tree, its policy and its memos are the namespace's, and
//! what to fetch, verify, keep or prefetch is the Drive's.
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
//! and `user.arweave.tags`; see [`weavedrive_namespace::xattr`]). Only a name found gets an
//! inode (see [`crate::inodes`]).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileAttr, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    IoctlFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyStatfs, ReplyXattr,
    Request,
};
use weavedrive_cache::{AccessPolicy, Drive, FileHandle};
use weavedrive_namespace::{Attr, File, Kind, Namespace, Node, NsError, xattr};

use crate::VerifyOnOpen;
use crate::errno::errno;
use crate::inodes::{Inodes, ROOT};
use crate::passthrough::{Io, Passthrough, PassthroughState};

/// Data under an id never changes: the kernel may keep names and attributes for a long time.
const IMMUTABLE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Directory listings grow as things are cached.
const DIR_TTL: Duration = Duration::from_secs(1);
thread_local! {
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest kernel read request and read-ahead we ask for.
const MAX_IO: u32 = 1 << 20;
/// Says how an open data file is served right now (`passthrough` or `fuse`); not listed.
const IO_XATTR: &[u8] = b"user.weavedrive.io";

/// An open file: what it reads, and how the kernel was told to serve it.
struct Opened {
    file: File,
    ino: u64,
    io: Io,
}

pub struct WeaveFs {
    ns: Namespace,
    inodes: Inodes,
    /// What each open file reads: a data handle, or the JSON read at open (one open reads one
    /// version whatever the memos drop meanwhile).
    open: Mutex<HashMap<u64, Opened>>,
    passthrough: PassthroughState,
    /// Which data files are verified whole when opened (see `verified_if_mappable`).
    verify_on_open: VerifyOnOpen,
    next_handle: AtomicU64,
    uid: u32,
    gid: u32,
    mounted_at: SystemTime,
}

impl WeaveFs {
    /// `runtime` runs the Drive's network work; FUSE threads block on it only for misses.
    pub fn new(
        drive: Drive,
        runtime: tokio::runtime::Handle,
        policy: AccessPolicy,
        verify_on_open: VerifyOnOpen,
        passthrough: Passthrough,
    ) -> Self {
        WeaveFs {
            ns: Namespace::new(drive, runtime, policy),
            inodes: Inodes::default(),
            open: Mutex::default(),
            passthrough: PassthroughState::new(passthrough),
            verify_on_open,
            next_handle: AtomicU64::new(1),
            // SAFETY: getuid/getgid cannot fail.
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
            mounted_at: SystemTime::now(),
        }
    }

    fn node(&self, ino: INodeNo) -> Result<Node, Errno> {
        self.inodes.node(ino.0).ok_or(Errno::ENOENT)
    }

    /// A data file, verified whole before it is handed out (its missing chunks fetched now)
    /// when `verify_on_open` says so, or EIO. Why: a reader that maps the file with
    /// MAP_POPULATE (llama.cpp's default loader) must never meet a failed page read. The
    /// kernel's populate loop retries such a fault for good: `filemap_fault` drops the mmap
    /// lock for the read, so a failed read returns VM_FAULT_RETRY rather than SIGBUS, and
    /// `__mm_populate` faults the same page again, fresh, forever (the reader hangs; only
    /// SIGKILL ends it). A failed open is an error the reader reports.
    fn verified_if_mappable(&self, file: File) -> Result<File, Errno> {
        let File::Data(handle) = &file else {
            return Ok(file);
        };
        let verify = match self.verify_on_open {
            VerifyOnOpen::Never => false,
            VerifyOnOpen::All => handle.size() > 0,
            // A data item not checked yet is checked whole by its first read, before any
            // byte leaves (so before a loader maps it): no need to read its magic here.
            VerifyOnOpen::Gguf => {
                !handle.waits_for_check()
                    && handle.size() >= 4
                    && handle
                        .read_at_blocking(0, 4)
                        .is_ok_and(|m| m[..] == *b"GGUF")
            }
        };
        if verify {
            self.ns.verify_whole(handle).map_err(|e| {
                tracing::warn!(id = %handle.id(), error = %e, "open refused: not all of it verifies");
                errno(e)
            })?;
        }
        Ok(file)
    }

    fn file_attr(&self, ino: u64, attr: Attr) -> FileAttr {
        let kind = file_type(attr.kind);
        let dir = attr.kind == Kind::Directory;
        FileAttr {
            ino: INodeNo(ino),
            size: attr.size,
            blocks: attr.size.div_ceil(512),
            atime: self.mounted_at,
            mtime: self.mounted_at,
            ctime: self.mounted_at,
            crtime: self.mounted_at,
            kind,
            perm: if dir { 0o555 } else { 0o444 },
            nlink: if dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            flags: 0,
            // A hint to readers: big reads suit us (a chunk is 256 KiB).
            blksize: 256 * 1024,
        }
    }

    /// Attributes and how long the kernel may keep them.
    fn attr(&self, ino: u64, node: Node) -> Result<(FileAttr, Duration), NsError> {
        Ok((self.file_attr(ino, self.ns.attr(node)?), ttl(node)))
    }

    fn remember(&self, file: File, ino: u64, io: Io) -> fuser::FileHandle {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.open
            .lock()
            .unwrap()
            .insert(fh, Opened { file, ino, io });
        fuser::FileHandle(fh)
    }

    /// The first reads of a data item wait for its signature check over all of its data
    /// (seconds to minutes for a large one): they wait on the runtime, and reply from there,
    /// so that the FUSE threads go on serving other files meanwhile.
    fn read_after_check(&self, handle: Arc<FileHandle>, offset: u64, size: u32, reply: ReplyData) {
        self.ns.runtime().spawn(async move {
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
                Err(e) => reply.error(errno(e.into())),
            }
        });
    }

    fn read_data(&self, handle: Arc<FileHandle>, offset: u64, size: u32, reply: ReplyData) {
        if handle.waits_for_check() {
            return self.read_after_check(handle, offset, size, reply);
        }
        // One buffer per FUSE thread, reused: no allocation or page faults per read.
        READ_BUFFER.with_borrow_mut(|buf| {
            let mut reply = Some(reply);
            let r = handle.read_at_blocking_with(offset, size as u64, buf, |bytes| {
                reply.take().expect("replied once").data(bytes)
            });
            if let (Err(e), Some(reply)) = (r, reply) {
                reply.error(errno(e.into()))
            }
        })
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

/// Names and attributes of what never changes may be kept long; listings grow.
fn ttl(node: Node) -> Duration {
    if node.is_immutable() {
        IMMUTABLE_TTL
    } else {
        DIR_TTL
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::Directory => FileType::Directory,
        Kind::File => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
    }
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
        self.passthrough.negotiate(config);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let result = self.node(parent).and_then(|parent| {
            let name = name.to_str().ok_or(Errno::ENOENT)?;
            let (node, attr) = self.ns.lookup(parent, name).map_err(errno)?;
            // Only now, found (and verified where there is anything to verify), does the
            // name get an inode.
            let ino = self.inodes.looked_up(node);
            Ok((self.file_attr(ino, attr), ttl(node)))
        });
        match result {
            Ok((attr, ttl)) => reply.entry(&ttl, &attr, Generation(0)),
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
            .node(ino)
            .and_then(|node| self.attr(ino.0, node).map_err(errno))
        {
            Ok((attr, ttl)) => reply.attr(&ttl, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        // The policy is asked again here, not only at lookup (inside `open`): the kernel
        // keeps entries and inodes for a long time, and a callback policy may have changed
        // its mind since.
        let opened = self
            .node(ino)
            .and_then(|node| self.ns.open(node).map_err(errno))
            .and_then(|file| self.verified_if_mappable(file));
        let file = match opened {
            Ok(file) => file,
            Err(e) => return reply.error(e),
        };
        let extent = match &file {
            File::Data(handle) => handle.extent_file(),
            File::Json(_) => None,
        };
        match self.passthrough.open(ino.0, extent, &reply) {
            Io::Backed(backing) => {
                let fh = self.remember(file, ino.0, Io::Backed(backing.clone()));
                reply.opened_passthrough(fh, FopenFlags::empty(), &backing)
            }
            // Immutable: let the page cache keep it across opens.
            Io::Ours => reply.opened(
                self.remember(file, ino.0, Io::Ours),
                FopenFlags::FOPEN_KEEP_CACHE,
            ),
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
        let opened = self.open.lock().unwrap().get(&fh.0).map(|o| o.file.clone());
        // A read without an open of ours (none in practice): open it for this read.
        let file = match opened {
            Some(file) => Ok(file),
            None => self
                .node(ino)
                .and_then(|node| self.ns.open(node).map_err(errno)),
        };
        match file {
            Ok(File::Data(handle)) => self.read_data(handle, offset, size, reply),
            Ok(File::Json(json)) => {
                reply.data(&weavedrive_namespace::slice(&json, offset, size as usize))
            }
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
        let opened = self.open.lock().unwrap().remove(&fh.0);
        if let Some(opened) = opened {
            self.passthrough.release(opened.ino, opened.io);
        }
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.node(ino) {
            Ok(node) if node.is_dir() => reply.opened(fuser::FileHandle(0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(e),
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
        let listed = self
            .node(ino)
            .and_then(|node| self.ns.list(node).map_err(errno));
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) => return reply.error(e),
        };
        let dots = [
            (ino.0, FileType::Directory, "."),
            (ROOT, FileType::Directory, ".."),
        ];
        let dots = dots
            .into_iter()
            .map(|(ino, kind, name)| (ino, kind, name.to_string()));
        // What a listing shows gets a number without a reference (see `Inodes::listed`).
        let entries = listed
            .into_iter()
            .map(|l| (self.inodes.listed(l.node), file_type(l.kind), l.name));
        for (i, (ino, kind, name)) in dots.chain(entries).enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self
            .node(ino)
            .and_then(|node| self.ns.readlink(node).map_err(errno))
        {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e),
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
        let write = mask.contains(AccessFlags::W_OK);
        match self
            .node(ino)
            .and_then(|node| self.ns.access(node, write).map_err(errno))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let name = std::os::unix::ffi::OsStrExt::as_bytes(name);
        if name == IO_XATTR && matches!(self.node(ino), Ok(Node::Data(_))) {
            return reply_sized(reply, size, self.passthrough.describe(ino.0).as_bytes());
        }
        match self
            .node(ino)
            .and_then(|node| self.ns.xattrs(node).map_err(errno))
        {
            Ok(attributes) => match attributes.iter().find(|(n, _)| n == name) {
                Some((_, value)) => reply_sized(reply, size, value),
                None => reply.error(Errno::NO_XATTR),
            },
            Err(e) => reply.error(e),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        match self
            .node(ino)
            .and_then(|node| self.ns.xattrs(node).map_err(errno))
        {
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
        let (used, files) = self.ns.usage();
        // Read-only: nothing free. Sizes in 4 KiB blocks.
        reply.statfs(used.div_ceil(4096), 0, 0, files, 0, 4096, 255, 4096);
    }
}
