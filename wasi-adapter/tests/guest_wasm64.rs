//! A memory64 guest (WAT, 4 GiB + 1 MiB of memory) reads `/data` through the shim's 64-bit
//! imports (`wasi_snapshot_preview1_64`): into buffers above 4 GiB, with 64-bit iovecs and
//! sizes; bad pointers and fds are errnos; nothing else of WASI is needed.

mod common;

use common::*;
use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use weavedrive_cache::AccessPolicy;
use weavedrive_wasi::{State, WeaveWasi, add_to_linker64};

const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1_64" "fd_prestat_get" (func $prestat (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1_64" "fd_prestat_dir_name" (func $name (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1_64" "path_open" (func $open (param i32 i32 i64 i64 i32 i64 i64 i32 i64) (result i32)))
  (import "wasi_snapshot_preview1_64" "fd_read" (func $read (param i32 i64 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1_64" "fd_pread" (func $pread (param i32 i64 i64 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1_64" "fd_filestat_get" (func $fstat (param i32 i64) (result i32)))
  (memory (export "memory") i64 65552)
  (func (export "prestat") (param i32 i64) (result i32) local.get 0 local.get 1 call $prestat)
  (func (export "name") (param i32 i64 i64) (result i32) local.get 0 local.get 1 local.get 2 call $name)
  (func (export "open") (param i32 i64 i64 i64) (result i32)
    local.get 0 i32.const 0 local.get 1 local.get 2 i32.const 0 i64.const 2 i64.const 0 i32.const 0 local.get 3
    call $open)
  (func (export "read") (param i32 i64 i64 i64) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $read)
  (func (export "pread") (param i32 i64 i64 i64 i64) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $pread)
  (func (export "fstat") (param i32 i64) (result i32) local.get 0 local.get 1 call $fstat)
)
"#;

const HIGH: u64 = (1 << 32) + 100;

#[test]
fn a_memory64_guest_reads_into_memory_above_4_gib() {
    let fx = fixture(&[600 * K]);
    let (id, bytes) = &fx.txs[0];
    let engine = Engine::default();
    let mut store = Store::new(
        &engine,
        State {
            wasi: WasiCtxBuilder::new().build_p1(),
            weave: WeaveWasi::new(fx.vfs(AccessPolicy::AllowAll)),
        },
    );
    let mut linker = Linker::new(&engine);
    add_to_linker64(&mut linker).unwrap();
    let module = Module::new(&engine, GUEST).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    let put =
        |store: &mut Store<State>, at: u64, b: &[u8]| memory.write(store, at as usize, b).unwrap();
    let u64_at = |store: &Store<State>, at: u64| {
        let mut b = [0u8; 8];
        memory.read(store, at as usize, &mut b).unwrap();
        u64::from_le_bytes(b)
    };

    let prestat = instance
        .get_typed_func::<(i32, i64), i32>(&mut store, "prestat")
        .unwrap();
    assert_eq!(prestat.call(&mut store, (3, 0)).unwrap(), 0);
    assert_eq!(u64_at(&store, 8), 5, "name length of /data");
    assert_eq!(
        prestat.call(&mut store, (5, 0)).unwrap(),
        8,
        "BADF past the preopens"
    );
    let name = instance
        .get_typed_func::<(i32, i64, i64), i32>(&mut store, "name")
        .unwrap();
    assert_eq!(name.call(&mut store, (4, HIGH as i64, 3)).unwrap(), 0);
    let mut tx = [0u8; 3];
    memory.read(&store, HIGH as usize, &mut tx).unwrap();
    assert_eq!(&tx, b"/tx");

    // Open with the path stored above 4 GiB; the fd written there too.
    put(&mut store, HIGH, id.to_string().as_bytes());
    let open = instance
        .get_typed_func::<(i32, i64, i64, i64), i32>(&mut store, "open")
        .unwrap();
    assert_eq!(
        open.call(&mut store, (3, HIGH as i64, 43, HIGH as i64 + 64))
            .unwrap(),
        0
    );
    let mut fd = [0u8; 4];
    memory.read(&store, (HIGH + 64) as usize, &mut fd).unwrap();
    let fd = i32::from_le_bytes(fd);
    assert_eq!(
        open.call(&mut store, (3, u64::MAX as i64 - 10, 43, 0))
            .unwrap(),
        21,
        "FAULT on a wrapped pointer"
    );

    // 64-bit iovec at 200: (buf = HIGH + 4096, len = 300 KiB), nread (u64) at 300.
    let buf = HIGH + 4096;
    put(&mut store, 200, &buf.to_le_bytes());
    put(&mut store, 208, &(300u64 * 1024).to_le_bytes());
    let read = instance
        .get_typed_func::<(i32, i64, i64, i64), i32>(&mut store, "read")
        .unwrap();
    assert_eq!(read.call(&mut store, (fd, 200, 1, 300)).unwrap(), 0);
    assert_eq!(u64_at(&store, 300), 300 * 1024);
    let mut got = vec![0u8; 300 * 1024];
    memory.read(&store, buf as usize, &mut got).unwrap();
    assert!(got == bytes[..300 * 1024], "read into high memory");
    let pread = instance
        .get_typed_func::<(i32, i64, i64, i64, i64), i32>(&mut store, "pread")
        .unwrap();
    assert_eq!(
        pread
            .call(&mut store, (fd, 200, 1, 500 * 1024, 300))
            .unwrap(),
        0
    );
    assert_eq!(u64_at(&store, 300), 100 * 1024, "short only at the end");
    memory
        .read(&store, buf as usize, &mut got[..100 * 1024])
        .unwrap();
    assert!(got[..100 * 1024] == bytes[500 * 1024..]);
    // An iovec reaching past the end of memory.
    put(&mut store, 208, &(1u64 << 40).to_le_bytes());
    assert_eq!(read.call(&mut store, (fd, 200, 1, 300)).unwrap(), 21);
    assert_eq!(read.call(&mut store, (77, 200, 1, 300)).unwrap(), 8, "BADF");

    let fstat = instance
        .get_typed_func::<(i32, i64), i32>(&mut store, "fstat")
        .unwrap();
    assert_eq!(fstat.call(&mut store, (fd, HIGH as i64)).unwrap(), 0);
    assert_eq!(u64_at(&store, HIGH + 32), bytes.len() as u64);
}
