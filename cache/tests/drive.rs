//! The Drive against the local test gateway: reads match the source, the disk tier dedups,
//! respects its budget and pins, survives corruption and restarts, and concurrent readers of
//! one block cause one fetch. Gateway request counts are the ground truth for "no network".

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng, rngs::StdRng};
use weavedrive_cache::{Drive, DriveConfig, GatewayConfig, TxId};
use weavedrive_testgw::{
    Fault, GatewayData, GatewayOptions, Target, TestGateway, TestWallet, pseudo_random_data,
};

const K: u64 = 1024;
const M: u64 = 1024 * 1024;
/// A block file: 64-byte header, 64 page checksums, then the chunk.
const BLOCK_FILE: u64 = 256 * K + 64 + 64 * 8;

struct Env {
    gateway: TestGateway,
    txs: Vec<(TxId, Bytes)>,
    dir: tempfile::TempDir,
}

async fn env_with(datas: Vec<Bytes>, options: GatewayOptions) -> Env {
    let mut data = GatewayData::new(TestWallet::fixed());
    let txs = datas
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            (
                data.add_tx(bytes.clone(), vec![("N".into(), i.to_string())]),
                bytes,
            )
        })
        .collect();
    Env {
        gateway: TestGateway::start(data, options).await.unwrap(),
        txs,
        dir: tempfile::tempdir().unwrap(),
    }
}

async fn env(sizes: &[u64]) -> Env {
    let datas = sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| pseudo_random_data(i as u64 + 10, s as usize))
        .collect();
    env_with(datas, GatewayOptions::default()).await
}

impl Env {
    fn config(&self, disk_budget: u64, memory_budget: u64) -> DriveConfig {
        DriveConfig {
            gateway: GatewayConfig {
                gateways: vec![self.gateway.url()],
                retries: 1,
                backoff: Duration::from_millis(10),
                ..GatewayConfig::default()
            },
            cache_dir: Some(self.dir.path().to_path_buf()),
            disk_budget,
            memory_budget,
            ..DriveConfig::default()
        }
    }

    fn drive(&self, disk_budget: u64, memory_budget: u64) -> Drive {
        Drive::new(self.config(disk_budget, memory_budget)).unwrap()
    }

    /// A Drive that keeps blocks only (no extent files): for what the block tier itself does.
    fn blocks_only_drive(&self, disk_budget: u64, memory_budget: u64) -> Drive {
        Drive::new(DriveConfig {
            extents: false,
            ..self.config(disk_budget, memory_budget)
        })
        .unwrap()
    }

    fn chunk_requests(&self) -> u64 {
        self.gateway.stats().chunk
    }
}

async fn read_all(drive: &Drive, id: &TxId, size: u64, step: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size as usize);
    let mut offset = 0;
    while offset < size {
        let piece = drive.read_at(id, offset, step).await.unwrap();
        assert_eq!(
            piece.len() as u64,
            step.min(size - offset),
            "short read at {offset}"
        );
        out.extend_from_slice(&piece);
        offset += piece.len() as u64;
    }
    out
}

fn block_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in std::fs::read_dir(dir.join("blocks")).unwrap() {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
}

