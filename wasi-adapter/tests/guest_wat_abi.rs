//! A WAT guest that passes the host whatever it is told to: bad fds, out-of-bounds pointers,
//! escaping paths, writes. Each call must come back as the right WASI errno and the host must
//! keep working (no trap, no panic). Also the embedding API a compute unit would use: its own
//! store state implementing `WeaveWasiView`, and `add_to_linker` on its own `Linker`.

mod common;

use common::*;
use wasmtime::{Engine, Instance, Linker, Memory, Module, Store, TypedFunc};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use weavedrive_cache::AccessPolicy;
use weavedrive_wasi::{Placeholders, WeaveWasi, WeaveWasiView, add_to_linker};

const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $prestat_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $fd_pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_tell" (func $fd_tell (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber" (func $fd_renumber (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "prestat_name") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $prestat_name)
  (func (export "path_open") (param i32 i32 i32 i32 i64 i32) (result i32)
    ;; dirfd, path, path_len, oflags, rights_base, fd_out
    local.get 0 i32.const 0 local.get 1 local.get 2 local.get 3 local.get 4 i64.const 0
    i32.const 0 local.get 5 call $path_open)
  (func (export "fd_read") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_read)
  (func (export "fd_pread") (param i32 i32 i32 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $fd_pread)
  (func (export "fd_write") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_write)
  (func (export "fd_seek") (param i32 i64 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_seek)
  (func (export "fd_tell") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_tell)
  (func (export "fd_close") (param i32) (result i32)
    local.get 0 call $fd_close)
  (func (export "fd_readdir") (param i32 i32 i32 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $fd_readdir)
  (func (export "fd_filestat_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_filestat_get)
  (func (export "fd_fdstat_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_fdstat_get)
  (func (export "path_filestat_get") (param i32 i32 i32 i32) (result i32)
    local.get 0 i32.const 0 local.get 1 local.get 2 local.get 3 call $path_filestat_get)
  (func (export "path_unlink_file") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $path_unlink_file)
  (func (export "path_create_directory") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $path_create_directory)
  (func (export "fd_renumber") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_renumber)
)
"#;

/// A compute unit's own store state.
struct Unit {
    wasi: WasiP1Ctx,
    weave: WeaveWasi,
}

impl WeaveWasiView for Unit {
    fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }
    fn weave(&mut self) -> &mut WeaveWasi {
        &mut self.weave
    }
}

struct Guest {
    store: Store<Unit>,
    instance: Instance,
    memory: Memory,
    _placeholders: Placeholders,
}

const BADF: i32 = 8;
const FAULT: i32 = 21;
const INVAL: i32 = 28;
const ISDIR: i32 = 31;
const NOENT: i32 = 44;
const NOTDIR: i32 = 54;
const NOTSUP: i32 = 58;
const PERM: i32 = 63;
const ROFS: i32 = 69;
const FD_READ: i64 = 1 << 1;
const FD_WRITE: i64 = 1 << 6;
const OFLAG_CREAT: i32 = 1;
const OFLAG_DIRECTORY: i32 = 2;
/// Beyond the guest's two pages.
const OUT: i32 = 2 * 65536 + 16;

impl Guest {
    fn new(vfs: std::sync::Arc<weavedrive_wasi::VirtualFs>) -> Guest {
        let engine = Engine::default();
        let placeholders = Placeholders::new().unwrap();
        let mut builder = WasiCtxBuilder::new();
        placeholders.preopen(&mut builder).unwrap();
        let mut store = Store::new(
            &engine,
            Unit {
                wasi: builder.build_p1(),
                weave: WeaveWasi::new(vfs),
            },
        );
        let mut linker = Linker::new(&engine);
        add_to_linker(&mut linker).unwrap();
        let module = Module::new(&engine, GUEST).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        Guest {
            store,
            instance,
            memory,
            _placeholders: placeholders,
        }
    }

    fn func<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
        &mut self,
        name: &str,
    ) -> TypedFunc<P, R> {
        self.instance.get_typed_func(&mut self.store, name).unwrap()
    }

    fn put(&mut self, at: usize, bytes: &[u8]) {
        self.memory.write(&mut self.store, at, bytes).unwrap();
    }

    fn u32_at(&mut self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        self.memory.read(&self.store, at, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    /// Opens `path` under `dirfd`; the errno, and the new fd (written at 100) on success.
    fn open(&mut self, dirfd: i32, path: &str, oflags: i32, rights: i64) -> (i32, u32) {
        self.put(1000, path.as_bytes());
        let f = self.func::<(i32, i32, i32, i32, i64, i32), i32>("path_open");
        let errno = f
            .call(
                &mut self.store,
                (dirfd, 1000, path.len() as i32, oflags, rights, 100),
            )
            .unwrap();
        (errno, self.u32_at(100))
    }
}

#[test]
fn bad_guest_input_gets_the_right_errno() {
    let fx = fixture(&[300 * K]);
    let (id, bytes) = &fx.txs[0];
    let mut g = Guest::new(fx.vfs(AccessPolicy::AllowAll));

    // The shim learns its preopens as the guest reads their names (fd 3 is /data, 4 is /tx).
    let name = g.func::<(i32, i32, i32), i32>("prestat_name");
    assert_eq!(name.call(&mut g.store, (3, 0, 5)).unwrap(), 0);
    assert_eq!(name.call(&mut g.store, (4, 8, 3)).unwrap(), 0);
    let mut seen = [0u8; 5];
    g.memory.read(&g.store, 0, &mut seen).unwrap();
    assert_eq!(&seen, b"/data");
    // The stock implementation answers prestat (the placeholders are stock preopens); it
    // traps on a bad pointer where the shim's own calls return FAULT. Either way the host
    // carries on.
    assert!(name.call(&mut g.store, (3, OUT, 5)).is_err());

    // Opens: good, escaping, absolute, invalid, writing, creating, into a file.
    let (errno, fd) = g.open(3, &id.to_string(), 0, FD_READ);
    assert_eq!(errno, 0);
    assert!(fd >= weavedrive_wasi::fds::VIRTUAL_FD_BASE);
    let fd = fd as i32;
    assert_eq!(g.open(3, "../etc/passwd", 0, FD_READ).0, PERM);
    assert_eq!(g.open(3, "a/../../x", 0, FD_READ).0, PERM);
    assert_eq!(g.open(3, "/etc/passwd", 0, FD_READ).0, PERM);
    assert_eq!(g.open(3, "not-an-id", 0, FD_READ).0, NOENT);
    assert_eq!(g.open(3, &id.to_string(), 0, FD_READ | FD_WRITE).0, ROFS);
    assert_eq!(g.open(3, "new", OFLAG_CREAT, FD_READ).0, ROFS);
    assert_eq!(
        g.open(3, &id.to_string(), OFLAG_DIRECTORY, FD_READ).0,
        NOTDIR
    );
    assert_eq!(g.open(3, &format!("{id}/x"), 0, FD_READ).0, NOTDIR);
    assert_eq!(
        g.open(fd, "x", 0, FD_READ).0,
        NOTDIR,
        "a file is not a directory"
    );
    assert_eq!(g.open(9999, "x", 0, FD_READ).0, BADF);
    let open = g.func::<(i32, i32, i32, i32, i64, i32), i32>("path_open");
    assert_eq!(
        open.call(&mut g.store, (3, OUT, 43, 0, FD_READ, 100))
            .unwrap(),
        FAULT
    );
    assert_eq!(
        open.call(&mut g.store, (3, 1000, 43, 0, FD_READ, OUT))
            .unwrap(),
        FAULT
    );
    // Not UTF-8.
    g.put(2000, &[0xff, 0xfe]);
    assert_eq!(
        open.call(&mut g.store, (3, 2000, 2, 0, FD_READ, 100))
            .unwrap(),
        INVAL
    );

    // Reads: good ones match the source; bad fds and pointers are errnos.
    let read = g.func::<(i32, i32, i32, i32), i32>("fd_read");
    let pread = g.func::<(i32, i32, i32, i64, i32), i32>("fd_pread");
    let iov = |g: &mut Guest, at: usize, buf: u32, len: u32| {
        g.put(at, &buf.to_le_bytes());
        g.put(at + 4, &len.to_le_bytes());
    };
    iov(&mut g, 200, 4096, 10_000);
    assert_eq!(read.call(&mut g.store, (fd, 200, 1, 300)).unwrap(), 0);
    assert_eq!(g.u32_at(300), 10_000);
    let mut got = vec![0u8; 10_000];
    g.memory.read(&g.store, 4096, &mut got).unwrap();
    assert!(got == bytes[..10_000]);
    assert_eq!(
        pread
            .call(&mut g.store, (fd, 200, 1, 262_000, 300))
            .unwrap(),
        0
    );
    g.memory.read(&g.store, 4096, &mut got).unwrap();
    assert!(
        got == bytes[262_000..272_000],
        "pread across a chunk boundary"
    );
    assert_eq!(
        pread.call(&mut g.store, (fd, 200, 1, -1, 300)).unwrap(),
        INVAL
    );
    iov(&mut g, 200, (2 * 65536 - 100) as u32, 200);
    assert_eq!(
        read.call(&mut g.store, (fd, 200, 1, 300)).unwrap(),
        FAULT,
        "iovec past memory"
    );
    assert_eq!(
        read.call(&mut g.store, (fd, OUT, 1, 300)).unwrap(),
        FAULT,
        "iovecs past memory"
    );
    assert_eq!(
        read.call(&mut g.store, (fd, 200, i32::MAX, 300)).unwrap(),
        FAULT
    );
    assert_eq!(read.call(&mut g.store, (12345, 200, 1, 300)).unwrap(), BADF);
    assert_eq!(
        read.call(&mut g.store, (3, 200, 1, 300)).unwrap(),
        BADF,
        "the placeholder itself"
    );

    // Seek and tell.
    let seek = g.func::<(i32, i64, i32, i32), i32>("fd_seek");
    let tell = g.func::<(i32, i32), i32>("fd_tell");
    assert_eq!(seek.call(&mut g.store, (fd, -5, 2, 400)).unwrap(), 0);
    assert_eq!(tell.call(&mut g.store, (fd, 408)).unwrap(), 0);
    assert_eq!(g.u32_at(408) as usize, bytes.len() - 5);
    assert_eq!(seek.call(&mut g.store, (fd, -1, 0, 400)).unwrap(), INVAL);
    assert_eq!(seek.call(&mut g.store, (fd, 0, 9, 400)).unwrap(), INVAL);
    assert_eq!(seek.call(&mut g.store, (fd, 0, 0, OUT)).unwrap(), FAULT);

    // Writes anywhere in the tree.
    let write = g.func::<(i32, i32, i32, i32), i32>("fd_write");
    iov(&mut g, 200, 4096, 10);
    assert_eq!(write.call(&mut g.store, (fd, 200, 1, 300)).unwrap(), BADF);
    let unlink = g.func::<(i32, i32, i32), i32>("path_unlink_file");
    g.put(1000, id.to_string().as_bytes());
    assert_eq!(unlink.call(&mut g.store, (3, 1000, 43)).unwrap(), ROFS);
    let mkdir = g.func::<(i32, i32, i32), i32>("path_create_directory");
    assert_eq!(mkdir.call(&mut g.store, (3, 1000, 3)).unwrap(), ROFS);
    let renumber = g.func::<(i32, i32), i32>("fd_renumber");
    assert_eq!(renumber.call(&mut g.store, (fd, 1)).unwrap(), NOTSUP);

    // Stats and listings.
    let fstat = g.func::<(i32, i32), i32>("fd_filestat_get");
    assert_eq!(fstat.call(&mut g.store, (fd, 512)).unwrap(), 0);
    let mut stat = [0u8; 64];
    g.memory.read(&g.store, 512, &mut stat).unwrap();
    assert_eq!(stat[16], 4, "regular file");
    assert_eq!(
        u64::from_le_bytes(stat[32..40].try_into().unwrap()),
        bytes.len() as u64
    );
    assert_eq!(fstat.call(&mut g.store, (fd, OUT)).unwrap(), FAULT);
    let fdstat = g.func::<(i32, i32), i32>("fd_fdstat_get");
    assert_eq!(fdstat.call(&mut g.store, (fd, 600)).unwrap(), 0);
    let rights = {
        let mut b = [0u8; 8];
        g.memory.read(&g.store, 608, &mut b).unwrap();
        u64::from_le_bytes(b)
    };
    assert_eq!(
        rights & FD_WRITE as u64,
        0,
        "no write right on a read-only file"
    );
    assert_ne!(rights & FD_READ as u64, 0);
    let pstat = g.func::<(i32, i32, i32, i32), i32>("path_filestat_get");
    g.put(1000, b"..");
    assert_eq!(pstat.call(&mut g.store, (3, 1000, 2, 512)).unwrap(), PERM);
    assert_eq!(
        pstat.call(&mut g.store, (3, 1000, 1, 512)).unwrap(),
        0,
        "\".\" is the dir"
    );
    let readdir = g.func::<(i32, i32, i32, i64, i32), i32>("fd_readdir");
    assert_eq!(
        readdir.call(&mut g.store, (3, 8192, 4096, 0, 700)).unwrap(),
        0
    );
    let used = g.u32_at(700) as usize;
    let mut listing = vec![0u8; used];
    g.memory.read(&g.store, 8192, &mut listing).unwrap();
    let text = String::from_utf8_lossy(&listing);
    assert!(text.contains(&id.to_string()), "the opened id is listed");
    assert_eq!(
        readdir.call(&mut g.store, (3, OUT, 4096, 0, 700)).unwrap(),
        FAULT
    );
    assert_eq!(
        readdir
            .call(&mut g.store, (fd, 8192, 4096, 0, 700))
            .unwrap(),
        NOTDIR
    );
    // Opening the directory itself gives a directory fd.
    let (errno, dirfd) = g.open(3, ".", OFLAG_DIRECTORY, FD_READ);
    assert_eq!(errno, 0);
    assert_eq!(
        read.call(&mut g.store, (dirfd as i32, 200, 1, 300))
            .unwrap(),
        ISDIR
    );

    // Close: once, then BADF.
    let close = g.func::<(i32,), i32>("fd_close");
    assert_eq!(close.call(&mut g.store, (fd,)).unwrap(), 0);
    assert_eq!(close.call(&mut g.store, (fd,)).unwrap(), BADF);
    assert_eq!(read.call(&mut g.store, (fd, 200, 1, 300)).unwrap(), BADF);
}
