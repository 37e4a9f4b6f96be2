//! What a compiled memory64 program needs besides files, in WeaveDrive's 64-bit WASI: its
//! arguments and environment, clocks, random bytes, `sched_yield` and `proc_exit` (which
//! ends the run with [`wasmtime_wasi::I32Exit`], as the stock wasm32 WASI does), and `NOSYS`
//! for every other preview1 call, so that a module importing them still links.

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::RngCore;
use wasmtime::{Caller, Linker};
use wasmtime_wasi::I32Exit;

use crate::abi::{Errno, GuestMemory, Ptr, WasiResult};
use crate::linker::WeaveWasiView;
use crate::linker64::with_memory64;

/// A memory64 program's arguments (its name first) and environment.
#[derive(Debug, Clone, Default)]
pub struct Process64 {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Strings as `args_get`/`environ_get` hand them out: NUL-terminated, back to back.
#[derive(Debug)]
struct Strings {
    bytes: Vec<u8>,
    starts: Vec<u64>,
}

impl Strings {
    fn new(items: impl Iterator<Item = String>) -> Arc<Self> {
        let (mut bytes, mut starts) = (Vec::new(), Vec::new());
        for item in items {
            starts.push(bytes.len() as u64);
            bytes.extend_from_slice(item.as_bytes());
            bytes.push(0);
        }
        Arc::new(Strings { bytes, starts })
    }

    fn sizes(&self, mem: &mut GuestMemory, count: Ptr, size: Ptr) -> WasiResult<()> {
        mem.check_size_ptr(size)?;
        mem.write_size(count, self.starts.len() as u64)?;
        mem.write_size(size, self.bytes.len() as u64)
    }

    /// The pointers (64-bit each) at `list`, the strings at `buf`.
    fn get(&self, mem: &mut GuestMemory, list: Ptr, buf: Ptr) -> WasiResult<()> {
        let mut pointers = Vec::with_capacity(self.starts.len() * 8);
        for start in &self.starts {
            let at = buf.checked_add(*start).ok_or(Errno::FAULT)?;
            pointers.extend_from_slice(&at.to_le_bytes());
        }
        mem.slice_mut(buf, self.bytes.len() as u64)?;
        mem.write(list, &pointers)?;
        mem.write(buf, &self.bytes)
    }
}

const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_PROCESS_CPUTIME: i32 = 2;
const CLOCK_THREAD_CPUTIME: i32 = 3;

fn clock_ns(id: i32) -> WasiResult<u64> {
    static BASE: OnceLock<Instant> = OnceLock::new();
    match id {
        CLOCK_REALTIME => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .map_err(|_| Errno::IO),
        // From the first reading on, plus one so that no reading is 0.
        CLOCK_MONOTONIC => Ok(BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1),
        CLOCK_PROCESS_CPUTIME | CLOCK_THREAD_CPUTIME => Err(Errno::NOTSUP),
        _ => Err(Errno::INVAL),
    }
}

/// `$name` with `$args` answers `NOSYS`, touching nothing.
macro_rules! nosys {
    ($linker:ident, $module:ident, $($name:literal ($($ty:ty),*);)*) => {
        $(
            $linker.func_wrap($module, $name, |$(_: $ty),*| -> i32 {
                i32::from(Errno::NOSYS.0)
            })?;
        )*
    };
}

pub(crate) fn add_process64<T: WeaveWasiView>(
    linker: &mut Linker<T>,
    module: &str,
    process: &Process64,
) -> wasmtime::Result<()> {
    let args = Strings::new(process.args.iter().cloned());
    let env = Strings::new(process.env.iter().map(|(k, v)| format!("{k}={v}")));
    let strings = [("args", args), ("environ", env)];
    for (kind, strings) in strings {
        let s = strings.clone();
        linker.func_wrap(
            module,
            &format!("{kind}_sizes_get"),
            move |mut caller: Caller<'_, T>, count: i64, size: i64| {
                with_memory64(&mut caller, |_, m| s.sizes(m, count as u64, size as u64))
            },
        )?;
        linker.func_wrap(
            module,
            &format!("{kind}_get"),
            move |mut caller: Caller<'_, T>, list: i64, buf: i64| {
                with_memory64(&mut caller, |_, m| strings.get(m, list as u64, buf as u64))
            },
        )?;
    }
    linker.func_wrap(
        module,
        "clock_time_get",
        |mut caller: Caller<'_, T>, id: i32, _precision: i64, out: i64| {
            with_memory64(&mut caller, |_, m| m.write_u64(out as u64, clock_ns(id)?))
        },
    )?;
    linker.func_wrap(
        module,
        "clock_res_get",
        |mut caller: Caller<'_, T>, id: i32, out: i64| {
            with_memory64(&mut caller, |_, m| {
                clock_ns(id)?;
                m.write_u64(out as u64, 1)
            })
        },
    )?;
    linker.func_wrap(
        module,
        "random_get",
        |mut caller: Caller<'_, T>, buf: i64, len: i64| {
            with_memory64(&mut caller, |_, m| {
                rand::thread_rng().fill_bytes(m.slice_mut(buf as u64, len as u64)?);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(module, "sched_yield", || -> i32 {
        std::thread::yield_now();
        Errno::SUCCESS.code()
    })?;
    linker.func_wrap(module, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(I32Exit(code)))
    })?;
    Ok(())
}

/// The rest of preview1, with 64-bit pointers and sizes: nothing here writes, polls or
/// talks to sockets.
pub(crate) fn add_unsupported64<T: WeaveWasiView>(
    linker: &mut Linker<T>,
    module: &str,
) -> wasmtime::Result<()> {
    nosys!(linker, module,
        "fd_allocate"(i32, i64, i64);
        "fd_datasync"(i32);
        "fd_fdstat_set_flags"(i32, i32);
        "fd_fdstat_set_rights"(i32, i64, i64);
        "fd_filestat_set_size"(i32, i64);
        "fd_filestat_set_times"(i32, i64, i64, i32);
        "fd_pwrite"(i32, i64, i64, i64, i64);
        "fd_renumber"(i32, i32);
        "fd_sync"(i32);
        "path_create_directory"(i32, i64, i64);
        "path_filestat_set_times"(i32, i32, i64, i64, i64, i64, i32);
        "path_link"(i32, i32, i64, i64, i32, i64, i64);
        "path_remove_directory"(i32, i64, i64);
        "path_rename"(i32, i64, i64, i32, i64, i64);
        "path_symlink"(i64, i64, i32, i64, i64);
        "path_unlink_file"(i32, i64, i64);
        "poll_oneoff"(i64, i64, i64, i64);
        "proc_raise"(i32);
        "sock_accept"(i32, i32, i64);
        "sock_recv"(i32, i64, i64, i32, i64, i64);
        "sock_send"(i32, i64, i64, i32, i64);
        "sock_shutdown"(i32, i32);
    );
    Ok(())
}
