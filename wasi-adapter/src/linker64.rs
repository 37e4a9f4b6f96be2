//! The memory64 variant of the shim's imports, under `wasi_snapshot_preview1_64`: the same
//! calls with 64-bit pointers, sizes and `iovec`s (WASI has no memory64 ABI yet; this is ours).
//! Wasmtime's stock WASI is wasm32-only, so nothing is delegated: a memory64 guest sees the
//! WeaveDrive tree (preopens at fds 3 and 4) and stdout/stderr, and other fds are `BADF`.

use std::io::Write;

use wasmtime::{Caller, Extern, Linker};

use crate::abi::{Errno, GuestMemory, WasiResult};
use crate::linker::WeaveWasiView;
use crate::ops::WeaveWasi;

pub const MODULE_64: &str = "wasi_snapshot_preview1_64";

fn ours64<T: WeaveWasiView>(
    caller: &mut Caller<'_, T>,
    call: impl FnOnce(&mut WeaveWasi, &mut GuestMemory) -> WasiResult<()>,
) -> wasmtime::Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let (bytes, state) = memory.data_and_store_mut(caller);
    let weave = state.weave();
    weave.ensure_wasm64_preopens();
    Ok(match call(weave, &mut GuestMemory::new64(bytes)) {
        Ok(()) => Errno::SUCCESS.code(),
        Err(errno) => errno.code(),
    })
}

macro_rules! wrap64 {
    ($linker:ident, $name:literal, ($($arg:ident: $ty:ty),*), |$s:ident, $m:ident| $body:expr) => {
        $linker.func_wrap(
            MODULE_64,
            $name,
            |mut caller: Caller<'_, T>, $($arg: $ty),*| -> wasmtime::Result<i32> {
                #[allow(unused_variables)]
                ours64(&mut caller, |$s, $m| $body)
            },
        )?;
    };
}

/// Bytes a memory64 guest writes to fd 1 or 2 go to the host's stdout or stderr.
fn write_stdio(
    fd: u32,
    mem: &mut GuestMemory,
    iovs: u64,
    len: u64,
    written: u64,
) -> WasiResult<()> {
    mem.check_size_ptr(written)?;
    let mut total = 0u64;
    for (buf, n) in mem.iovecs(iovs, len)? {
        let bytes = mem.slice(buf, n)?;
        let result = match fd {
            1 => std::io::stdout().write_all(bytes),
            2 => std::io::stderr().write_all(bytes),
            _ => return Err(Errno::BADF),
        };
        result.map_err(|_| Errno::IO)?;
        total += n;
    }
    mem.write_size(written, total)
}

pub fn add_to_linker64<T: WeaveWasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wrap64!(linker, "fd_prestat_get", (fd: i32, out: i64),
        |s, m| s.fd_prestat_get64(m, fd as u32, out as u64));
    wrap64!(linker, "fd_prestat_dir_name", (fd: i32, path: i64, len: i64),
        |s, m| s.fd_prestat_dir_name64(m, fd as u32, path as u64, len as u64));
    wrap64!(linker, "fd_read", (fd: i32, iovs: i64, len: i64, nread: i64),
        |s, m| s.fd_read(m, fd as u32, iovs as u64, len as u64, nread as u64));
    wrap64!(linker, "fd_pread", (fd: i32, iovs: i64, len: i64, at: i64, nread: i64),
        |s, m| s.fd_pread(m, fd as u32, iovs as u64, len as u64, at, nread as u64));
    wrap64!(linker, "fd_seek", (fd: i32, delta: i64, whence: i32, out: i64),
        |s, m| s.fd_seek(m, fd as u32, delta, whence, out as u64));
    wrap64!(linker, "fd_tell", (fd: i32, out: i64), |s, m| s.fd_tell(m, fd as u32, out as u64));
    wrap64!(linker, "fd_advise", (fd: i32, at: i64, len: i64, advice: i32),
        |s, m| s.fd_advise(fd as u32, at, len, advice));
    wrap64!(linker, "fd_fdstat_get", (fd: i32, out: i64),
        |s, m| s.fd_fdstat_get(m, fd as u32, out as u64));
    wrap64!(linker, "fd_filestat_get", (fd: i32, out: i64),
        |s, m| s.fd_filestat_get(m, fd as u32, out as u64));
    wrap64!(linker, "fd_readdir", (fd: i32, buf: i64, len: i64, cookie: i64, used: i64),
        |s, m| s.fd_readdir(m, fd as u32, buf as u64, len as u64, cookie, used as u64));
    wrap64!(linker, "fd_close", (fd: i32), |s, m| s.fd_close(fd as u32));
    wrap64!(linker, "fd_write", (fd: i32, iovs: i64, len: i64, written: i64),
    |s, m| match fd {
        1 | 2 => write_stdio(fd as u32, m, iovs as u64, len as u64, written as u64),
        _ => s.not_writable(fd as u32),
    });
    wrap64!(linker, "path_open",
        (fd: i32, _dirflags: i32, path: i64, path_len: i64, oflags: i32, base: i64,
         inheriting: i64, fdflags: i32, out: i64),
        |s, m| s.path_open(m, fd as u32, (path as u64, path_len as u64), oflags, base,
                           inheriting, fdflags, out as u64));
    wrap64!(linker, "path_filestat_get", (fd: i32, _flags: i32, path: i64, len: i64, out: i64),
        |s, m| s.path_filestat_get(m, fd as u32, (path as u64, len as u64), out as u64));
    Ok(())
}
