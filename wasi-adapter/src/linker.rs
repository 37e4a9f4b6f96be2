//! Registration: the stock preview1 implementation first, then, shadowing it, every call that
//! takes an fd or a path. Each wrapper serves the shim's own fds and hands everything else to
//! the stock implementation with the same arguments, so host preopens, stdio, sockets and
//! clocks behave exactly as in a stock wasmtime host.

use wasmtime::{AsContextMut, Caller, Extern, Linker, Memory};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as stock_abi, WasiSnapshotPreview1};
use wasmtime_wasi::p1::{self, WasiP1Ctx};

use crate::abi::{Errno, GuestMemory, WasiResult};
use crate::ops::WeaveWasi;

const MODULE: &str = "wasi_snapshot_preview1";

/// Host state that holds both the stock context and the shim's.
pub trait WeaveWasiView: Send + 'static {
    fn wasi(&mut self) -> &mut WasiP1Ctx;
    fn weave(&mut self) -> &mut WeaveWasi;
}

fn memory<T>(caller: &mut Caller<'_, T>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => wasmtime::bail!("missing required memory export"),
    }
}

/// A wasm32 pointer or size, widened.
fn p(value: i32) -> u64 {
    u64::from(value as u32)
}

fn virt(w: &mut WeaveWasi, fd: i32) -> bool {
    w.fds.is_virtual(fd as u32)
}

fn open(w: &mut WeaveWasi, fd: i32) -> bool {
    w.fds.is_open(fd as u32)
}

/// Runs one of the shim's calls with the guest's memory and returns its errno.
fn ours<T: WeaveWasiView>(
    caller: &mut Caller<'_, T>,
    call: impl FnOnce(&mut WeaveWasi, &mut GuestMemory) -> WasiResult<()>,
) -> wasmtime::Result<i32> {
    let memory = memory(caller)?;
    let (bytes, state) = memory.data_and_store_mut(caller);
    Ok(match call(state.weave(), &mut GuestMemory::new32(bytes)) {
        Ok(()) => Errno::SUCCESS.code(),
        Err(errno) => errno.code(),
    })
}

/// Calls the stock implementation of `$func` exactly as its own linker entry would.
macro_rules! stock_with {
    ($run:path, $caller:ident, $func:ident($($arg:expr),*)) => {{
        let fuel = $caller.as_context_mut().hostcall_fuel();
        let memory = memory(&mut $caller)?;
        let (bytes, state) = memory.data_and_store_mut(&mut $caller);
        let ctx = state.wasi();
        ctx.set_hostcall_fuel(fuel);
        let mut guest = wiggle::GuestMemory::Unshared(bytes);
        $run(stock_abi::$func(ctx, &mut guest, $($arg),*))
    }};
}
macro_rules! stock_async {
    ($caller:ident, $func:ident($($arg:expr),*)) => {
        stock_with!(wasmtime_wasi::runtime::in_tokio, $caller, $func($($arg),*))
    };
}
macro_rules! stock_sync {
    ($caller:ident, $func:ident($($arg:expr),*)) => {
        stock_with!(std::convert::identity, $caller, $func($($arg),*))
    };
}

/// `wrap!(linker, stock_kind, name(args), |state| is_ours => |state, mem| body)`
macro_rules! wrap {
    ($linker:ident, $stock:ident, $name:ident($($arg:ident: $ty:ty),*),
     |$w:ident| $is_ours:expr => |$s:ident, $m:ident| $body:expr) => {
        $linker.func_wrap(
            MODULE,
            stringify!($name),
            |mut caller: Caller<'_, T>, $($arg: $ty),*| -> wasmtime::Result<i32> {
                let $w = caller.data_mut().weave();
                if $is_ours {
                    #[allow(unused_variables)]
                    return ours(&mut caller, |$s, $m| $body);
                }
                $stock!(caller, $name($($arg),*))
            },
        )?;
    };
}

