//! The preview1 calls on the shim's own fds, as plain functions of guest memory and shim
//! state (no wasmtime types), so they are tested directly. Every call answers with an errno;
//! results go to guest pointers, each bounds-checked.

use std::sync::Arc;

use crate::abi::{
    Errno, GuestMemory, Ptr, WasiResult, advice, encode_dirent, encode_fdstat, fdflags, filetype,
    oflags, rights, whence,
};
use crate::fds::{FdTable, OpenFd};
use crate::vfs::{Content, Root, VirtualFs, filetype_of};

/// The shim's per-guest state: the tree and the fds open in it.
pub struct WeaveWasi {
    pub(crate) vfs: Arc<VirtualFs>,
    pub(crate) fds: FdTable,
}

fn offset(value: i64) -> WasiResult<u64> {
    u64::try_from(value).map_err(|_| Errno::INVAL)
}

impl WeaveWasi {
    pub fn new(vfs: Arc<VirtualFs>) -> Self {
        WeaveWasi {
            vfs,
            fds: FdTable::default(),
        }
    }

    /// Reads into the iovecs from `at`; returns the bytes read (short only at end of file).
    fn read_iovecs(
        content: &Content,
        mem: &mut GuestMemory,
        iovs: Ptr,
        iovs_len: u64,
        at: u64,
    ) -> WasiResult<u64> {
        let mut total = 0u64;
        for (buf, len) in mem.iovecs(iovs, iovs_len)? {
            let out = mem.slice_mut(buf, len)?;
            let n = content.read_into(at + total, out)? as u64;
            total += n;
            if n < len {
                break;
            }
        }
        Ok(total)
    }

    fn readable(&self, fd: u32) -> WasiResult<&OpenFd> {
        let file = self.fds.get(fd)?;
        if file.node.is_dir() {
            return Err(Errno::ISDIR);
        }
        if file.rights_base & rights::FD_READ == 0 {
            return Err(Errno::BADF);
        }
        Ok(file)
    }

    pub fn fd_read(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        iovs: Ptr,
        iovs_len: u64,
        nread: Ptr,
    ) -> WasiResult<()> {
        mem.check_size_ptr(nread)?;
        let file = self.readable(fd)?;
        let n = Self::read_iovecs(&file.content.clone(), mem, iovs, iovs_len, file.position)?;
        self.fds.get_mut(fd)?.position += n;
        mem.write_size(nread, n)
    }

    pub fn fd_pread(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        iovs: Ptr,
        iovs_len: u64,
        at: i64,
        nread: Ptr,
    ) -> WasiResult<()> {
        mem.check_size_ptr(nread)?;
        let content = self.readable(fd)?.content.clone();
        let n = Self::read_iovecs(&content, mem, iovs, iovs_len, offset(at)?)?;
        mem.write_size(nread, n)
    }

    pub fn fd_seek(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        delta: i64,
        whence: i32,
        new_offset: Ptr,
    ) -> WasiResult<()> {
        mem.slice_mut(new_offset, 8)?;
        let file = self.fds.get_mut(fd)?;
        if file.node.is_dir() {
            return Err(Errno::BADF);
        }
        let base = match whence as u8 {
            whence::SET => 0,
            whence::CUR => file.position,
            whence::END => file.content.size(),
            _ => return Err(Errno::INVAL),
        };
        let target = i128::from(base) + i128::from(delta);
        if target < 0 {
            return Err(Errno::INVAL);
        }
        file.position = u64::try_from(target).map_err(|_| Errno::OVERFLOW)?;
        mem.write_u64(new_offset, file.position)
    }

    pub fn fd_tell(&mut self, mem: &mut GuestMemory, fd: u32, out: Ptr) -> WasiResult<()> {
        let file = self.fds.get(fd)?;
        if file.node.is_dir() {
            return Err(Errno::BADF);
        }
        mem.write_u64(out, file.position)
    }

    /// `WILLNEED` starts fetching the range; the other advice needs nothing from us.
    pub fn fd_advise(&mut self, fd: u32, at: i64, len: i64, advice: i32) -> WasiResult<()> {
        let (at, len) = (offset(at)?, offset(len)?);
        if advice as u32 > 5 {
            return Err(Errno::INVAL);
        }
        let file = self.fds.get(fd)?;
        let handle = match &file.content {
            Content::File(file) => file.handle(),
            Content::Dir(_) => None,
        };
        if let (Some(handle), advice::WILLNEED) = (handle, advice as u8) {
            let end = if len == 0 {
                handle.size()
            } else {
                at.saturating_add(len)
            };
            handle.prefetch(at..end);
        }
        Ok(())
    }

