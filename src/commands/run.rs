//! `weavedrive run`: a WASI module with the drive's tree as its `/data`, `/tx`, `/block` and
//! `/manifest` preopens; wasm32 (wasmtime's WASI plus the shim) or memory64 (WeaveDrive's
//! 64-bit WASI), its memory capped by `--max-memory`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use weavedrive_cache::store::ModuleStore;
use weavedrive_cache::{AccessPolicy, Drive, DriveConfig, TxId};
use weavedrive_wasi::{Host, HostOptions, VirtualFs};

pub struct RunRequest {
    pub module: PathBuf,
    pub dirs: Vec<String>,
    pub env: Vec<String>,
    pub preload: Vec<TxId>,
    pub args: Vec<String>,
    /// Bytes of linear memory the module may have at most.
    pub max_memory: u64,
    pub policy: AccessPolicy,
    pub module_cache: ModuleStore,
    /// `--metrics ADDR`.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Runs the module on this thread (host calls block it on cache misses; the network work
/// runs on `runtime`'s workers) and returns its exit code.
pub fn run(
    runtime: tokio::runtime::Runtime,
    config: DriveConfig,
    request: RunRequest,
) -> anyhow::Result<i32> {
    let drive = {
        let _entered = runtime.enter();
        let drive = Drive::new(config)?;
        crate::metrics_endpoint::start(request.metrics, &drive)?;
        drive
    };
    if !request.preload.is_empty() {
        runtime.block_on(super::preload::run(&drive, &request.preload, false, true))?;
    }
    let options = HostOptions {
        args: std::iter::once(module_name(&request.module))
            .chain(request.args)
            .collect(),
        env: request
            .env
            .iter()
            .map(|pair| parse_env(pair))
            .collect::<anyhow::Result<_>>()?,
        dirs: request
            .dirs
            .iter()
            .map(|spec| parse_dir(spec))
            .collect::<anyhow::Result<_>>()?,
        module_cache: Some(request.module_cache),
        max_memory: Some(request.max_memory),
    };
    let host = Host::new()?;
    let (module, _) = host
        .load(&request.module, options.module_cache.as_ref())
        .with_context(|| format!("loading {}", request.module.display()))?;
    let vfs = Arc::new(VirtualFs::new(
        drive.clone(),
        request.policy,
        runtime.handle().clone(),
    ));
    let code = host.run(&module, vfs, &options);
    runtime.block_on(super::finish_shared(&drive));
    code
}

fn module_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module".into())
}

fn parse_env(pair: &str) -> anyhow::Result<(String, String)> {
    match pair.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.into(), value.into())),
        _ => bail!("--env {pair:?}: expected NAME=VALUE"),
    }
}

/// `HOST::GUEST`, as wasmtime spells it, or just `DIR` for the same path in both.
fn parse_dir(spec: &str) -> anyhow::Result<(PathBuf, String)> {
    let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
    if host.is_empty() || guest.is_empty() {
        bail!("--dir {spec:?}: expected HOST::GUEST or DIR");
    }
    let host = PathBuf::from(host);
    if !host.is_dir() {
        bail!("--dir {spec:?}: {} is not a directory", host.display());
    }
    Ok((host, guest.into()))
}
