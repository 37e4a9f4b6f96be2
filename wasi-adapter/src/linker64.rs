//! WeaveDrive's memory64 WASI: preview1's calls with every pointer and size 64-bit (`iovec`s,
//! `prestat`'s name length and `size` results included), ours since WASI has no memory64 ABI.
//! Wasmtime's stock WASI is wasm32-only, so nothing is delegated: a memory64 guest sees the
//! WeaveDrive tree (preopens at fds 3 to 6: `/data`, `/tx`, `/block`, `/manifest`),
//! stdout/stderr, and, with [`add_program_to_linker64`], what a compiled program needs to
//! start and stop (see [`crate::process64`]). Other fds are `BADF`.
//!
//! Registered under [`MODULE_64`] (`wasi_snapshot_preview1_64`) and, for a whole program,
//! also under preview1's own name: a memory64 module importing `wasi_snapshot_preview1` (as
//! Emscripten's `-sMEMORY64 -sSTANDALONE_WASM` output does) gets these same 64-bit calls.
//! Guest authors: wasi-adapter/WASM64.md.

use std::io::Write;

use wasmtime::{Caller, Extern, Linker};

use crate::abi::{Errno, GuestMemory, WasiResult, encode_fdstat, rights};
use crate::linker::WeaveWasiView;
use crate::ops::WeaveWasi;
use crate::process64::{Process64, add_process64, add_unsupported64};

pub const MODULE_64: &str = "wasi_snapshot_preview1_64";
/// Preview1's module name, which memory64 toolchains (Emscripten) import with 64-bit
/// pointers.
pub const MODULE_PREVIEW1: &str = "wasi_snapshot_preview1";

/// Runs `call` over the guest's exported memory as a 64-bit [`GuestMemory`]; its errno is the
/// result.
pub(crate) fn with_memory64<T: WeaveWasiView>(
    caller: &mut Caller<'_, T>,
    call: impl FnOnce(&mut T, &mut GuestMemory) -> WasiResult<()>,
) -> wasmtime::Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let (bytes, state) = memory.data_and_store_mut(caller);
    Ok(match call(state, &mut GuestMemory::new64(bytes)) {
        Ok(()) => Errno::SUCCESS.code(),
        Err(errno) => errno.code(),
    })
}

fn ours64<T: WeaveWasiView>(
    caller: &mut Caller<'_, T>,
    call: impl FnOnce(&mut WeaveWasi, &mut GuestMemory) -> WasiResult<()>,
) -> wasmtime::Result<i32> {
    with_memory64(caller, |state, mem| {
        let weave = state.weave();
        weave.ensure_wasm64_preopens();
        call(weave, mem)
    })
}

