//! The WASI preview1 ABI as the shim needs it: errno, filetype, rights and flag values, and
//! bounds-checked access to guest memory with the struct layouts of `wasi_snapshot_preview1`
//! (little-endian, as wasm is). A pointer the guest got wrong is `FAULT`, never a host crash.

/// A WASI errno (`wasi_snapshot_preview1` numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

impl Errno {
    pub const SUCCESS: Errno = Errno(0);
    pub const ACCES: Errno = Errno(2);
    pub const BADF: Errno = Errno(8);
    pub const EXIST: Errno = Errno(20);
    pub const FBIG: Errno = Errno(22);
    pub const FAULT: Errno = Errno(21);
    pub const INVAL: Errno = Errno(28);
    pub const IO: Errno = Errno(29);
    pub const ISDIR: Errno = Errno(31);
    pub const MFILE: Errno = Errno(33);
    pub const NAMETOOLONG: Errno = Errno(37);
    pub const NOENT: Errno = Errno(44);
    pub const NOSYS: Errno = Errno(52);
    pub const NOTDIR: Errno = Errno(54);
    pub const NOTSUP: Errno = Errno(58);
    pub const OVERFLOW: Errno = Errno(61);
    pub const PERM: Errno = Errno(63);
    pub const ROFS: Errno = Errno(69);
    pub const SPIPE: Errno = Errno(70);
    pub const NOTCAPABLE: Errno = Errno(76);

    /// What a host function returns to the guest.
    pub fn code(self) -> i32 {
        i32::from(self.0)
    }
}

pub type WasiResult<T> = Result<T, Errno>;

pub mod filetype {
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
}

pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;

    /// What an open file under the read-only tree can do.
    pub const READ_ONLY_FILE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_ADVISE
        | FD_FILESTAT_GET
        | POLL_FD_READWRITE;
    /// What an open directory of the tree can do.
    pub const READ_ONLY_DIR: u64 =
        PATH_OPEN | FD_READDIR | PATH_READLINK | PATH_FILESTAT_GET | FD_FILESTAT_GET;
    /// Asking for any of these is asking to modify a file.
    pub const WRITING: u64 = FD_WRITE | FD_ALLOCATE | FD_FILESTAT_SET_SIZE | PATH_FILESTAT_SET_SIZE;
}

pub mod oflags {
    pub const CREAT: u16 = 1;
    pub const DIRECTORY: u16 = 2;
    pub const EXCL: u16 = 4;
    pub const TRUNC: u16 = 8;
}

pub mod fdflags {
    pub const APPEND: u16 = 1;
}

pub mod whence {
    pub const SET: u8 = 0;
    pub const CUR: u8 = 1;
    pub const END: u8 = 2;
}

pub mod advice {
    pub const WILLNEED: u8 = 3;
}

/// `filestat`: 64 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub mtime_ns: u64,
}

impl Filestat {
    pub const SIZE: usize = 64;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..8].copy_from_slice(&self.dev.to_le_bytes());
        out[8..16].copy_from_slice(&self.ino.to_le_bytes());
        out[16] = self.filetype;
        out[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        out[32..40].copy_from_slice(&self.size.to_le_bytes());
        for at in [40, 48, 56] {
            out[at..at + 8].copy_from_slice(&self.mtime_ns.to_le_bytes());
        }
        out
    }
}

/// `fdstat`: 24 bytes.
pub fn encode_fdstat(filetype: u8, flags: u16, base: u64, inheriting: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[0] = filetype;
    out[2..4].copy_from_slice(&flags.to_le_bytes());
    out[8..16].copy_from_slice(&base.to_le_bytes());
    out[16..24].copy_from_slice(&inheriting.to_le_bytes());
    out
}

/// A `dirent` header (24 bytes) followed by the name, as `fd_readdir` packs them.
pub fn encode_dirent(next_cookie: u64, ino: u64, filetype: u8, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + name.len());
    out.extend_from_slice(&next_cookie.to_le_bytes());
    out.extend_from_slice(&ino.to_le_bytes());
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.push(filetype);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(name.as_bytes());
    out
}