fn disk_usage(dir: &Path) -> u64 {
    block_files(dir)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_match_the_source_and_a_restart_needs_no_network() {
    let sizes = [1, 256 * K, 256 * K + 1, 256 * K + 20_000, 3 * M + 5];
    let env = env(&sizes).await;
    {
        let drive = env.drive(1 << 30, 64 * M);
        for (id, bytes) in &env.txs {
            assert!(read_all(&drive, id, bytes.len() as u64, 100_000).await == bytes[..]);
            // Reads past the end are short only at the end; beyond it, empty.
            let size = bytes.len() as u64;
            assert_eq!(drive.read_at(id, size - 1, 10).await.unwrap().len(), 1);
            assert!(drive.read_at(id, size, 10).await.unwrap().is_empty());
        }
        assert!(drive.stats().chunks_fetched > 0);
    }
    env.gateway.reset_stats();
    let drive = env.drive(1 << 30, 64 * M);
    for (id, bytes) in &env.txs {
        assert!(read_all(&drive, id, bytes.len() as u64, 1 << 20).await == bytes[..]);
        let info = drive.stat(id).await.unwrap();
        assert_eq!(info.bytes_cached, bytes.len() as u64);
    }
    assert_eq!(
        env.gateway.stats().requests(),
        0,
        "warm restart went to the network"
    );
    assert_eq!(drive.stats().chunks_fetched, 0);
    assert_eq!(drive.list().await.unwrap().len(), sizes.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn identical_chunks_in_two_transactions_are_stored_once() {
    let a = pseudo_random_data(1, M as usize);
    let mut b = a[..512 * K as usize].to_vec();
    b.extend_from_slice(&pseudo_random_data(2, 512 * K as usize));
    let env = env_with(
        vec![a.clone(), Bytes::from(b.clone())],
        GatewayOptions::default(),
    )
    .await;
    let drive = env.drive(1 << 30, 64 * M);
    assert!(read_all(&drive, &env.txs[0].0, M, M).await == a[..]);
    assert!(read_all(&drive, &env.txs[1].0, M, M).await == b[..]);
    // 4 chunks each, the first 2 shared.
    assert_eq!(block_files(env.dir.path()).len(), 6);
    assert_eq!(drive.stats().disk.unwrap().blocks, 6);
    assert_eq!(disk_usage(env.dir.path()), 6 * BLOCK_FILE);
}

#[tokio::test(flavor = "multi_thread")]
async fn disk_budget_holds_under_a_larger_workload() {
    let env = env(&[8 * M, 4 * M]).await;
    let budget = 2 * M;
    let drive = env.drive(budget, M);
    for (id, bytes) in &env.txs {
        let mut offset = 0;
        while offset < bytes.len() as u64 {
            let piece = drive.read_at(id, offset, 256 * K).await.unwrap();
            assert!(piece[..] == bytes[offset as usize..offset as usize + piece.len()]);
            offset += piece.len() as u64;
            assert!(
                disk_usage(env.dir.path()) <= budget,
                "over budget at {offset}"
            );
        }
    }
    let stats = drive.stats().disk.unwrap();
    assert!(stats.evictions >= 40, "{stats:?}");
    assert!(stats.bytes <= budget);
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_transactions_survive_eviction_and_restarts() {
    let env = env(&[2 * M, 8 * M]).await;
    let (pinned, other) = (&env.txs[0], &env.txs[1]);
    {
        let drive = env.drive(3 * M, 256 * K);
        drive.preload(&pinned.0, true, |_, _| {}).await.unwrap();
        read_all(&drive, &other.0, 8 * M, M).await;
        let info = drive.stat(&pinned.0).await.unwrap();
        assert_eq!((info.chunks_cached, info.pinned), (8, true));
    }
    // Restart: the pin is remembered; more pressure still cannot evict it.
    let drive = env.drive(3 * M, 256 * K);
    env.gateway.reset_stats();
    read_all(&drive, &other.0, 8 * M, M).await;
    env.gateway.reset_stats();
    assert!(read_all(&drive, &pinned.0, 2 * M, M).await == pinned.1[..]);
    assert_eq!(env.chunk_requests(), 0, "pinned blocks were evicted");
    // Unpinned, it can go.
    drive.unpin(&pinned.0).await.unwrap();
    drive.gc(0).unwrap();
    // Its record went too: stat fetches it again, with the one chunk that proves its place.
    assert_eq!(drive.stat(&pinned.0).await.unwrap().chunks_cached, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_truncated_and_missing_blocks_are_refetched() {
    let env = env(&[2 * M]).await;
    let (id, bytes) = &env.txs[0];
    env.blocks_only_drive(1 << 30, M)
        .preload(id, false, |_, _| {})
        .await
        .unwrap();
    let files = block_files(env.dir.path());
    assert_eq!(files.len(), 8);
    // Flip a data byte, cut one short, delete one.
    let mut corrupt = std::fs::read(&files[0]).unwrap();
    corrupt[1000] ^= 0x20;
    std::fs::write(&files[0], corrupt).unwrap();
    let truncated = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[1], &truncated[..truncated.len() / 2]).unwrap();
    std::fs::remove_file(&files[2]).unwrap();

    env.gateway.reset_stats();
    let drive = env.blocks_only_drive(1 << 30, M);
    assert!(read_all(&drive, id, 2 * M, 300 * K).await == bytes[..]);
    assert_eq!(env.chunk_requests(), 3);
    assert_eq!(drive.stats().disk.unwrap().corrupt_dropped, 2);
    // And the refetched blocks are good on disk again.
    assert_eq!(block_files(env.dir.path()).len(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_four_concurrent_readers_of_one_block_cause_one_fetch() {
    let env = env_with(
        vec![pseudo_random_data(5, 3 * M as usize)],
        GatewayOptions {
            latency: Duration::from_millis(100),
            ..GatewayOptions::default()
        },
    )
    .await;
    let (id, bytes) = env.txs[0].clone();
    let drive = env.drive(1 << 30, 64 * M);
    drive.stat(&id).await.unwrap();
    env.gateway.reset_stats();
    let readers: Vec<_> = (0..64u64)
        .map(|i| {
            let drive = drive.clone();
            tokio::spawn(async move { drive.read_at(&id, 300 * K + i * 100, 1000).await })
        })
        .collect();
    for (i, reader) in readers.into_iter().enumerate() {
        let got = reader.await.unwrap().unwrap();
        let at = 300 * K as usize + i * 100;
        assert!(got[..] == bytes[at..at + 1000]);
    }
    assert_eq!(env.chunk_requests(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_reads_prefetch_and_random_reads_do_not() {
    let env = env(&[32 * M]).await;
    let (id, bytes) = &env.txs[0];
    let drive = Drive::new(DriveConfig {
        prefetch_max: 4 * M,
        ..env.config(1 << 30, 64 * M)
    })
    .unwrap();
    let file = drive.open(id).await.unwrap();
    env.gateway.reset_stats();
    // 6 MiB of 128 KiB sequential reads: the window grows 1, 4 MiB (the cap), each time the
    // reader has used half of it, and then moves on in 2 MiB steps.
    for i in 0..48u64 {
        let piece = file.read_at(i * 128 * K, 128 * K).await.unwrap();
        assert!(piece[..] == bytes[(i * 128 * K) as usize..((i + 1) * 128 * K) as usize]);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The last step, at 4.625 MiB read, asked up to 8.625 MiB: chunks 0..=34, each once
    // (chunk 0 came with the open: its place was proven with it).
    assert_eq!(
        env.chunk_requests(),
        34,
        "read-ahead did not fill the window exactly"
    );

    // Random 4 KiB reads elsewhere: exactly one chunk each, nothing more.
    let random = drive.open(id).await.unwrap();
    env.gateway.reset_stats();
    let mut rng = StdRng::seed_from_u64(3);
    let mut chunks = std::collections::HashSet::new();
    for _ in 0..20 {
        let offset = rng.gen_range(16 * M..32 * M - 4096);
        chunks.insert(offset / (256 * K));
        let piece = random.read_at(offset, 4096).await.unwrap();
        assert!(piece[..] == bytes[offset as usize..offset as usize + 4096]);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.chunk_requests(), chunks.len() as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn unverifiable_data_is_an_error_and_missing_ids_are_not_found() {
    let env = env(&[M]).await;
    let (id, _) = &env.txs[0];
    env.gateway
        .faults()
        .always(Target::Chunk, Fault::CorruptChunk);
    let drive = env.drive(1 << 30, M);
    let err = drive.read_at(id, 0, 10).await.unwrap_err();
    assert!(err.is_unavailable());
    assert!(err.to_string().contains("verif"), "{err}");
    // Not even opened: no chunk proves where the gateway says the data is.
    assert!(drive.stat(id).await.unwrap_err().is_unavailable());
    assert!(
        block_files(env.dir.path()).is_empty(),
        "bad bytes were cached"
    );

    let missing = drive.read_at(&TxId([1; 32]), 0, 10).await.unwrap_err();
    assert!(missing.is_not_found());
    assert!(missing.is_not_found());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_disk_still_serves_from_the_network() {
    let env = env(&[M]).await;
    let (id, bytes) = &env.txs[0];
    let drive = env.drive(1 << 30, 4 * M);
    // Writes go through tmp/: make it unusable (root ignores permissions, so replace it).
    let tmp = env.dir.path().join("tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();
    assert!(read_all(&drive, id, M, 100 * K).await == bytes[..]);
    // One chunk map and four blocks could not be written.
    assert_eq!(drive.stats().disk_write_errors, 5);
    assert!(block_files(env.dir.path()).is_empty());
}

/// `read_at` on random ranges equals the source, cold and warm, memory-only and with disk.
#[test]
fn random_ranges_match_the_source() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let size = 3 * M + 12_345;
    let env = runtime.block_on(env(&[size]));
    let (id, bytes) = env.txs[0].clone();
    let with_disk = env.drive(2 * M, 512 * K);
    let memory_only = Drive::new(DriveConfig {
        cache_dir: None,
        ..env.config(0, 512 * K)
    })
    .unwrap();
    let drives = Arc::new([with_disk, memory_only]);
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 200,
        ..Default::default()
    });
    runner
        .run(
            &(0..size + 10, 0..700 * K, 0..2usize),
            |(offset, len, which)| {
                let got = runtime
                    .block_on(drives[which].read_at(&id, offset, len))
                    .unwrap();
                let end = (offset + len).min(size).max(offset.min(size));
                let want = &bytes[offset.min(size) as usize..end as usize];
                proptest::prop_assert!(got[..] == *want, "offset {} len {}", offset, len);
                Ok(())
            },
        )
        .unwrap();
}

/// The block file holding `chunk` (content-addressed by its sha256).
fn block_file_of(dir: &Path, chunk: &[u8]) -> PathBuf {
    use sha2::Digest;
    let name = hex::encode(sha2::Sha256::digest(chunk));
    dir.join("blocks").join(&name[..2]).join(name)
}

/// A read spanning many chunks is split across threads (each filling its own part of the
/// output); the parts must land in the right places, and a bad block in one part is refetched
/// alone.
#[tokio::test(flavor = "multi_thread")]
async fn large_reads_from_disk_are_split_across_threads_and_exact() {
    let size = 9 * M + 777;
    let env = env(&[size]).await;
    let (id, bytes) = env.txs[0].clone();
    env.blocks_only_drive(1 << 30, M)
        .preload(&id, false, |_, _| {})
        .await
        .unwrap();
    let chunk = |i: usize| &bytes[i * 256 * K as usize..(i + 1) * 256 * K as usize];
    let bad = block_file_of(env.dir.path(), chunk(6));
    let mut corrupt = std::fs::read(&bad).unwrap();
    corrupt[5000] ^= 1;
    std::fs::write(&bad, corrupt).unwrap();

    env.gateway.reset_stats();
    let drive = env.blocks_only_drive(1 << 30, 512 * K);
    let got = drive.read_at(&id, 12_345, 8 * M).await.unwrap();
    assert!(got[..] == bytes[12_345..12_345 + 8 * M as usize]);
    assert_eq!(
        env.chunk_requests(),
        1,
        "only the corrupt block is refetched"
    );
    assert_eq!(drive.stats().disk.unwrap().corrupt_dropped, 1);

    // The blocking path (FUSE, WASI) into a caller's buffer, the whole file at once.
    let file = drive.open(&id).await.unwrap();
    let whole = tokio::task::spawn_blocking(move || {
        let mut out = vec![0u8; size as usize + 100];
        let n = file.read_into_blocking(0, &mut out).unwrap();
        out.truncate(n);
        out
    })
    .await
    .unwrap();
    assert!(whole == bytes[..]);
    assert_eq!(env.chunk_requests(), 1);
}

/// With the blocks on disk, a sequential reader's window is read into memory ahead of it (a
/// 128 KiB read alone would leave nothing in memory), without any network request.
#[tokio::test(flavor = "multi_thread")]
async fn read_ahead_brings_disk_blocks_into_memory_ahead_of_the_reader() {
    let env = env(&[8 * M]).await;
    let (id, bytes) = env.txs[0].clone();
    env.blocks_only_drive(1 << 30, M)
        .preload(&id, false, |_, _| {})
        .await
        .unwrap();
    env.gateway.reset_stats();
    let drive = env.blocks_only_drive(1 << 30, 64 * M);
    let file = drive.open(&id).await.unwrap();
    let first = file.read_at(0, 128 * K).await.unwrap();
    assert!(first[..] == bytes[..128 * K as usize]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The 1 MiB window after the read: its 4 (of 5 touched) whole chunks at least.
    while drive.stats().memory.bytes < M {
        assert!(
            std::time::Instant::now() < deadline,
            "the window was not read ahead from disk: {:?}",
            drive.stats().memory
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let hits_before = drive.stats().memory.hits;
    for i in 1..8 * M / (128 * K) {
        let piece = file.read_at(i * 128 * K, 128 * K).await.unwrap();
        assert!(piece[..] == bytes[(i * 128 * K) as usize..((i + 1) * 128 * K) as usize]);
    }
    assert_eq!(env.chunk_requests(), 0);
    assert!(
        drive.stats().memory.hits - hits_before >= 32,
        "sequential reads should mostly find their blocks in memory: {:?}",
        drive.stats().memory
    );
}

/// Waits until the gateway has had no new request for 200 ms.
async fn quiet(gateway: &TestGateway) {
    loop {
        let before = gateway.stats().requests();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if gateway.stats().requests() == before {
            return;
        }
    }
}

/// The fault matrix at the Drive itself (the mount and the WASI shim are adapters over it), a
/// fresh transaction per case so nothing is cached already:
/// - lies (altered chunk, forged proof, short chunk, header with a bad signature) are errors (unavailable),
///   and the cache reads the right bytes once the gateway stops lying (nothing false was
///   kept);
/// - blips (503, 429, resets before and mid-body, truncation, latency) are retried to the
///   right bytes;
/// - a gateway that hangs fails the read within the configured timeouts;
/// - a first gateway that lies, fails, hangs up or is not there is passed over for a second.
#[tokio::test(flavor = "multi_thread")]
async fn the_fault_matrix_through_the_drive() {
    let size = 600 * K + 5;
    let build = || {
        let mut data = GatewayData::with_seed(TestWallet::fixed(), 5);
        let txs: Vec<(TxId, Bytes)> = (0..16)
            .map(|i| {
                let bytes = pseudo_random_data(i + 500, size as usize);
                (data.add_tx(bytes.clone(), vec![]), bytes)
            })
            .collect();
        (data, txs)
    };
    let ((data, txs), (twin_data, twin_txs)) = (build(), build());
    assert_eq!(txs, twin_txs, "same seed must give the same ids");
    let gateway = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let twin = TestGateway::start(twin_data, GatewayOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive_over = |gateways: Vec<String>, retries: u32| {
        Drive::new(DriveConfig {
            gateway: GatewayConfig {
                gateways,
                retries,
                backoff: Duration::from_millis(10),
                read_timeout: Duration::from_secs(1),
                request_timeout: Duration::from_secs(2),
                ..GatewayConfig::default()
            },
            cache_dir: Some(dir.path().to_path_buf()),
            disk_budget: 1 << 30,
            memory_budget: 4 * M,
            ..DriveConfig::default()
        })
        .unwrap()
    };
    let faults = gateway.faults();
    let mut files = txs.iter();
    let drive = drive_over(vec![gateway.url()], 2);

    let lies = weavedrive_testgw::LIES;
    for (target, fault) in lies {
        let (id, bytes) = files.next().unwrap();
        let rule = faults.always(target, fault);
        let err = drive.read_at(id, 0, size).await.unwrap_err();
        assert!(err.is_unavailable(), "{fault:?}: {err}");
        assert!(faults.fired(rule) > 0, "{fault:?} never fired");
        // A fresh Drive over the same cache: the old one's read-ahead flights, begun during
        // the lie, may still be retrying against it, and a read would join them.
        quiet(&gateway).await;
        faults.clear();
        let after = drive_over(vec![gateway.url()], 2);
        assert!(
            read_all(&after, id, size, 100 * K).await == bytes[..],
            "{fault:?}: nothing false may be kept"
        );
    }

    let blips = [
        (Target::Chunk, Fault::Status(503)),
        (Target::Chunk, Fault::Status(429)),
        (Target::Any, Fault::ResetBeforeResponse),
        (Target::Chunk, Fault::ResetMidBody),
        (Target::Chunk, Fault::Truncate),
        (Target::Any, Fault::Latency(Duration::from_millis(300))),
    ];
    for (target, fault) in blips {
        let (id, bytes) = files.next().unwrap();
        let rule = faults.inject(target, fault, 2);
        assert!(
            read_all(&drive, id, size, 100 * K).await == bytes[..],
            "{fault:?}"
        );
        assert_eq!(faults.fired(rule), 2, "{fault:?}");
        faults.clear();
    }

    let (id, _) = files.next().unwrap();
    faults.always(Target::Chunk, Fault::Hang);
    let hung = drive_over(vec![gateway.url()], 0);
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), hung.read_at(id, 0, 10))
        .await
        .expect("a hanging gateway held the read past every timeout");
    assert!(result.unwrap_err().is_unavailable());
    assert!(started.elapsed() < Duration::from_secs(10));
    faults.clear();

    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let first_gateway_faults = [
        Some((Target::Chunk, Fault::CorruptChunk)),
        Some((Target::Chunk, Fault::ForgeProof)),
        Some((Target::TxHeader, Fault::WrongHeader)),
        Some((Target::Any, Fault::Status(500))),
        None,
    ];
    for fault in first_gateway_faults {
        let (id, bytes) = files.next().unwrap();
        twin.reset_stats();
        // A fresh Drive each time: one that saw the first gateway fail would try it last.
        let first = match fault {
            Some((target, fault)) => {
                faults.always(target, fault);
                gateway.url()
            }
            None => dead.clone(),
        };
        let drive = drive_over(vec![first, twin.url()], 0);
        assert!(
            read_all(&drive, id, size, 100 * K).await == bytes[..],
            "{fault:?}"
        );
        assert!(
            twin.stats().requests() > 0,
            "{fault:?}: second gateway unused"
        );
        faults.clear();
    }
}

/// A reader that joins a chunk fetch begun while the gateway lied, and ending in that lie
/// after the gateway stopped lying, asks once more instead of failing. The reader that began
/// the fetch (no retries here) does fail: it saw only the lie.
#[tokio::test]
async fn a_reader_joining_a_fetch_that_met_a_lie_asks_again() {
    let env = env_with(
        vec![pseudo_random_data(77, 300 * K as usize)],
        GatewayOptions {
            latency: Duration::from_millis(400),
            ..GatewayOptions::default()
        },
    )
    .await;
    let mut config = env.config(1 << 30, 64 * M);
    config.gateway.retries = 0;
    let drive = Drive::new(config).unwrap();
    let (id, bytes) = env.txs[0].clone();
    drive.stat(&id).await.unwrap();
    env.gateway
        .faults()
        .always(Target::Chunk, Fault::CorruptChunk);
    // (Chunk 0 came with the header: its place was proven with it. Chunk 1 is read here.)
    let at = 260 * K;
    let first = tokio::spawn({
        let drive = drive.clone();
        async move { drive.read_at(&id, at, 10).await }
    });
    // The first reader's request is on its way (and will be answered with the lie).
    tokio::time::sleep(Duration::from_millis(150)).await;
    env.gateway.faults().clear();
    let late = drive.read_at(&id, at, 10).await;
    assert!(
        first.await.unwrap().is_err(),
        "the lie reached the first reader"
    );
    assert_eq!(late.unwrap(), bytes.slice(at as usize..at as usize + 10));
}

/// Two transactions holding the same bytes: once the first has an extent (its blocks gone),
/// the second's chunks are found in it by name, and such a read is checked against the
/// name. Bit rot in the extent is caught there: the extent is dropped and the chunks come
/// from the gateway again, right. Reads through the extent's own file handle are checked
/// only when it is assembled and by the scrub (see the store's module doc).
#[tokio::test(flavor = "multi_thread")]
async fn a_chunk_read_by_name_from_a_corrupt_extent_is_caught_and_fetched_again() {
    let bytes = pseudo_random_data(77, 2 * M as usize);
    let env = env_with(
        vec![bytes.clone(), bytes.clone()],
        GatewayOptions::default(),
    )
    .await;
    let ((a, _), (b, _)) = (&env.txs[0], &env.txs[1]);
    // The second is read first: its chunk map learns the chunks' names (proven hashes).
    let drive = env.drive(1 << 30, M);
    assert!(read_all(&drive, b, 2 * M, 300 * K).await == bytes[..]);
    drive.preload(a, false, |_, _| {}).await.unwrap();
    let extent = env.dir.path().join("extents").join(a.to_string());
    assert_eq!(std::fs::metadata(&extent).unwrap().len(), 2 * M);
    assert!(block_files(env.dir.path()).is_empty());

    // Same chunks: the second is now served from the first's extent, no chunk fetched.
    env.gateway.reset_stats();
    let fresh = env.drive(1 << 30, M);
    assert!(read_all(&fresh, b, 2 * M, 300 * K).await == bytes[..]);
    assert_eq!(env.chunk_requests(), 0);

    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&extent)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"\xff\xfe", 3).unwrap();
    let fresh = env.drive(1 << 30, M);
    assert!(read_all(&fresh, b, 2 * M, 300 * K).await == bytes[..]);
    assert!(!extent.exists(), "the corrupt extent was not dropped");
    // (The first chunk was the bad one: from then on the extent is gone.)
    assert_eq!(
        env.chunk_requests(),
        8,
        "every chunk it held is fetched again"
    );
}
