//! The probe guest reads the same 256 MiB twice in one run: from `/data/<id>` through the
//! shim (warm: preloaded into the disk cache) and from a stock wasmtime preopen of a local
//! copy (warm: in the page cache). Sequential 1 MiB reads and random 4 KiB preads, timed by
//! the guest itself (module start excluded); the median of several runs, and the ratio.
//!
//! `cargo bench -p weavedrive-wasi --bench shim_vs_preopen [-- SIZE_MIB]`

#[path = "../tests/common/probe_build.rs"]
mod probe_build;

use std::sync::Arc;

use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use weavedrive_cache::{AccessPolicy, Drive, DriveConfig, GatewayConfig};
use weavedrive_testgw::{GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data};
use weavedrive_wasi::{Host, HostOptions, VirtualFs};

const RUNS: usize = 5;
const RANDOM_READS: &str = "20000";

fn main() -> anyhow::Result<()> {
    let mib: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(256);
    let wasm = probe_build::probe_wasm();
    let bytes = pseudo_random_data(42, mib << 20);
    let mut data = GatewayData::new(TestWallet::fixed());
    let id = data.add_tx(bytes.clone(), vec![]);
    let gateway = TestGateway::spawn_background(data, GatewayOptions::default())?;
    let work = tempfile::tempdir()?;
    std::fs::write(work.path().join("local.bin"), &bytes)?;

    let runtime = tokio::runtime::Runtime::new()?;
    let drive = {
        let _entered = runtime.enter();
        Drive::new(DriveConfig {
            gateway: GatewayConfig {
                gateways: vec![gateway.url()],
                ..GatewayConfig::default()
            },
            cache_dir: Some(work.path().join("cache")),
            ..DriveConfig::default()
        })?
    };
    runtime.block_on(drive.preload(&id, false, |_, _| {}))?;
    let vfs = Arc::new(VirtualFs::new(
        drive,
        AccessPolicy::AllowAll,
        runtime.handle().clone(),
    ));
    let host = Host::new()?;
    let (module, _) = host.load(wasm, None)?;
    let options = HostOptions {
        dirs: vec![(work.path().to_path_buf(), "/local".into())],
        ..HostOptions::default()
    };
    let run = |args: &[&str]| -> anyhow::Result<f64> {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let stdout = MemoryOutputPipe::new(4096);
            let options = HostOptions {
                args: std::iter::once("probe")
                    .chain(args.iter().copied())
                    .map(String::from)
                    .collect(),
                ..options.clone()
            };
            host.run_with(&module, vfs.clone(), &options, |b| {
                b.stdout(stdout.clone()).inherit_stderr();
            })?;
            let out = String::from_utf8(stdout.contents().to_vec())?;
            let ns: f64 = out
                .split_whitespace()
                .skip_while(|w| *w != "ns")
                .nth(1)
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("probe said {out:?}"))?;
            times.push(ns);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[RUNS / 2])
    };
    let shim = format!("/data/{id}");
    let local = "/local/local.bin";
    // Warm both (page cache for the local file, memory/disk tiers for the shim).
    run(&["bench-seq", local, "1048576"])?;
    run(&["bench-seq", &shim, "1048576"])?;
    let seq_local = run(&["bench-seq", local, "1048576"])?;
    let seq_shim = run(&["bench-seq", &shim, "1048576"])?;
    let rand_local = run(&["bench-rand", local, RANDOM_READS, "7"])?;
    let rand_shim = run(&["bench-rand", &shim, RANDOM_READS, "7"])?;
    let mibps = |ns: f64| (mib as f64) / (ns / 1e9);
    let reads: f64 = RANDOM_READS.parse()?;
    let usper = |ns: f64| ns / 1e3 / reads;
    println!("guest reads of {mib} MiB, median of {RUNS} runs each, same process:");
    println!(
        "sequential 1 MiB: stock preopen {:.0} MiB/s, shim {:.0} MiB/s: {:.2}x",
        mibps(seq_local),
        mibps(seq_shim),
        seq_local / seq_shim
    );
    println!(
        "random 4 KiB pread ({RANDOM_READS}): stock preopen {:.2} us/read, shim {:.2} us/read: {:.2}x",
        usper(rand_local),
        usper(rand_shim),
        rand_local / rand_shim
    );
    Ok(())
}
