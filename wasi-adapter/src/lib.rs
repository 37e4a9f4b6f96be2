//! WASI preview1 shim: a wasm module run by wasmtime sees the tree the mount shows, `/data/<id>`
//! (verified transaction data), `/tx/<id>` (headers as JSON), `/block/<h>` and
//! `/manifest/<id>/<path>`, as preopened read-only directories, served straight from the
//! WeaveDrive cache into guest memory: no FUSE, no kernel copy. The tree is
//! `weavedrive_namespace::Namespace`'s; this crate is WASI glue over it ([`vfs`]: paths and
//! errnos, [`fds`]: descriptors, `ops`: the calls).
//!
//! Wasmtime has no virtual-directory API, so the shim registers the preview1 `fd_*`/`path_*`
//! imports itself (shadowing the stock ones) and hands every fd that is not its own to the
//! stock implementation. Its preopens are stock placeholder preopens of empty read-only
//! directories, so fd numbering stays the stock table's; the shim learns their numbers when
//! the guest reads their names (`fd_prestat_dir_name`, which wasi-libc calls at startup).
//! Files opened under them get fds from [`fds::VIRTUAL_FD_BASE`] up.
//!
//! Embedding (see `examples/wasi_host.rs`):
//! ```ignore
//! let weave = WeaveWasi::new(Arc::new(VirtualFs::new(drive, policy, runtime_handle)));
//! let mut builder = WasiCtxBuilder::new();
//! let placeholders = Placeholders::new()?;
//! placeholders.preopen(&mut builder)?;     // /data, /tx, /block, /manifest
//! builder.preopened_dir(host_dir, "/work", FsPerms::ReadWrite)?; // anything else, as usual
//! struct State { wasi: WasiP1Ctx, weave: WeaveWasi }   // impl WeaveWasiView for State
//! weavedrive_wasi::add_to_linker(&mut linker)?;
//! ```
//! Host calls block the calling thread on a miss, so run guests off the tokio workers.
//!
//! wasm64 (memory64, as AO's processes with up to 16 GiB use): preview1 has no memory64 ABI,
//! so [`add_to_linker64`] adds our own: the same calls with 64-bit pointers, sizes and
//! `iovec`s under the import module [`MODULE_64`] (`wasi_snapshot_preview1_64`), served by the
//! same code over a 64-bit [`abi::GuestMemory`]. Stock wasmtime-wasi is wasm32-only, so
//! nothing is delegated there: a memory64 guest sees `/data` (fd 3), `/tx` (fd 4), `/block`
//! (fd 5), `/manifest` (fd 6), stdout and stderr; `prestat` is 16 bytes (tag at 0, name
//! length as u64 at 8). [`add_program_to_linker64`] adds what a compiled program needs too
//! (args, env, clocks, random, `proc_exit`, `NOSYS` for the rest), under [`MODULE_64`] and
//! [`MODULE_PREVIEW1`] (Emscripten's `-sMEMORY64 -sSTANDALONE_WASM` output imports preview1's
//! name with 64-bit pointers); [`Host`] runs a memory64 module that way. The ABI for guest
//! authors: wasi-adapter/WASM64.md.

pub mod abi;
pub mod fds;
pub mod host;
mod linker;
mod linker64;
mod ops;
mod process64;
pub mod vfs;

pub use host::{Host, HostOptions, Placeholders, State};
pub use linker::{WeaveWasiView, add_to_linker};
pub use linker64::{MODULE_64, MODULE_PREVIEW1, add_program_to_linker64, add_to_linker64};
pub use ops::WeaveWasi;
pub use process64::Process64;
pub use vfs::{Root, VirtualFs};
