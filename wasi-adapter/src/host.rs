//! A ready-made host for `weavedrive run`: compiles (or loads a cached compilation of) a
//! module, gives it stdio, args, env, host preopens and the WeaveDrive tree, and runs
//! `_start`, its memory capped by [`HostOptions::max_memory`]. A memory64 module (its
//! memory is 64-bit) gets WeaveDrive's 64-bit WASI instead of wasmtime's wasm32-only one.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use wasmtime::{
    Config, Engine, ExternType, Linker, Module, Store, StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};
use weavedrive_cache::store::ModuleStore;

use crate::linker::{WeaveWasiView, add_to_linker};
use crate::linker64::{add_program_to_linker64, add_to_linker64};
use crate::ops::WeaveWasi;
use crate::process64::Process64;
use crate::vfs::{Root, VirtualFs};

/// Empty read-only host directories standing in for the tree's preopens (`/data`, `/tx`,
/// `/block`, `/manifest`) in the stock table;
/// every call on them is answered by the shim. Removed on drop.
pub struct Placeholders {
    dir: tempfile::TempDir,
}

impl Placeholders {
    pub fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("weavedrive-wasi-")
            .tempdir()?;
        for root in Root::ALL {
            std::fs::create_dir(dir.path().join(&root.guest_path()[1..]))?;
        }
        Ok(Placeholders { dir })
    }

    /// Adds the tree's preopens to `builder`'s.
    pub fn preopen(&self, builder: &mut WasiCtxBuilder) -> anyhow::Result<()> {
        for root in Root::ALL {
            let guest = root.guest_path();
            builder.preopened_dir(self.dir.path().join(&guest[1..]), guest, FsPerms::ReadOnly)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// argv, the module's name first.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Host directories to preopen, as (host path, guest path), read-write like wasmtime's
    /// `--dir`.
    pub dirs: Vec<(PathBuf, String)>,
    /// Where compiled modules are kept, so a second run skips compilation.
    pub module_cache: Option<ModuleStore>,
    /// The most linear memory the module may have, in bytes (its own maximum otherwise): a
    /// `memory.grow` past it fails (returns -1), so the guest's allocator reports out of
    /// memory.
    pub max_memory: Option<u64>,
}

/// Store data for a host that needs nothing besides WASI and the shim.
pub struct State {
    pub wasi: WasiP1Ctx,
    pub weave: WeaveWasi,
}

impl WeaveWasiView for State {
    fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }
    fn weave(&mut self) -> &mut WeaveWasi {
        &mut self.weave
    }
}

/// A run's store data: the WASI states and the memory cap.
struct Run {
    state: State,
    limits: StoreLimits,
}

impl WeaveWasiView for Run {
    fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.state.wasi
    }
    fn weave(&mut self) -> &mut WeaveWasi {
        &mut self.state.weave
    }
}

pub struct Host {
    engine: Engine,
}

/// Whether `module`'s memory (exported or imported) is 64-bit.
pub fn is_memory64(module: &Module) -> bool {
    let memory64 = |ty: ExternType| matches!(ty, ExternType::Memory(m) if m.is_64());
    module.exports().any(|e| memory64(e.ty())) || module.imports().any(|i| memory64(i.ty()))
}

/// Whether a module came from the compile cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiled {
    Fresh,
    Cached,
}

impl Host {
    /// Virtual address space reserved per linear memory: a 64-bit memory grows in place up
    /// to this (wasmtime's default, 4 GiB, would move and copy a growing 64-bit memory every
    /// 2 GiB past it). Only reserved, not committed; a 32-bit memory is unaffected (it needs
    /// 4 GiB of it to skip bounds checks).
    pub const MEMORY_RESERVATION: u64 = 16 << 30;