    pub fn fd_fdstat_get(&mut self, mem: &mut GuestMemory, fd: u32, out: Ptr) -> WasiResult<()> {
        let file = self.fds.get(fd)?;
        let stat = encode_fdstat(
            filetype_of(file.node),
            file.fdflags,
            file.rights_base,
            file.rights_inheriting,
        );
        mem.write(out, &stat)
    }

    pub fn fd_fdstat_set_flags(&mut self, fd: u32, flags: i32) -> WasiResult<()> {
        let file = self.fds.get_mut(fd)?;
        if flags as u16 & fdflags::APPEND != 0 {
            // Append only matters to writers, and nothing here can be written.
            return Err(Errno::ROFS);
        }
        file.fdflags = flags as u16;
        Ok(())
    }

    /// Rights can only shrink.
    pub fn fd_fdstat_set_rights(&mut self, fd: u32, base: i64, inheriting: i64) -> WasiResult<()> {
        let file = self.fds.get_mut(fd)?;
        let (base, inheriting) = (base as u64, inheriting as u64);
        if base & !file.rights_base != 0 || inheriting & !file.rights_inheriting != 0 {
            return Err(Errno::NOTCAPABLE);
        }
        file.rights_base = base;
        file.rights_inheriting = inheriting;
        Ok(())
    }

    pub fn fd_filestat_get(&mut self, mem: &mut GuestMemory, fd: u32, out: Ptr) -> WasiResult<()> {
        mem.slice_mut(out, 64)?;
        let node = match self.fds.dir(fd) {
            Ok(dir) => self.vfs.resolve(&dir, "")?.0,
            Err(_) => self.fds.get(fd)?.node,
        };
        let stat = self.vfs.stat(node)?;
        mem.write(out, &stat.encode())
    }

    pub fn fd_close(&mut self, fd: u32) -> WasiResult<()> {
        self.fds.close(fd)
    }

