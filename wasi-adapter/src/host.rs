//! A ready-made host for `weavedrive run`: compiles (or loads a cached compilation of) a
//! module, gives it stdio, args, env, host preopens and the WeaveDrive tree, and runs
//! `_start`.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::linker::{WeaveWasiView, add_to_linker};
use crate::linker64::add_to_linker64;
use crate::ops::WeaveWasi;
use crate::vfs::{Root, VirtualFs};

/// Empty read-only host directories standing in for `/data` and `/tx` in the stock table;
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

    /// Adds `/data` and `/tx` to `builder`'s preopens.
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
    pub module_cache: Option<PathBuf>,
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

pub struct Host {
    engine: Engine,
}

/// Whether a module came from the compile cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiled {
    Fresh,
    Cached,
}

impl Host {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Host {
            engine: Engine::default(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `wasm`, or loads its compilation from `cache` (keyed by the module's sha256
    /// and this engine's compatibility hash; written via temp + rename).
    pub fn load(&self, wasm: &Path, cache: Option<&Path>) -> anyhow::Result<(Module, Compiled)> {
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let Some(cache) = cache else {
            return Ok((Module::new(&self.engine, &bytes)?, Compiled::Fresh));
        };
        let mut compat = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut compat);
        let name = format!(
            "{}-{:016x}.cwasm",
            hex::encode(Sha256::digest(&bytes)),
            compat.finish()
        );
        let path = cache.join(name);
        if path.exists() {
            // SAFETY: the file is one this host wrote for this engine configuration, in the
            // user's own cache directory (a compiled module is trusted native code).
            match unsafe { Module::deserialize_file(&self.engine, &path) } {
                Ok(module) => return Ok((module, Compiled::Cached)),
                Err(e) => tracing::warn!(error = %e, "cached module unusable; recompiling"),
            }
        }
        let module = Module::new(&self.engine, &bytes)?;
        if let Err(e) = write_atomically(cache, &path, &module.serialize()?) {
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
    /// env, clocks...).
    pub fn run_with(
        &self,
        module: &Module,
        vfs: Arc<VirtualFs>,
        options: &HostOptions,
        configure: impl FnOnce(&mut WasiCtxBuilder),
    ) -> anyhow::Result<i32> {
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
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: builder.build_p1(),
                weave: WeaveWasi::new(vfs),
            },
        );
        let mut linker = Linker::new(&self.engine);
        add_to_linker(&mut linker)?;
        add_to_linker64(&mut linker)?;
        let instance = linker.instantiate(&mut store, module)?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        match start.call(&mut store, ()) {
            Ok(()) => Ok(0),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(e.into()),
            },
        }
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
