//! Warm reads through the Drive against reading a local file of the same data from the page
//! cache, in the same run. `cargo bench -p weavedrive-cache --bench warm_read`
//!
//! Two Drive configurations: everything in the memory tier, and a 16 MiB memory tier so reads
//! come from the disk tier (block files in the page cache, checksummed on every load).

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng, rngs::StdRng};
use weavedrive_cache::{Drive, DriveConfig, FileHandle, GatewayConfig};
use weavedrive_testgw::{GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data};

const SIZE: u64 = 256 << 20;
const SEQ_READ: u64 = 1 << 20;
const RANDOM_READ: u64 = 4096;
const RANDOM_READS: usize = 4096;

struct Setup {
    runtime: tokio::runtime::Runtime,
    local: std::fs::File,
    memory: FileHandle,
    disk: FileHandle,
    offsets: Vec<u64>,
    _dirs: Vec<tempfile::TempDir>,
    _gateway: TestGateway,
}

fn setup() -> Setup {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let data = pseudo_random_data(9, SIZE as usize);
    let mut gateway_data = GatewayData::new(TestWallet::fixed());
    let id = gateway_data.add_tx(data.clone(), vec![]);
    let gateway = runtime
        .block_on(TestGateway::start(gateway_data, GatewayOptions::default()))
        .unwrap();
    let (file_dir, cache_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let path = file_dir.path().join("data.bin");
    std::fs::write(&path, &data).unwrap();
    let local = std::fs::File::open(&path).unwrap();
    let config = |memory_budget| DriveConfig {
        gateway: GatewayConfig {
            gateways: vec![gateway.url()],
            ..GatewayConfig::default()
        },
        cache_dir: Some(cache_dir.path().to_path_buf()),
        memory_budget,
        ..DriveConfig::default()
    };
    let (memory, disk) = runtime.block_on(async {
        let memory_drive = Drive::new(config(SIZE * 2)).unwrap();
        memory_drive.preload(&id, false, |_, _| {}).await.unwrap();
        let memory = memory_drive.open(&id).await.unwrap();
        let disk = Drive::new(config(16 << 20))
            .unwrap()
            .open(&id)
            .await
            .unwrap();
        // Warm everything: the memory tier, the block files and the local file's pages.
        for handle in [&memory, &disk] {
            let mut offset = 0;
            while offset < SIZE {
                let piece = handle.read_at(offset, SEQ_READ).await.unwrap();
                assert!(piece[..] == data[offset as usize..offset as usize + piece.len()]);
                offset += SEQ_READ;
            }
        }
        (memory, disk)
    });
    let _ = std::fs::read(&path).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let offsets = (0..RANDOM_READS)
        .map(|_| rng.gen_range(0..SIZE - RANDOM_READ))
        .collect();
    Setup {
        runtime,
        local,
        memory,
        disk,
        offsets,
        _dirs: vec![file_dir, cache_dir],
        _gateway: gateway,
    }
}

fn drive_reads(
    s: &Setup,
    handle: &FileHandle,
    offsets: impl Iterator<Item = u64>,
    len: u64,
) -> usize {
    s.runtime.block_on(async {
        let mut total = 0;
        for offset in offsets {
            total += handle.read_at(offset, len).await.unwrap().len();
        }
        total
    })
}

fn drive_reads_blocking(
    handle: &FileHandle,
    offsets: impl Iterator<Item = u64>,
    len: u64,
) -> usize {
    offsets
        .map(|o| handle.read_at_blocking(o, len).unwrap().len())
        .sum()
}

fn local_reads(file: &std::fs::File, offsets: impl Iterator<Item = u64>, buf: &mut [u8]) -> usize {
    let mut total = 0;
    for offset in offsets {
        file.read_exact_at(buf, offset).unwrap();
        total += buf.len();
    }
    total
}

fn bench(c: &mut Criterion) {
    let s = Arc::new(setup());
    let sequential = || (0..SIZE / SEQ_READ).map(|i| i * SEQ_READ);

    let mut group = c.benchmark_group("sequential_1MiB");
    group.throughput(Throughput::Bytes(SIZE));
    group.sample_size(10);
    let mut buf = vec![0u8; SEQ_READ as usize];
    group.bench_function("local_file", |b| {
        b.iter(|| local_reads(&s.local, sequential(), &mut buf))
    });
    group.bench_function("drive_memory_tier", |b| {
        b.iter(|| drive_reads(&s, &s.memory, sequential(), SEQ_READ))
    });
    group.bench_function("drive_disk_tier", |b| {
        b.iter(|| drive_reads(&s, &s.disk, sequential(), SEQ_READ))
    });
    group.bench_function("drive_memory_tier_blocking", |b| {
        b.iter(|| drive_reads_blocking(&s.memory, sequential(), SEQ_READ))
    });
    group.bench_function("drive_disk_tier_blocking", |b| {
        b.iter(|| drive_reads_blocking(&s.disk, sequential(), SEQ_READ))
    });
    group.finish();

    let mut group = c.benchmark_group("random_4KiB");
    group.throughput(Throughput::Bytes(RANDOM_READ * RANDOM_READS as u64));
    group.sample_size(20);
    let mut buf = vec![0u8; RANDOM_READ as usize];
    let offsets = || s.offsets.iter().copied();
    group.bench_function("local_file", |b| {
        b.iter(|| local_reads(&s.local, offsets(), &mut buf))
    });
    group.bench_function("drive_memory_tier", |b| {
        b.iter(|| drive_reads(&s, &s.memory, offsets(), RANDOM_READ))
    });
    group.bench_function("drive_disk_tier", |b| {
        b.iter(|| drive_reads(&s, &s.disk, offsets(), RANDOM_READ))
    });
    group.bench_function("drive_memory_tier_blocking", |b| {
        b.iter(|| drive_reads_blocking(&s.memory, offsets(), RANDOM_READ))
    });
    group.bench_function("drive_disk_tier_blocking", |b| {
        b.iter(|| drive_reads_blocking(&s.disk, offsets(), RANDOM_READ))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