macro_rules! wrap64 {
    ($linker:ident, $module:ident, $name:literal, ($($arg:ident: $ty:ty),*), |$s:ident, $m:ident| $body:expr) => {
        $linker.func_wrap(
            $module,
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

/// `fdstat` of stdout and stderr: write-only character devices.
fn stdio_fdstat(mem: &mut GuestMemory, out: u64) -> WasiResult<()> {
    const CHARACTER_DEVICE: u8 = 2;
    mem.write(
        out,
        &encode_fdstat(CHARACTER_DEVICE, 0, rights::FD_WRITE, 0),
    )
}

/// The tree's calls and stdout/stderr under [`MODULE_64`]: all a guest that only reads needs
/// (the host drives it by calling its exports).
pub fn add_to_linker64<T: WeaveWasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    add_files64(linker, MODULE_64)
}

/// Everything a compiled memory64 program imports, under [`MODULE_64`] and
/// [`MODULE_PREVIEW1`]: the tree, stdio, `process`'s args and environment, clocks, random,
/// `proc_exit`, and `NOSYS` for the rest of preview1; and Emscripten's one `env` import. Not
/// for a linker that also has the wasm32 preview1 (the names would clash).
pub fn add_program_to_linker64<T: WeaveWasiView>(
    linker: &mut Linker<T>,
    process: &Process64,
) -> wasmtime::Result<()> {
    for module in [MODULE_64, MODULE_PREVIEW1] {
        add_files64(linker, module)?;
        add_process64(linker, module, process)?;
        add_unsupported64(linker, module)?;
    }
    // Emscripten's output with -sALLOW_MEMORY_GROWTH tells its JS glue of each growth;
    // standalone, nothing needs to know.
    linker.func_wrap("env", "emscripten_notify_memory_growth", |_memory: i64| {})?;
    Ok(())
}

fn add_files64<T: WeaveWasiView>(linker: &mut Linker<T>, module: &str) -> wasmtime::Result<()> {
    wrap64!(linker, module, "fd_prestat_get", (fd: i32, out: i64),
        |s, m| s.fd_prestat_get64(m, fd as u32, out as u64));
    wrap64!(linker, module, "fd_prestat_dir_name", (fd: i32, path: i64, len: i64),
        |s, m| s.fd_prestat_dir_name64(m, fd as u32, path as u64, len as u64));
    wrap64!(linker, module, "fd_read", (fd: i32, iovs: i64, len: i64, nread: i64),
        |s, m| s.fd_read(m, fd as u32, iovs as u64, len as u64, nread as u64));
    wrap64!(linker, module, "fd_pread", (fd: i32, iovs: i64, len: i64, at: i64, nread: i64),
        |s, m| s.fd_pread(m, fd as u32, iovs as u64, len as u64, at, nread as u64));
    wrap64!(linker, module, "fd_seek", (fd: i32, delta: i64, whence: i32, out: i64),
        |s, m| s.fd_seek(m, fd as u32, delta, whence, out as u64));
    wrap64!(linker, module, "fd_tell", (fd: i32, out: i64),
        |s, m| s.fd_tell(m, fd as u32, out as u64));
    wrap64!(linker, module, "fd_advise", (fd: i32, at: i64, len: i64, advice: i32),
        |s, m| s.fd_advise(fd as u32, at, len, advice));
    wrap64!(linker, module, "fd_fdstat_get", (fd: i32, out: i64), |s, m| match fd {
        1 | 2 => stdio_fdstat(m, out as u64),
        _ => s.fd_fdstat_get(m, fd as u32, out as u64),
    });
    wrap64!(linker, module, "fd_filestat_get", (fd: i32, out: i64),
        |s, m| s.fd_filestat_get(m, fd as u32, out as u64));
    wrap64!(linker, module, "fd_readdir", (fd: i32, buf: i64, len: i64, cookie: i64, used: i64),
        |s, m| s.fd_readdir(m, fd as u32, buf as u64, len as u64, cookie, used as u64));
    wrap64!(linker, module, "fd_close", (fd: i32), |s, m| s.fd_close(fd as u32));
    wrap64!(linker, module, "fd_write", (fd: i32, iovs: i64, len: i64, written: i64),
    |s, m| match fd {
        1 | 2 => write_stdio(fd as u32, m, iovs as u64, len as u64, written as u64),
        _ => s.not_writable(fd as u32),
    });
    wrap64!(linker, module, "path_open",
        (fd: i32, _dirflags: i32, path: i64, path_len: i64, oflags: i32, base: i64,
         inheriting: i64, fdflags: i32, out: i64),
        |s, m| s.path_open(m, fd as u32, (path as u64, path_len as u64), oflags, base,
                           inheriting, fdflags, out as u64));
    wrap64!(linker, module, "path_filestat_get",
        (fd: i32, _flags: i32, path: i64, len: i64, out: i64),
        |s, m| s.path_filestat_get(m, fd as u32, (path as u64, len as u64), out as u64));
    wrap64!(linker, module, "path_readlink",
        (fd: i32, path: i64, len: i64, _buf: i64, _buf_len: i64, _used: i64),
        |s, m| s.path_readlink(m, fd as u32, (path as u64, len as u64)));
    Ok(())
}
