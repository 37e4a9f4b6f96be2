//! Embedding the WASI shim in your own wasmtime host, as a compute unit would: your store
//! state implements `WeaveWasiView`, `add_to_linker` goes on your `Linker`, and the guest sees
//! `/data/<id>` beside whatever else you preopen. Offline: the data comes from the local test
//! gateway, and the guest (WAT, generated here) copies `/data/<id>` to stdout.
//!
//! `cargo run --example wasi_host`

use std::sync::Arc;

use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use weavedrive_cache::{AccessPolicy, Drive, DriveConfig, GatewayConfig};
use weavedrive_testgw::{GatewayData, GatewayOptions, TestGateway, TestWallet};
use weavedrive_wasi::{Placeholders, VirtualFs, WeaveWasi, WeaveWasiView, add_to_linker};

/// Your host's per-instance state.
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

/// A guest that finds `/data` (fd 3: the first preopen), opens `/data/<id>`, and copies it
/// to stdout.
fn guest(id: &str) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{id}")
  (func (export "_start") (local $fd i32)
    (drop (call $name (i32.const 3) (i32.const 0) (i32.const 5)))
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 43) (i32.const 0)
                      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 8)))
    (local.set $fd (i32.load (i32.const 8)))
    ;; iovec at 16: 4 KiB buffer at 1024
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 4096))
    (block $done (loop $copy
      (drop (call $read (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24)))
      (br_if $done (i32.eqz (i32.load (i32.const 24))))
      (i32.store (i32.const 32) (i32.const 1024))
      (i32.store (i32.const 36) (i32.load (i32.const 24)))
      (drop (call $write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)))
      (br $copy)))))"#
    )
}

fn main() -> anyhow::Result<()> {
    // Data on a gateway (here the local test gateway).
    let mut data = GatewayData::new(TestWallet::fixed());
    let id = data.add_tx(
        "Hello from Arweave, verified and served into wasm memory.\n".into(),
        vec![],
    );
    let gateway = TestGateway::spawn_background(data, GatewayOptions::default())?;

    // The Drive lives on a tokio runtime; the guest runs on this (non-runtime) thread.
    let runtime = tokio::runtime::Runtime::new()?;
    let drive = {
        let _entered = runtime.enter();
        Drive::new(DriveConfig {
            gateway: GatewayConfig {
                gateways: vec![gateway.url()],
                ..GatewayConfig::default()
            },
            cache_dir: None,
            ..DriveConfig::default()
        })?
    };
    let vfs = Arc::new(VirtualFs::new(
        drive,
        AccessPolicy::allowlist([id]),
        runtime.handle().clone(),
    ));

    // Your WASI context: /data and /tx first, then anything else you preopen.
    let placeholders = Placeholders::new()?;
    let mut builder = WasiCtxBuilder::new();
    builder.inherit_stdio();
    placeholders.preopen(&mut builder)?;

    let engine = Engine::default();
    let mut store = Store::new(
        &engine,
        Unit {
            wasi: builder.build_p1(),
            weave: WeaveWasi::new(vfs),
        },
    );
    let mut linker = Linker::new(&engine);
    add_to_linker(&mut linker)?;
    let module = Module::new(&engine, guest(&id.to_string()))?;
    let instance = linker.instantiate(&mut store, &module)?;
    instance
        .get_typed_func::<(), ()>(&mut store, "_start")?
        .call(&mut store, ())?;
    Ok(())
}
