//! Shared set-up for the shim's tests: a test gateway with data, a Drive over it, the probe
//! guest built for wasm32-wasip1, and a host that runs it and captures its output.

#![allow(dead_code)]

mod probe_build;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wasmtime::Module;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use weavedrive_cache::{AccessPolicy, Drive, DriveConfig, GatewayConfig, TxId};
use weavedrive_testgw::{
    BackgroundGateway, GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data,
};
use weavedrive_wasi::{Host, HostOptions, VirtualFs};

pub const K: usize = 1024;
pub const M: usize = 1024 * 1024;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub use probe_build::probe_wasm;

pub fn host() -> &'static (Host, Module) {
    static HOST: OnceLock<(Host, Module)> = OnceLock::new();
    HOST.get_or_init(|| {
        let host = Host::new().unwrap();
        let (module, _) = host.load(probe_wasm(), None).unwrap();
        (host, module)
    })
}

pub struct Fixture {
    pub gateway: BackgroundGateway,
    pub txs: Vec<(TxId, Bytes)>,
    pub runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

pub fn fixture(sizes: &[usize]) -> Fixture {
    let mut data = GatewayData::new(TestWallet::fixed());
    let txs = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let bytes = pseudo_random_data(i as u64 + 7, size);
            (data.add_tx(bytes.clone(), vec![]), bytes)
        })
        .collect();
    fixture_from(data, txs)
}

/// A gateway serving `data`, of which `txs` are the files a test reads (by index).
pub fn fixture_from(data: GatewayData, txs: Vec<(TxId, Bytes)>) -> Fixture {
    Fixture {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        txs,
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    pub fn vfs(&self, policy: AccessPolicy) -> Arc<VirtualFs> {
        let _entered = self.runtime.enter();
        let config = DriveConfig {
            cache_dir: Some(self.dir.path().join("cache")),
            gateway: GatewayConfig {
                gateways: vec![self.gateway.url()],
                retries: 2,
                backoff: std::time::Duration::from_millis(20),
                ..GatewayConfig::default()
            },
            ..DriveConfig::default()
        };
        Arc::new(VirtualFs::new(
            Drive::new(config).unwrap(),
            policy,
            self.runtime.handle().clone(),
        ))
    }

    pub fn data(&self, i: usize) -> String {
        format!("/data/{}", self.txs[i].0)
    }
}

/// Runs the probe with `args` and returns its exit code and stdout (one line per command).
pub fn probe(vfs: &Arc<VirtualFs>, args: &[&str], options: HostOptions) -> (i32, String) {
    let (host, module) = host();
    // Room for `cat` of a few MiB in hex.
    let stdout = MemoryOutputPipe::new(16 << 20);
    let options = HostOptions {
        args: std::iter::once("probe")
            .chain(args.iter().copied())
            .map(String::from)
            .collect(),
        ..options
    };
    let code = host
        .run_with(module, vfs.clone(), &options, |builder| {
            builder.stdout(stdout.clone()).inherit_stderr();
        })
        .unwrap();
    (
        code,
        String::from_utf8(stdout.contents().to_vec())
            .unwrap()
            .trim()
            .to_string(),
    )
}
