//! The shim's own descriptors. Guest fds are shared with the stock WASI implementation, so the
//! shim only ever claims numbers the stock table cannot hand out: its preopens are stock
//! placeholders (empty read-only host directories) whose numbers it learns when the guest
//! asks their names, and files opened under them get numbers from `VIRTUAL_FD_BASE` up,
//! far above anything the stock table reaches (it counts up from its highest fd).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::abi::{Errno, WasiResult};
use weavedrive_namespace::Node;

use crate::vfs::{Content, Dir, DirEntry, Root};

pub const VIRTUAL_FD_BASE: u32 = 0x4000_0000;
/// Open files per guest, like a process's fd limit.
pub const MAX_OPEN: usize = 1 << 16;

pub struct OpenFd {
    pub node: Node,
    pub content: Content,
    pub position: u64,
    pub rights_base: u64,
    pub rights_inheriting: u64,
    pub fdflags: u16,
}

#[derive(Default)]
pub struct FdTable {
    /// Stock placeholder fds standing for our preopens.
    preopens: HashMap<u32, Root>,
    open: BTreeMap<u32, OpenFd>,
    /// Directory listings taken at cookie 0, so later `fd_readdir` pages are consistent.
    listings: HashMap<u32, Arc<Vec<DirEntry>>>,
}

impl FdTable {
    pub fn learn_preopen(&mut self, fd: u32, root: Root) {
        self.preopens.insert(fd, root);
    }

    pub fn forget_preopen(&mut self, fd: u32) {
        self.preopens.remove(&fd);
        self.listings.remove(&fd);
    }

    pub fn is_preopen(&self, fd: u32) -> bool {
        self.preopens.contains_key(&fd)
    }

    pub fn is_open(&self, fd: u32) -> bool {
        self.open.contains_key(&fd)
    }

    /// Ours: a preopen or something opened under one.
    pub fn is_virtual(&self, fd: u32) -> bool {
        self.is_preopen(fd) || self.is_open(fd)
    }

    /// The directory an fd stands for, for `path_*` calls.
    pub fn dir(&self, fd: u32) -> WasiResult<Dir> {
        if let Some(&root) = self.preopens.get(&fd) {
            return Ok(Dir::preopen(root));
        }
        match self.open.get(&fd).map(|f| &f.content) {
            Some(Content::Dir(dir)) => Ok(dir.clone()),
            Some(_) => Err(Errno::NOTDIR),
            None => Err(Errno::BADF),
        }
    }

    pub fn get(&self, fd: u32) -> WasiResult<&OpenFd> {
        self.open.get(&fd).ok_or(Errno::BADF)
    }

    pub fn get_mut(&mut self, fd: u32) -> WasiResult<&mut OpenFd> {
        self.open.get_mut(&fd).ok_or(Errno::BADF)
    }

    pub fn insert(&mut self, file: OpenFd) -> WasiResult<u32> {
        if self.open.len() >= MAX_OPEN {
            return Err(Errno::MFILE);
        }
        // Lowest free number from the base, as POSIX hands out fds.
        let mut fd = VIRTUAL_FD_BASE;
        for &used in self.open.keys() {
            if used != fd {
                break;
            }
            fd += 1;
        }
        self.open.insert(fd, file);
        Ok(fd)
    }

    pub fn close(&mut self, fd: u32) -> WasiResult<()> {
        self.listings.remove(&fd);
        self.open.remove(&fd).map(drop).ok_or(Errno::BADF)
    }

    pub fn listing(&self, fd: u32) -> Option<Arc<Vec<DirEntry>>> {
        self.listings.get(&fd).cloned()
    }

    pub fn set_listing(&mut self, fd: u32, entries: Arc<Vec<DirEntry>>) {
        self.listings.insert(fd, entries);
    }
}