    pub fn new() -> anyhow::Result<Self> {
        let mut config = Config::new();
        config
            .wasm_memory64(true)
            .memory_reservation(Self::MEMORY_RESERVATION);
        Ok(Host {
            engine: Engine::new(&config)?,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `wasm`, or loads its compilation from `cache` (kept under the module's sha256
    /// and this engine's compatibility hash).
    pub fn load(
        &self,
        wasm: &Path,
        cache: Option<&ModuleStore>,
    ) -> anyhow::Result<(Module, Compiled)> {
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let Some(cache) = cache else {
            return Ok((Module::new(&self.engine, &bytes)?, Compiled::Fresh));
        };
        let mut compat = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut compat);
        let path = cache.path(&bytes, compat.finish());
        if path.exists() {
            // SAFETY: the file is one this host wrote for this engine configuration, in the
            // user's own cache directory (a compiled module is trusted native code).
            match unsafe { Module::deserialize_file(&self.engine, &path) } {
                Ok(module) => return Ok((module, Compiled::Cached)),
                Err(e) => tracing::warn!(error = %e, "cached module unusable; recompiling"),
            }
        }
        let module = Module::new(&self.engine, &bytes)?;
        if let Err(e) = cache.put(&path, &module.serialize()?) {
            tracing::warn!(error = %e, "could not cache the compiled module");
        }
        Ok((module, Compiled::Fresh))
    }

    /// Runs the module's `_start` with the host's stdio and returns its exit code.
    pub fn run(
        &self,
        module: &Module,
        vfs: Arc<VirtualFs>,
        options: &HostOptions,
    ) -> anyhow::Result<i32> {
        self.run_with(module, vfs, options, |builder| {
            builder.inherit_stdio();
        })
    }

    /// [`Self::run`] with the WASI context adjusted by `configure` first (stdio pipes, more
    /// env, clocks...). A memory64 module's WASI is not wasmtime's: `configure` does not
    /// apply to it, and its stdout and stderr are the host's.
    pub fn run_with(
        &self,
        module: &Module,
        vfs: Arc<VirtualFs>,
        options: &HostOptions,
        configure: impl FnOnce(&mut WasiCtxBuilder),
    ) -> anyhow::Result<i32> {
        if is_memory64(module) {
            return self.run64(module, vfs, options);
        }
        let placeholders = Placeholders::new()?;
        let mut builder = WasiCtxBuilder::new();
        configure(&mut builder);
        builder.args(&options.args).envs(&options.env);
        for (host, guest) in &options.dirs {
            if Root::ALL
                .iter()
                .any(|r| r.guest_path() == guest.trim_end_matches('/'))
            {
                bail!("{guest} is WeaveDrive's own preopen; mount host directories elsewhere");
            }
            builder
                .preopened_dir(host, guest, FsPerms::ReadWrite)
                .map_err(|e| {
                    anyhow::Error::from(e).context(format!("preopening {}", host.display()))
                })?;
        }
        placeholders.preopen(&mut builder)?;
        let mut store = self.store(builder.build_p1(), vfs, options);
        let mut linker = Linker::new(&self.engine);
        add_to_linker(&mut linker)?;
        add_to_linker64(&mut linker)?;
        Self::start(&linker, &mut store, module)
    }

    /// A memory64 module: WeaveDrive's 64-bit WASI only (the tree, stdio, args, env, clocks,
    /// random, exit); host directories cannot be preopened for it.
    fn run64(
        &self,
        module: &Module,
        vfs: Arc<VirtualFs>,
        options: &HostOptions,
    ) -> anyhow::Result<i32> {
        if let Some((_, guest)) = options.dirs.first() {
            bail!(
                "--dir {guest}: host directories are not available to a memory64 module (its \
                 WASI is WeaveDrive's own, with the tree's preopens only)"
            );
        }
        let mut store = self.store(WasiCtxBuilder::new().build_p1(), vfs, options);
        let mut linker = Linker::new(&self.engine);
        let process = Process64 {
            args: options.args.clone(),
            env: options.env.clone(),
        };
        add_program_to_linker64(&mut linker, &process)?;
        Self::start(&linker, &mut store, module)
    }

    fn store(&self, wasi: WasiP1Ctx, vfs: Arc<VirtualFs>, options: &HostOptions) -> Store<Run> {
        let mut limits = StoreLimitsBuilder::new();
        if let Some(max) = options.max_memory {
            limits = limits.memory_size(usize::try_from(max).unwrap_or(usize::MAX));
        }
        let mut store = Store::new(
            &self.engine,
            Run {
                state: State {
                    wasi,
                    weave: WeaveWasi::new(vfs),
                },
                limits: limits.build(),
            },
        );
        store.limiter(|run| &mut run.limits);
        store
    }

    /// Instantiates and calls `_start`; `proc_exit`'s code, or 0 when `_start` returns.
    fn start(linker: &Linker<Run>, store: &mut Store<Run>, module: &Module) -> anyhow::Result<i32> {
        let instance = linker.instantiate(&mut *store, module)?;
        let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
        match start.call(&mut *store, ()) {
            Ok(()) => Ok(0),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(e.into()),
            },
        }
    }
}