/// A guest's linear memory, every access bounds-checked. Pointers are offsets into it:
/// the u32 a wasm32 guest passed, or the u64 of a memory64 guest (`wide`), whose `iovec`s
/// and sizes are 64-bit too.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
    wide: bool,
}

/// A guest pointer, widened.
pub type Ptr = u64;

impl<'a> GuestMemory<'a> {
    pub fn new32(bytes: &'a mut [u8]) -> Self {
        GuestMemory { bytes, wide: false }
    }

    pub fn new64(bytes: &'a mut [u8]) -> Self {
        GuestMemory { bytes, wide: true }
    }

    fn range(&self, ptr: Ptr, len: u64) -> WasiResult<std::ops::Range<usize>> {
        let end = ptr.checked_add(len).ok_or(Errno::FAULT)?;
        if end > self.bytes.len() as u64 {
            return Err(Errno::FAULT);
        }
        Ok(ptr as usize..end as usize)
    }

    pub fn slice(&self, ptr: Ptr, len: u64) -> WasiResult<&[u8]> {
        let r = self.range(ptr, len)?;
        Ok(&self.bytes[r])
    }

    pub fn slice_mut(&mut self, ptr: Ptr, len: u64) -> WasiResult<&mut [u8]> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.bytes[r])
    }

    pub fn write(&mut self, ptr: Ptr, bytes: &[u8]) -> WasiResult<()> {
        self.slice_mut(ptr, bytes.len() as u64)?
            .copy_from_slice(bytes);
        Ok(())
    }

    pub fn write_u32(&mut self, ptr: Ptr, value: u32) -> WasiResult<()> {
        self.write(ptr, &value.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: Ptr, value: u64) -> WasiResult<()> {
        self.write(ptr, &value.to_le_bytes())
    }

    /// Bytes a `size` result takes: 4, or 8 for a memory64 guest.
    fn size_width(&self) -> u64 {
        if self.wide { 8 } else { 4 }
    }

    /// Checks that a `size` result fits at `ptr` before anything is done.
    pub fn check_size_ptr(&mut self, ptr: Ptr) -> WasiResult<()> {
        self.slice_mut(ptr, self.size_width()).map(drop)
    }

    /// Writes a `size` result (a byte count no larger than the guest's memory).
    pub fn write_size(&mut self, ptr: Ptr, value: u64) -> WasiResult<()> {
        if self.wide {
            self.write_u64(ptr, value)
        } else {
            self.write_u32(ptr, value as u32)
        }
    }

    pub fn read_u32(&self, ptr: Ptr) -> WasiResult<u32> {
        let bytes = self.slice(ptr, 4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    /// A path argument: UTF-8, as WASI requires.
    pub fn path(&self, ptr: Ptr, len: u64) -> WasiResult<&str> {
        std::str::from_utf8(self.slice(ptr, len)?).map_err(|_| Errno::INVAL)
    }

    /// An `iovec` array: (buf, len) pairs of pointer width, each checked against memory.
    pub fn iovecs(&self, ptr: Ptr, count: u64) -> WasiResult<Vec<(Ptr, u64)>> {
        let width = self.size_width();
        let raw = self.slice(ptr, count.checked_mul(2 * width).ok_or(Errno::FAULT)?)?;
        let word = |b: &[u8]| match b.len() {
            8 => u64::from_le_bytes(b.try_into().expect("8 bytes")),
            _ => u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes"))),
        };
        let iovecs: Vec<(Ptr, u64)> = raw
            .chunks_exact(2 * width as usize)
            .map(|pair| {
                let (buf, len) = pair.split_at(width as usize);
                (word(buf), word(len))
            })
            .collect();
        for &(buf, len) in &iovecs {
            self.range(buf, len)?;
        }
        Ok(iovecs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime_wasi::p1::types;

    #[test]
    fn errno_values_match_wasmtime() {
        for (ours, theirs) in [
            (Errno::ACCES, types::Errno::Acces),
            (Errno::BADF, types::Errno::Badf),
            (Errno::EXIST, types::Errno::Exist),
            (Errno::FAULT, types::Errno::Fault),
            (Errno::INVAL, types::Errno::Inval),
            (Errno::IO, types::Errno::Io),
            (Errno::ISDIR, types::Errno::Isdir),
            (Errno::MFILE, types::Errno::Mfile),
            (Errno::NAMETOOLONG, types::Errno::Nametoolong),
            (Errno::NOENT, types::Errno::Noent),
            (Errno::NOSYS, types::Errno::Nosys),
            (Errno::NOTDIR, types::Errno::Notdir),
            (Errno::NOTSUP, types::Errno::Notsup),
            (Errno::OVERFLOW, types::Errno::Overflow),
            (Errno::PERM, types::Errno::Perm),
            (Errno::ROFS, types::Errno::Rofs),
            (Errno::SPIPE, types::Errno::Spipe),
            (Errno::NOTCAPABLE, types::Errno::Notcapable),
        ] {
            assert_eq!(ours.0, theirs as u16, "{theirs:?}");
        }
        assert_eq!(rights::FD_READ, types::Rights::FD_READ.bits());
        assert_eq!(rights::FD_WRITE, types::Rights::FD_WRITE.bits());
        assert_eq!(rights::FD_READDIR, types::Rights::FD_READDIR.bits());
        assert_eq!(rights::PATH_OPEN, types::Rights::PATH_OPEN.bits());
        assert_eq!(
            rights::FD_FILESTAT_GET,
            types::Rights::FD_FILESTAT_GET.bits()
        );
        assert_eq!(
            rights::PATH_FILESTAT_SET_SIZE,
            types::Rights::PATH_FILESTAT_SET_SIZE.bits()
        );
        assert_eq!(
            rights::POLL_FD_READWRITE,
            types::Rights::POLL_FD_READWRITE.bits()
        );
    }

    #[test]
    fn out_of_bounds_is_fault() {
        let mut backing = vec![0u8; 64];
        let mut mem = GuestMemory::new32(&mut backing);
        assert_eq!(mem.write_u64(60, 1), Err(Errno::FAULT));
        assert_eq!(mem.write_u32(u64::MAX, 1), Err(Errno::FAULT));
        assert!(mem.write_u64(56, 1).is_ok());
        mem.write_u32(0, 40).unwrap();
        mem.write_u32(4, 100).unwrap();
        assert_eq!(mem.iovecs(0, 1), Err(Errno::FAULT), "iovec past the end");
        mem.write_u32(4, 24).unwrap();
        assert_eq!(mem.iovecs(0, 1), Ok(vec![(40, 24)]));
        assert_eq!(mem.iovecs(0, u64::from(u32::MAX)), Err(Errno::FAULT));
        assert_eq!(mem.iovecs(0, u64::MAX), Err(Errno::FAULT));
    }

    #[test]
    fn memory64_iovecs_and_sizes_are_64_bit() {
        let mut backing = vec![0u8; 64];
        let mut mem = GuestMemory::new64(&mut backing);
        mem.write_u64(0, 32).unwrap();
        mem.write_u64(8, 16).unwrap();
        assert_eq!(mem.iovecs(0, 1), Ok(vec![(32, 16)]));
        mem.write_size(48, 7).unwrap();
        assert_eq!(&backing[48..56], &7u64.to_le_bytes());
        let mut mem = GuestMemory::new64(&mut backing);
        assert_eq!(mem.check_size_ptr(60), Err(Errno::FAULT));
    }

    #[test]
    fn layouts() {
        let stat = Filestat {
            dev: 1,
            ino: 2,
            filetype: filetype::REGULAR_FILE,
            nlink: 1,
            size: 5,
            mtime_ns: 0,
        };
        let bytes = stat.encode();
        assert_eq!(bytes[16], 4);
        assert_eq!(u64::from_le_bytes(bytes[32..40].try_into().unwrap()), 5);
        let dirent = encode_dirent(7, 9, filetype::DIRECTORY, "ab");
        assert_eq!(dirent.len(), 26);
        assert_eq!(dirent[20], 3);
        assert_eq!(&dirent[24..], b"ab");
    }
}
