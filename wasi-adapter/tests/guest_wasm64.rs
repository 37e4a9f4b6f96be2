//! A memory64 guest (WAT, 4 GiB + 1 MiB of memory) reads `/data` through the shim's 64-bit
//! imports (`wasi_snapshot_preview1_64`): into buffers above 4 GiB, with 64-bit iovecs and
//! sizes; bad pointers and fds are errnos; nothing else of WASI is needed. A whole program
//! also gets args, env, clocks, random and exit (under preview1's name too, as Emscripten
//! imports them), and `Host::run` runs memory64 modules under a memory cap, as wasm32 ones.
//! The compiled Rust guest: tests/wasm64_cli.rs at the repository root.

mod common;

use common::*;
use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};
use weavedrive_cache::AccessPolicy;
use weavedrive_wasi::host::is_memory64;
use weavedrive_wasi::{
    Host, HostOptions, Process64, State, WeaveWasi, add_program_to_linker64, add_to_linker64,
};

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
        prestat.call(&mut store, (7, 0)).unwrap(),
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

/// What a compiled program imports besides files, as Emscripten's `-sMEMORY64
/// -sSTANDALONE_WASM` output does: preview1's names with 64-bit pointers and sizes (some
/// here from our own module name: both serve the same calls).
const PROGRAM: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $asz (param i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $aget (param i64 i64) (result i32)))
  (import "wasi_snapshot_preview1_64" "environ_sizes_get" (func $esz (param i64 i64) (result i32)))
  (import "wasi_snapshot_preview1_64" "environ_get" (func $eget (param i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i64 i64 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") i64 65537)
  (func (export "args_sizes_get") (param i64 i64) (result i32) local.get 0 local.get 1 call $asz)
  (func (export "args_get") (param i64 i64) (result i32) local.get 0 local.get 1 call $aget)
  (func (export "environ_sizes_get") (param i64 i64) (result i32) local.get 0 local.get 1 call $esz)
  (func (export "environ_get") (param i64 i64) (result i32) local.get 0 local.get 1 call $eget)
  (func (export "clock") (param i32 i64) (result i32) local.get 0 i64.const 1 local.get 1 call $clock)
  (func (export "random") (param i64 i64) (result i32) local.get 0 local.get 1 call $random)
  (func (export "yield") (result i32) call $yield)
  (func (export "poll") (result i32) i64.const 0 i64.const 0 i64.const 0 i64.const 0 call $poll)
  (func (export "fdstat") (param i32 i64) (result i32) local.get 0 local.get 1 call $fdstat)
  (func (export "prestat") (param i32 i64) (result i32) local.get 0 local.get 1 call $prestat)
  (func (export "exit") (param i32) local.get 0 call $exit)
)
"#;

#[test]
fn a_memory64_program_gets_args_env_clocks_random_and_exit() {
    let fx = fixture(&[K]);
    let engine = Engine::default();
    let mut store = Store::new(
        &engine,
        State {
            wasi: WasiCtxBuilder::new().build_p1(),
            weave: WeaveWasi::new(fx.vfs(AccessPolicy::AllowAll)),
        },
    );
    let mut linker = Linker::new(&engine);
    let process = Process64 {
        args: vec!["prog".into(), "/data/x".into()],
        env: vec![("A".into(), "1".into())],
    };
    add_program_to_linker64(&mut linker, &process).unwrap();
    let module = Module::new(&engine, PROGRAM).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    let u64_at = |store: &Store<State>, at: u64| {
        let mut b = [0u8; 8];
        memory.read(store, at as usize, &mut b).unwrap();
        u64::from_le_bytes(b)
    };
    let bytes_at = |store: &Store<State>, at: u64, len: usize| {
        let mut b = vec![0u8; len];
        memory.read(store, at as usize, &mut b).unwrap();
        b
    };
    let pair = |store: &mut Store<State>, name: &str| {
        instance
            .get_typed_func::<(i64, i64), i32>(&mut *store, name)
            .unwrap()
    };

    // Sizes (u64 each), then 64-bit pointers into the strings, all above 4 GiB.
    let args_sizes = pair(&mut store, "args_sizes_get");
    assert_eq!(
        args_sizes
            .call(&mut store, (HIGH as i64, HIGH as i64 + 8))
            .unwrap(),
        0
    );
    assert_eq!(u64_at(&store, HIGH), 2, "argc");
    assert_eq!(u64_at(&store, HIGH + 8), 13, "prog\\0/data/x\\0");
    let args_get = pair(&mut store, "args_get");
    let (list, buf) = (HIGH + 64, HIGH + 256);
    assert_eq!(
        args_get
            .call(&mut store, (list as i64, buf as i64))
            .unwrap(),
        0
    );
    assert_eq!(u64_at(&store, list), buf);
    assert_eq!(u64_at(&store, list + 8), buf + 5);
    assert_eq!(bytes_at(&store, buf, 13), b"prog\0/data/x\0");
    let end = (65537u64 << 16) - 4;
    assert_eq!(
        args_get
            .call(&mut store, (list as i64, end as i64))
            .unwrap(),
        21,
        "FAULT: the strings would run past the end of memory"
    );
    let env_sizes = pair(&mut store, "environ_sizes_get");
    assert_eq!(env_sizes.call(&mut store, (0, 8)).unwrap(), 0);
    assert_eq!((u64_at(&store, 0), u64_at(&store, 8)), (1, 4));
    let env_get = pair(&mut store, "environ_get");
    assert_eq!(env_get.call(&mut store, (16, 64)).unwrap(), 0);
    assert_eq!(u64_at(&store, 16), 64);
    assert_eq!(bytes_at(&store, 64, 4), b"A=1\0");

    let clock = instance
        .get_typed_func::<(i32, i64), i32>(&mut store, "clock")
        .unwrap();
    assert_eq!(clock.call(&mut store, (0, 200)).unwrap(), 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let realtime = u64_at(&store, 200);
    assert!(
        now.abs_diff(realtime) < 5_000_000_000,
        "{realtime} vs {now}"
    );
    assert_eq!(clock.call(&mut store, (1, 200)).unwrap(), 0);
    assert_eq!(clock.call(&mut store, (1, 208)).unwrap(), 0);
    assert!(u64_at(&store, 208) >= u64_at(&store, 200), "monotonic");
    assert_eq!(
        clock.call(&mut store, (2, 200)).unwrap(),
        58,
        "NOTSUP: cputime"
    );
    assert_eq!(
        clock.call(&mut store, (9, 200)).unwrap(),
        28,
        "INVAL: no such clock"
    );

    let random = pair(&mut store, "random");
    assert_eq!(random.call(&mut store, (HIGH as i64, 32)).unwrap(), 0);
    assert_eq!(random.call(&mut store, (HIGH as i64 + 32, 32)).unwrap(), 0);
    let (a, b) = (bytes_at(&store, HIGH, 32), bytes_at(&store, HIGH + 32, 32));
    assert!(a != b && a != [0; 32], "random bytes");
    assert_eq!(random.call(&mut store, (end as i64, 32)).unwrap(), 21);

    let call0 = |store: &mut Store<State>, name: &str| {
        instance
            .get_typed_func::<(), i32>(&mut *store, name)
            .unwrap()
            .call(store, ())
            .unwrap()
    };
    assert_eq!(call0(&mut store, "yield"), 0);
    assert_eq!(call0(&mut store, "poll"), 52, "NOSYS");
    let fd_call = |store: &mut Store<State>, name: &str, fd: i32| {
        instance
            .get_typed_func::<(i32, i64), i32>(&mut *store, name)
            .unwrap()
            .call(store, (fd, 300))
            .unwrap()
    };
    assert_eq!(fd_call(&mut store, "fdstat", 2), 0);
    assert_eq!(
        bytes_at(&store, 300, 1),
        [2],
        "stderr is a character device"
    );
    assert_eq!(fd_call(&mut store, "fdstat", 0), 8, "no stdin: BADF");
    assert_eq!(
        fd_call(&mut store, "prestat", 3),
        0,
        "/data under preview1's name"
    );
    assert_eq!(u64_at(&store, 308), 5);

    let exit = instance
        .get_typed_func::<i32, ()>(&mut store, "exit")
        .unwrap();
    let err = exit.call(&mut store, 7).unwrap_err();
    assert_eq!(err.downcast_ref::<I32Exit>().map(|e| e.0), Some(7));
}

/// `_start` grows memory by 1 MiB (+10 to the exit code if that works), then by 64 MiB more
/// (+1 if that fails), and exits with the sum.
fn grower(memory64: bool) -> String {
    let (memory, ty, proc_exit) = if memory64 {
        ("i64 1", "i64", "wasi_snapshot_preview1")
    } else {
        ("1", "i32", "wasi_snapshot_preview1")
    };
    format!(
        r#"(module
          (import "{proc_exit}" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") {memory})
          (func (export "_start") (local $code i32)
            (if ({ty}.ne (memory.grow ({ty}.const 16)) ({ty}.const -1))
              (then (local.set $code (i32.const 10))))
            (if ({ty}.eq (memory.grow ({ty}.const 1024)) ({ty}.const -1))
              (then (local.set $code (i32.add (local.get $code) (i32.const 1)))))
            (call $exit (local.get $code))))"#
    )
}

#[test]
fn host_run_caps_memory_of_wasm32_and_memory64_modules() {
    let fx = fixture(&[K]);
    let host = Host::new().unwrap();
    let capped = HostOptions {
        max_memory: Some(64 << 20),
        ..HostOptions::default()
    };
    for memory64 in [false, true] {
        let module = Module::new(host.engine(), grower(memory64)).unwrap();
        assert_eq!(is_memory64(&module), memory64);
        let vfs = fx.vfs(AccessPolicy::AllowAll);
        let code = host.run(&module, vfs.clone(), &capped).unwrap();
        assert_eq!(
            code, 11,
            "memory64 {memory64}: 1 MiB granted, 64 MiB more refused"
        );
        let code = host.run(&module, vfs, &HostOptions::default()).unwrap();
        assert_eq!(code, 10, "memory64 {memory64}: both granted without a cap");
    }
}

#[test]
fn host_run_gives_a_memory64_module_memory_above_4_gib() {
    let fx = fixture(&[K]);
    let host = Host::new().unwrap();
    let module = Module::new(
        host.engine(),
        r#"(module
          (import "wasi_snapshot_preview1_64" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") i64 1)
          (func (export "_start")
            (if (i64.eq (memory.grow (i64.const 65536)) (i64.const -1))
              (then (call $exit (i32.const 1))))
            (i64.store (i64.const 4294967400) (i64.const 42))
            (if (i64.ne (i64.load (i64.const 4294967400)) (i64.const 42))
              (then (call $exit (i32.const 2))))))"#,
    )
    .unwrap();
    let options = HostOptions {
        max_memory: Some(16 << 30),
        ..HostOptions::default()
    };
    let code = host
        .run(&module, fx.vfs(AccessPolicy::AllowAll), &options)
        .unwrap();
    assert_eq!(
        code, 0,
        "1: grow to 4 GiB + 64 KiB refused; 2: high store lost"
    );
}
