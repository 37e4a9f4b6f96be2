//! WeaveDrive's 64-bit WASI imports (`wasi_snapshot_preview1_64`): preview1's calls with
//! every pointer and size 64-bit, and safe wrappers that turn an errno into a [`Failure`]
//! naming the call.

use std::fmt;

/// An errno from a named call.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub call: &'static str,
    pub errno: u16,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: errno {} ({})",
            self.call,
            self.errno,
            errno_name(self.errno)
        )
    }
}

/// Names of the errnos a reader of `/data` can meet.
fn errno_name(errno: u16) -> &'static str {
    match errno {
        2 => "EACCES",
        8 => "EBADF",
        21 => "EFAULT",
        22 => "EFBIG",
        28 => "EINVAL",
        29 => "EIO",
        31 => "EISDIR",
        44 => "ENOENT",
        48 => "ENOMEM",
        52 => "ENOSYS",
        54 => "ENOTDIR",
        76 => "ENOTCAPABLE",
        _ => "see wasi_snapshot_preview1's errno list",
    }
}

fn check(call: &'static str, errno: u16) -> Result<(), Failure> {
    match errno {
        0 => Ok(()),
        errno => Err(Failure { call, errno }),
    }
}

#[repr(C)]
struct Iovec {
    buf: *mut u8,
    len: usize,
}

#[repr(C)]
struct Ciovec {
    buf: *const u8,
    len: usize,
}

/// 16 bytes: tag at 0 (0 = directory), the name's length (u64) at 8.
#[repr(C)]
#[derive(Default)]
struct Prestat {
    tag: u8,
    name_len: usize,
}

/// 64 bytes, as in wasm32 preview1 (all fields were already 64-bit or smaller).
#[repr(C)]
#[derive(Default)]
struct Filestat {
    dev: u64,
    ino: u64,
    filetype: u8,
    nlink: u64,
    size: u64,
    atim: u64,
    mtim: u64,
    ctim: u64,
}

const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_SEEK: u64 = 1 << 2;
const RIGHT_FD_FILESTAT_GET: u64 = 1 << 21;
const CLOCK_MONOTONIC: u32 = 1;

#[link(wasm_import_module = "wasi_snapshot_preview1_64")]
unsafe extern "C" {
    fn args_sizes_get(argc: *mut usize, buf_size: *mut usize) -> u16;
    fn args_get(argv: *mut *mut u8, buf: *mut u8) -> u16;
    fn fd_prestat_get(fd: u32, out: *mut Prestat) -> u16;
    fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: usize) -> u16;
    #[allow(clippy::too_many_arguments)]
    fn path_open(
        fd: u32,
        dirflags: u32,
        path: *const u8,
        path_len: usize,
        oflags: u32,
        rights_base: u64,
        rights_inheriting: u64,
        fdflags: u32,
        out: *mut u32,
    ) -> u16;
    fn fd_filestat_get(fd: u32, out: *mut Filestat) -> u16;
    fn fd_pread(fd: u32, iovs: *const Iovec, iovs_len: usize, at: u64, nread: *mut usize) -> u16;
    fn fd_write(fd: u32, iovs: *const Ciovec, iovs_len: usize, written: *mut usize) -> u16;
    fn fd_close(fd: u32) -> u16;
    fn clock_time_get(id: u32, precision: u64, out: *mut u64) -> u16;
    fn proc_exit(code: u32) -> !;
}

/// The program's arguments, its name first.
pub fn args() -> Result<Vec<String>, Failure> {
    let (mut argc, mut size) = (0usize, 0usize);
    // SAFETY: both pointers are to live locals of the width the call writes.
    check("args_sizes_get", unsafe {
        args_sizes_get(&mut argc, &mut size)
    })?;
    let mut pointers = vec![std::ptr::null_mut::<u8>(); argc];
    let mut buf = vec![0u8; size];
    // SAFETY: room for `argc` pointers and `size` bytes, as the host just said.
    check("args_get", unsafe {
        args_get(pointers.as_mut_ptr(), buf.as_mut_ptr())
    })?;
    let base = buf.as_ptr() as usize;
    Ok(pointers
        .iter()
        .map(|&p| {
            let start = p as usize - base;
            let len = buf[start..].iter().position(|&b| b == 0).unwrap_or(0);
            String::from_utf8_lossy(&buf[start..start + len]).into_owned()
        })
        .collect())
}

/// The name of preopen `fd`, or `None` past the last one (`EBADF`).
pub fn preopen_name(fd: u32) -> Result<Option<String>, Failure> {
    let mut prestat = Prestat::default();
    // SAFETY: a live `Prestat` of the ABI's layout.
    match unsafe { fd_prestat_get(fd, &mut prestat) } {
        0 => {}
        8 => return Ok(None),
        errno => {
            return Err(Failure {
                call: "fd_prestat_get",
                errno,
            });
        }
    }
    let mut name = vec![0u8; prestat.name_len];
    // SAFETY: `name` holds `name.len()` bytes.
    check("fd_prestat_dir_name", unsafe {
        fd_prestat_dir_name(fd, name.as_mut_ptr(), name.len())
    })?;
    Ok(Some(String::from_utf8_lossy(&name).into_owned()))
}

/// Opens `path` (relative to preopen `dir`) for reading.
pub fn open(dir: u32, path: &str) -> Result<u32, Failure> {
    let mut fd = 0u32;
    let rights = RIGHT_FD_READ | RIGHT_FD_SEEK | RIGHT_FD_FILESTAT_GET;
    // SAFETY: `path` is live for its length; `fd` is a live u32.
    check("path_open", unsafe {
        path_open(dir, 0, path.as_ptr(), path.len(), 0, rights, 0, 0, &mut fd)
    })?;
    Ok(fd)
}

pub fn file_size(fd: u32) -> Result<u64, Failure> {
    let mut stat = Filestat::default();
    // SAFETY: a live `Filestat` of the ABI's layout.
    check("fd_filestat_get", unsafe { fd_filestat_get(fd, &mut stat) })?;
    Ok(stat.size)
}

/// Reads into `buf` from offset `at`; returns the bytes read (0 at end of file).
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes.
pub unsafe fn pread(fd: u32, buf: *mut u8, len: usize, at: u64) -> Result<usize, Failure> {
    let iov = Iovec { buf, len };
    let mut n = 0usize;
    // SAFETY: one iovec over memory the caller vouches for; `n` is a live usize.
    check("fd_pread", unsafe { fd_pread(fd, &iov, 1, at, &mut n) })?;
    Ok(n)
}

pub fn close(fd: u32) -> Result<(), Failure> {
    // SAFETY: no pointers.
    check("fd_close", unsafe { fd_close(fd) })
}

/// Writes all of `bytes` to `fd` (1: stdout, 2: stderr).
pub fn write_all(fd: u32, mut bytes: &[u8]) -> Result<(), Failure> {
    while !bytes.is_empty() {
        let iov = Ciovec {
            buf: bytes.as_ptr(),
            len: bytes.len(),
        };
        let mut n = 0usize;
        // SAFETY: one iovec over `bytes`; `n` is a live usize.
        check("fd_write", unsafe { fd_write(fd, &iov, 1, &mut n) })?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Nanoseconds on the host's monotonic clock.
pub fn now_ns() -> Result<u64, Failure> {
    let mut t = 0u64;
    // SAFETY: a live u64.
    check("clock_time_get", unsafe {
        clock_time_get(CLOCK_MONOTONIC, 1, &mut t)
    })?;
    Ok(t)
}

pub fn exit(code: u32) -> ! {
    // SAFETY: no pointers; does not return.
    unsafe { proc_exit(code) }
}