/// Adds WASI preview1 to `linker` with the shim's `/data` and `/tx` in it. The host puts a
/// `WasiP1Ctx` built with [`crate::WeaveWasi::preopen`] and the matching `WeaveWasi` in its
/// store data.
pub fn add_to_linker<T: WeaveWasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    p1::add_to_linker_sync(linker, |t: &mut T| t.wasi())?;
    linker.allow_shadowing(true);

    wrap!(linker, stock_async, fd_read(fd: i32, iovs: i32, len: i32, nread: i32),
        |w| virt(w, fd) => |s, m| s.fd_read(m, fd as u32, p(iovs), p(len), p(nread)));
    wrap!(linker, stock_async, fd_pread(fd: i32, iovs: i32, len: i32, at: i64, nread: i32),
        |w| virt(w, fd) => |s, m| s.fd_pread(m, fd as u32, p(iovs), p(len), at, p(nread)));
    wrap!(linker, stock_async, fd_seek(fd: i32, delta: i64, whence: i32, out: i32),
        |w| virt(w, fd) => |s, m| s.fd_seek(m, fd as u32, delta, whence, p(out)));
    wrap!(linker, stock_sync, fd_tell(fd: i32, out: i32),
        |w| virt(w, fd) => |s, m| s.fd_tell(m, fd as u32, p(out)));
    wrap!(linker, stock_async, fd_advise(fd: i32, at: i64, len: i64, advice: i32),
        |w| virt(w, fd) => |s, m| s.fd_advise(fd as u32, at, len, advice));
    // The placeholder preopens answer fdstat and prestat as stock preopens (with the rights
    // wasi-libc expects); only files and directories opened under them are ours.
    wrap!(linker, stock_async, fd_fdstat_get(fd: i32, out: i32),
        |w| open(w, fd) => |s, m| s.fd_fdstat_get(m, fd as u32, p(out)));
    wrap!(linker, stock_sync, fd_fdstat_set_flags(fd: i32, flags: i32),
        |w| open(w, fd) => |s, m| s.fd_fdstat_set_flags(fd as u32, flags));
    wrap!(linker, stock_sync, fd_fdstat_set_rights(fd: i32, base: i64, inheriting: i64),
        |w| open(w, fd) => |s, m| s.fd_fdstat_set_rights(fd as u32, base, inheriting));
    wrap!(linker, stock_async, fd_filestat_get(fd: i32, out: i32),
        |w| virt(w, fd) => |s, m| s.fd_filestat_get(m, fd as u32, p(out)));
    wrap!(linker, stock_async, fd_readdir(fd: i32, buf: i32, len: i32, cookie: i64, used: i32),
        |w| virt(w, fd) => |s, m| s.fd_readdir(m, fd as u32, p(buf), p(len), cookie, p(used)));
    wrap!(linker, stock_async, fd_write(fd: i32, iovs: i32, len: i32, written: i32),
        |w| virt(w, fd) => |s, m| s.not_writable(fd as u32));
    wrap!(linker, stock_async, fd_pwrite(fd: i32, iovs: i32, len: i32, at: i64, written: i32),
        |w| virt(w, fd) => |s, m| s.not_writable(fd as u32));
    wrap!(linker, stock_sync, fd_allocate(fd: i32, at: i64, len: i64),
        |w| virt(w, fd) => |s, m| s.not_writable(fd as u32));
    wrap!(linker, stock_async, fd_filestat_set_size(fd: i32, size: i64),
        |w| virt(w, fd) => |s, m| s.not_writable(fd as u32));
    wrap!(linker, stock_async, fd_filestat_set_times(fd: i32, atim: i64, mtim: i64, flags: i32),
        |w| virt(w, fd) => |s, m| s.not_writable(fd as u32).map_err(|_| Errno::ROFS));
    wrap!(linker, stock_async, fd_sync(fd: i32),
        |w| virt(w, fd) => |s, m| s.nothing_to_sync(fd as u32));
    wrap!(linker, stock_async, fd_datasync(fd: i32),
        |w| virt(w, fd) => |s, m| s.nothing_to_sync(fd as u32));
    wrap!(linker, stock_async, fd_renumber(from: i32, to: i32),
        |w| virt(w, from) || virt(w, to) => |s, m| Err(Errno::NOTSUP));
    wrap!(linker, stock_async,
        path_open(fd: i32, dirflags: i32, path: i32, path_len: i32, oflags: i32,
                  base: i64, inheriting: i64, fdflags: i32, out: i32),
        |w| virt(w, fd) => |s, m| s.path_open(
            m, fd as u32, (p(path), p(path_len)), oflags, base, inheriting, fdflags, p(out)));
    wrap!(linker, stock_async, path_filestat_get(fd: i32, flags: i32, path: i32, len: i32, out: i32),
        |w| virt(w, fd) => |s, m| s.path_filestat_get(m, fd as u32, (p(path), p(len)), p(out)));
    wrap!(linker, stock_async,
        path_readlink(fd: i32, path: i32, len: i32, buf: i32, buf_len: i32, used: i32),
        |w| virt(w, fd) => |s, m| s.path_readlink(m, fd as u32, (p(path), p(len))));
    wrap!(linker, stock_async,
        path_filestat_set_times(fd: i32, flags: i32, path: i32, len: i32, atim: i64, mtim: i64, fst: i32),
        |w| virt(w, fd) => |s, m| s.read_only(fd as u32));
    wrap!(linker, stock_async, path_create_directory(fd: i32, path: i32, len: i32),
        |w| virt(w, fd) => |s, m| s.read_only(fd as u32));
    wrap!(linker, stock_async, path_remove_directory(fd: i32, path: i32, len: i32),
        |w| virt(w, fd) => |s, m| s.read_only(fd as u32));
    wrap!(linker, stock_async, path_unlink_file(fd: i32, path: i32, len: i32),
        |w| virt(w, fd) => |s, m| s.read_only(fd as u32));
    wrap!(linker, stock_async,
        path_symlink(old: i32, old_len: i32, fd: i32, new: i32, new_len: i32),
        |w| virt(w, fd) => |s, m| s.read_only(fd as u32));
    wrap!(linker, stock_async,
        path_link(old_fd: i32, flags: i32, old: i32, old_len: i32, new_fd: i32, new: i32, new_len: i32),
        |w| virt(w, old_fd) || virt(w, new_fd) => |s, m| s.read_only(old_fd as u32)
            .or_else(|_| s.read_only(new_fd as u32)));
    wrap!(linker, stock_async,
        path_rename(old_fd: i32, old: i32, old_len: i32, new_fd: i32, new: i32, new_len: i32),
        |w| virt(w, old_fd) || virt(w, new_fd) => |s, m| s.read_only(old_fd as u32)
            .or_else(|_| s.read_only(new_fd as u32)));

    // Closing a placeholder preopen closes the stock fd too, and its number may then be
    // reused by the stock table for a host file: forget it.
    linker.func_wrap(
        MODULE,
        "fd_close",
        |mut caller: Caller<'_, T>, fd: i32| -> wasmtime::Result<i32> {
            let weave = caller.data_mut().weave();
            if weave.fds.is_open(fd as u32) {
                return ours(&mut caller, |s, _| s.fd_close(fd as u32));
            }
            if weave.fds.is_preopen(fd as u32) {
                weave.fds.forget_preopen(fd as u32);
            }
            stock_async!(caller, fd_close(fd))
        },
    )?;
    // The guest learns its preopens' names here (wasi-libc does at startup); so do we.
    linker.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        |mut caller: Caller<'_, T>, fd: i32, path: i32, len: i32| -> wasmtime::Result<i32> {
            let errno = stock_sync!(caller, fd_prestat_dir_name(fd, path, len))?;
            if errno == Errno::SUCCESS.code() {
                let memory = memory(&mut caller)?;
                let (bytes, state) = memory.data_and_store_mut(&mut caller);
                if let Ok(name) = GuestMemory::new32(bytes).slice(p(path), p(len)) {
                    let name = name.to_vec();
                    state.weave().learn_preopen(fd as u32, &name);
                }
            }
            Ok(errno)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