    pub fn fd_readdir(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        buf: Ptr,
        buf_len: u64,
        cookie: i64,
        used: Ptr,
    ) -> WasiResult<()> {
        let dir = self.fds.dir(fd)?;
        mem.check_size_ptr(used)?;
        mem.slice_mut(buf, buf_len)?;
        let buf_len = buf_len as usize;
        let entries = match (cookie, self.fds.listing(fd)) {
            (1.., Some(entries)) => entries,
            _ => {
                let fresh = Arc::new(self.vfs.list(&dir)?);
                self.fds.set_listing(fd, fresh.clone());
                fresh
            }
        };
        let start = usize::try_from(cookie).map_err(|_| Errno::INVAL)?;
        let mut packed = Vec::with_capacity(buf_len);
        for (i, entry) in entries.iter().enumerate().skip(start) {
            if packed.len() >= buf_len {
                break;
            }
            let next = (i + 1) as u64;
            packed.extend(encode_dirent(next, entry.ino, entry.filetype, &entry.name));
        }
        // A full buffer tells the guest to come back (or grow it, if an entry was cut).
        packed.truncate(buf_len);
        mem.write(buf, &packed)?;
        mem.write_size(used, packed.len() as u64)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn path_open(
        &mut self,
        mem: &mut GuestMemory,
        dirfd: u32,
        path: (Ptr, u64),
        oflags: i32,
        rights_base: i64,
        rights_inheriting: i64,
        fdflags: i32,
        fd_out: Ptr,
    ) -> WasiResult<()> {
        let dir = self.fds.dir(dirfd)?;
        mem.slice_mut(fd_out, 4)?;
        let path = mem.path(path.0, path.1)?.to_owned();
        let path = path.as_str();
        let (oflags, fdflags) = (oflags as u16, fdflags as u16);
        let (node, at) = match self.vfs.resolve(&dir, path) {
            Err(Errno::NOENT) if oflags & oflags::CREAT != 0 => return Err(Errno::ROFS),
            other => other?,
        };
        if oflags & (oflags::CREAT | oflags::EXCL) == oflags::CREAT | oflags::EXCL {
            return Err(Errno::EXIST);
        }
        let is_dir = node.is_dir();
        if oflags & oflags::DIRECTORY != 0 && !is_dir {
            return Err(Errno::NOTDIR);
        }
        let wants_write = (rights_base as u64) & rights::WRITING != 0
            || fdflags & fdflags::APPEND != 0
            || oflags & oflags::TRUNC != 0;
        if wants_write {
            return Err(if is_dir { Errno::ISDIR } else { Errno::ROFS });
        }
        let (allowed_base, allowed_inheriting) = if is_dir {
            (
                rights::READ_ONLY_DIR,
                rights::READ_ONLY_DIR | rights::READ_ONLY_FILE,
            )
        } else {
            (rights::READ_ONLY_FILE, 0)
        };
        let content = self.vfs.open(node, at)?;
        let fd = self.fds.insert(OpenFd {
            node,
            content,
            position: 0,
            rights_base: rights_base as u64 & allowed_base,
            rights_inheriting: rights_inheriting as u64 & allowed_inheriting,
            fdflags,
        })?;
        mem.write_u32(fd_out, fd)
    }

    pub fn path_filestat_get(
        &mut self,
        mem: &mut GuestMemory,
        dirfd: u32,
        path: (Ptr, u64),
        out: Ptr,
    ) -> WasiResult<()> {
        let dir = self.fds.dir(dirfd)?;
        mem.slice_mut(out, 64)?;
        let path = mem.path(path.0, path.1)?.to_owned();
        let stat = self.vfs.stat(self.vfs.resolve(&dir, &path)?.0)?;
        mem.write(out, &stat.encode())
    }

    /// Nothing a guest sees is a symlink (a manifest's files are the files they lead to).
    pub fn path_readlink(
        &mut self,
        mem: &mut GuestMemory,
        dirfd: u32,
        path: (Ptr, u64),
    ) -> WasiResult<()> {
        let dir = self.fds.dir(dirfd)?;
        self.vfs.resolve(&dir, mem.path(path.0, path.1)?)?;
        Err(Errno::INVAL)
    }

    /// Any call that would change the tree: it is read-only. An fd that is not a directory
    /// of ours is still `BADF`/`NOTDIR`.
    pub fn read_only(&self, dirfd: u32) -> WasiResult<()> {
        self.fds.dir(dirfd)?;
        Err(Errno::ROFS)
    }

    /// Calls that write through an fd: it was not opened for writing.
    pub fn not_writable(&self, fd: u32) -> WasiResult<()> {
        self.fds
            .dir(fd)
            .map(drop)
            .or_else(|_| self.fds.get(fd).map(drop))?;
        Err(Errno::BADF)
    }

    /// `fd_sync`/`fd_datasync`: nothing is ever dirty.
    pub fn nothing_to_sync(&self, fd: u32) -> WasiResult<()> {
        self.fds
            .dir(fd)
            .map(drop)
            .or_else(|_| self.fds.get(fd).map(drop))
    }

    /// Records that stock fd `fd` is the placeholder preopen named `name`.
    pub fn learn_preopen(&mut self, fd: u32, name: &[u8]) {
        if let Some(root) = Root::ALL
            .into_iter()
            .find(|r| r.guest_path().as_bytes() == name)
        {
            self.fds.learn_preopen(fd, root);
        }
    }

    pub fn filetype_of(&self, fd: u32) -> Option<u8> {
        if self.fds.is_preopen(fd) {
            return Some(filetype::DIRECTORY);
        }
        self.fds.get(fd).ok().map(|f| filetype_of(f.node))
    }
}

/// Calls only the memory64 import module has: it has no stock implementation to learn
/// preopens from, so the tree's preopens are fixed at fds 3 (`/data`), 4 (`/tx`), 5
/// (`/block`) and 6 (`/manifest`).
impl WeaveWasi {
    pub const WASM64_PREOPENS: [(u32, Root); 4] = [
        (3, Root::Data),
        (4, Root::Tx),
        (5, Root::Block),
        (6, Root::Manifest),
    ];

    pub fn ensure_wasm64_preopens(&mut self) {
        for (fd, root) in Self::WASM64_PREOPENS {
            if !self.fds.is_preopen(fd) {
                self.fds.learn_preopen(fd, root);
            }
        }
    }

    fn preopen_name(&self, fd: u32) -> WasiResult<&'static str> {
        Self::WASM64_PREOPENS
            .iter()
            .find(|(n, _)| *n == fd && self.fds.is_preopen(fd))
            .map(|(_, root)| root.guest_path())
            .ok_or(Errno::BADF)
    }

    /// `prestat` for memory64: tag (u8, 0 = dir) at 0, name length (u64) at 8.
    pub fn fd_prestat_get64(&mut self, mem: &mut GuestMemory, fd: u32, out: Ptr) -> WasiResult<()> {
        let name = self.preopen_name(fd)?;
        let mut prestat = [0u8; 16];
        prestat[8..].copy_from_slice(&(name.len() as u64).to_le_bytes());
        mem.write(out, &prestat)
    }

    pub fn fd_prestat_dir_name64(
        &mut self,
        mem: &mut GuestMemory,
        fd: u32,
        path: Ptr,
        len: u64,
    ) -> WasiResult<()> {
        let name = self.preopen_name(fd)?;
        if len < name.len() as u64 {
            return Err(Errno::NAMETOOLONG);
        }
        mem.write(path, name.as_bytes())
    }
}
