//! The FUSE mount for real: `weavedrive mount` as a child process over the local test
//! gateway; reads, preads, mmap and sha256sum through the mount equal the source; faults
//! mid-read are retried transparently; unverifiable data is EIO; SIGTERM unmounts cleanly and
//! a SIGKILLed mount is recovered. Needs /dev/fuse and root (as in CI; see common/fuse.rs).

#[path = "common/fuse.rs"]
mod fuse;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fuse::{Mounted, fuse_available, is_mounted, wait_with_timeout};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};
use weavedrive_cache::TxId;
use weavedrive_testgw::{
    BackgroundGateway, Fault, GatewayData, GatewayOptions, MANIFEST_CONTENT_TYPE, Target,
    TestGateway, TestWallet, path_manifest, pseudo_random_data,
};

const K: usize = 1024;
const M: usize = 1024 * 1024;

struct Fixture {
    gateway: BackgroundGateway,
    txs: Vec<(TxId, Bytes)>,
    dir: tempfile::TempDir,
}

/// One transaction of pseudo-random data per size (seeds from `first_seed` on).
fn add_txs(data: &mut GatewayData, sizes: &[usize], first_seed: u64) -> Vec<(TxId, Bytes)> {
    let seeds = first_seed..;
    sizes
        .iter()
        .zip(seeds)
        .map(|(&size, seed)| {
            let bytes = pseudo_random_data(seed, size);
            (data.add_tx(bytes.clone(), vec![]), bytes)
        })
        .collect()
}

fn fixture(sizes: &[usize]) -> Fixture {
    let mut data = GatewayData::new(TestWallet::fixed());
    let txs = add_txs(&mut data, sizes, 100);
    Fixture {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        txs,
        dir: tempfile::tempdir().unwrap(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn read_pread_mmap_and_sha256sum_match_the_source() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[1, 256 * K + 1, 3 * M + 5, 40 * M]);
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    let mut rng = StdRng::seed_from_u64(5);
    for (id, bytes) in &fx.txs {
        let path = mount.data(id);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes.len() as u64);
        // Whole-file read.
        assert!(std::fs::read(&path).unwrap() == bytes[..], "read of {id}");
        // sha256sum, the tool.
        let out = Command::new("sha256sum").arg(&path).output().unwrap();
        let printed = String::from_utf8(out.stdout).unwrap();
        assert!(
            printed.starts_with(&sha256_hex(bytes)),
            "sha256sum {printed}"
        );
        // Random preads, including ones crossing chunk boundaries and the end.
        let file = File::open(&path).unwrap();
        for _ in 0..50 {
            let offset = rng.gen_range(0..bytes.len());
            let len = rng.gen_range(1..=300 * K).min(bytes.len() - offset);
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, offset as u64).unwrap();
            assert!(
                buf[..] == bytes[offset..offset + len],
                "pread {offset}+{len}"
            );
        }
        let mut past = [0u8; 16];
        assert_eq!(file.read_at(&mut past, bytes.len() as u64).unwrap(), 0);
        // mmap and touch random pages.
        // SAFETY: a read-only private mapping of a file we keep open; unmapped below.
        unsafe {
            let len = bytes.len();
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            let view = std::slice::from_raw_parts(map as *const u8, len);
            for _ in 0..200 {
                let at = rng.gen_range(0..len);
                assert_eq!(view[at], bytes[at], "mmap byte {at}");
            }
            assert!(view == &bytes[..], "mmap of {id}");
            libc::munmap(map, len);
        }
    }
    // Header JSON, listings, bad names, writes.
    let (id, bytes) = &fx.txs[2];
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(mount.mountpoint.join("tx").join(id.to_string())).unwrap(),
    )
    .unwrap();
    assert_eq!(json["id"], id.to_string());
    assert_eq!(json["data_size"], bytes.len().to_string());
    // Block headers: the gateway's JSON, marked as not authenticated.
    let block: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mount.mountpoint.join("block/3")).unwrap()).unwrap();
    assert_eq!(block["height"], 3);
    assert_eq!(block["txs"][0], id.to_string());
    assert_eq!(block["weavedrive_verified"], false);
    let missing = std::fs::metadata(mount.mountpoint.join("block/999")).unwrap_err();
    assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
    let blocks: Vec<String> = std::fs::read_dir(mount.mountpoint.join("block"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(blocks, ["3"]);
    let listed: Vec<String> = std::fs::read_dir(mount.mountpoint.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for (id, _) in &fx.txs {
        assert!(listed.contains(&id.to_string()), "{id} not listed");
    }
    fx.gateway.reset_stats();
    for bad in [
        "data/not-an-id",
        "data/AAAA",
        &format!("data/{}", "x".repeat(43)),
        "block/03",
        "block/+3",
        "block/-1",
    ] {
        let err = std::fs::metadata(mount.mountpoint.join(bad)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{bad}");
    }
    assert_eq!(
        fx.gateway.stats().requests(),
        0,
        "invalid names reached the network"
    );
    let write = std::fs::OpenOptions::new()
        .write(true)
        .open(mount.data(id))
        .unwrap_err();
    assert_eq!(write.raw_os_error(), Some(libc::EROFS));
    let create = File::create(mount.mountpoint.join("data/new")).unwrap_err();
    assert_eq!(create.raw_os_error(), Some(libc::EROFS));
    mount.stop();
}

#[test]
fn concurrent_readers_of_the_same_and_different_files() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[12 * M + 7, 9 * M + 3]);
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    std::thread::scope(|scope| {
        for reader in 0..8u64 {
            let (id, bytes) = &fx.txs[(reader % 2) as usize];
            let path = mount.data(id);
            scope.spawn(move || {
                let file = File::open(&path).unwrap();
                let mut rng = StdRng::seed_from_u64(reader);
                for _ in 0..40 {
                    let offset = rng.gen_range(0..bytes.len());
                    let len = rng.gen_range(1..=512 * K).min(bytes.len() - offset);
                    let mut buf = vec![0u8; len];
                    file.read_exact_at(&mut buf, offset as u64).unwrap();
                    assert!(buf[..] == bytes[offset..offset + len], "reader {reader}");
                }
            });
        }
    });
    mount.stop();
}

#[test]
fn faults_mid_read_are_retried_and_bad_data_is_eio() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[6 * M + 11, 2 * M]);
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    let (id, bytes) = &fx.txs[0];
    // Open (header fetched), then break the next chunk requests mid-read.
    let file = File::open(mount.data(id)).unwrap();
    let faults = fx.gateway.faults();
    let rules = [
        faults.inject(Target::Chunk, Fault::Status(503), 3),
        faults.inject(Target::Chunk, Fault::ResetMidBody, 2),
        faults.inject(Target::Chunk, Fault::CorruptChunk, 2),
        faults.inject(Target::Chunk, Fault::Truncate, 1),
    ];
    let mut all = vec![0u8; bytes.len()];
    file.read_exact_at(&mut all, 0).unwrap();
    assert!(all == bytes[..], "bytes differ after retried faults");
    for rule in rules {
        assert!(faults.fired(rule) > 0, "a fault never fired");
    }

    // A chunk that never verifies: EIO, not wrong or zeroed bytes. (Opened first: opening
    // proves one chunk where the data is said to be, and with every chunk corrupted the open
    // itself would fail, with EIO too.)
    faults.clear();
    let (bad, _) = &fx.txs[1];
    let file = File::open(mount.data(bad)).unwrap();
    faults.always(Target::Chunk, Fault::CorruptChunk);
    let mut buf = vec![0u8; 4096];
    // In its last chunk: the open's read of the GGUF magic (verify-on-open) starts a 1 MiB
    // read-ahead window, which may fetch (and prove) the first chunks before the fault is set.
    let err = file
        .read_exact_at(&mut buf, (2 * M - 4096) as u64)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    faults.clear();
    mount.stop();
}

/// Two gateways serving the same transactions (same seed, same ids), for failover.
fn twin_gateways(sizes: &[usize]) -> (Fixture, BackgroundGateway) {
    let build = || {
        let mut data = GatewayData::with_seed(TestWallet::fixed(), 77);
        let txs = add_txs(&mut data, sizes, 300);
        let gateway = TestGateway::spawn_background(data, GatewayOptions::default()).unwrap();
        (gateway, txs)
    };
    let (gateway, txs) = build();
    let (twin, twin_txs) = build();
    assert_eq!(txs, twin_txs, "same seed must give the same ids");
    let fx = Fixture {
        gateway,
        txs,
        dir: tempfile::tempdir().unwrap(),
    };
    (fx, twin)
}

/// Every kind of lie a gateway can tell, through the mount, a fresh file per case (so nothing
/// is cached already). Told by both gateways: EIO, and the same file reads right once they
/// stop lying (nothing false was kept). Told by the first only: the second serves the right
/// bytes. Latency spikes are waited out. Malformed names are ENOENT without a request.
#[test]
fn lies_are_eio_and_a_second_gateway_takes_over_through_the_mount() {
    if !fuse_available() {
        return;
    }
    let lies = weavedrive_testgw::LIES;
    let failures = [
        (Target::Chunk, Fault::Status(500)),
        (Target::Chunk, Fault::ResetMidBody),
        (Target::Chunk, Fault::Truncate),
        (Target::Any, Fault::ResetBeforeResponse),
    ];
    let cases = 2 * lies.len() + failures.len() + 1;
    let (fx, twin) = twin_gateways(&vec![700 * K + 3; cases]);
    let twin_url = twin.url();
    let start = || {
        Mounted::start(
            &fx.gateway.url(),
            fx.dir.path(),
            &["--gateway", &twin_url, "--retries", "1"],
        )
    };
    let mut mount = start();
    let mut files = fx.txs.iter();
    let gateways = [fx.gateway.faults(), twin.faults()];

    for (target, fault) in lies {
        let (id, bytes) = files.next().unwrap();
        let rules = gateways
            .iter()
            .map(|g| g.inject(target, fault, u64::MAX))
            .collect::<Vec<_>>();
        let err = std::fs::read(mount.data(id)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{fault:?}: {err}");
        for (g, rule) in gateways.iter().zip(rules) {
            assert!(g.fired(rule) > 0, "{fault:?} never fired");
            g.clear();
        }
        let read = std::fs::read(mount.data(id)).unwrap();
        assert!(
            read == bytes[..],
            "{fault:?}: wrong bytes once the lie stopped"
        );
    }

    // A fresh mount per case: a gateway that failed is tried last for a while, so on the
    // same mount the next case would not reach it.
    for (target, fault) in lies.into_iter().chain(failures) {
        mount.stop();
        mount = start();
        let (id, bytes) = files.next().unwrap();
        twin.reset_stats();
        let rule = gateways[0].always(target, fault);
        let read = std::fs::read(mount.data(id)).unwrap();
        assert!(
            read == bytes[..],
            "{fault:?}: wrong bytes via the second gateway"
        );
        assert!(gateways[0].fired(rule) > 0, "{fault:?} never fired");
        assert!(
            twin.stats().requests() > 0,
            "{fault:?}: second gateway unused"
        );
        gateways[0].clear();
    }

    mount.stop();
    mount = start();
    let (id, bytes) = files.next().unwrap();
    let spikes = gateways[0].inject(Target::Any, Fault::Latency(Duration::from_millis(400)), 3);
    assert!(std::fs::read(mount.data(id)).unwrap() == bytes[..]);
    assert_eq!(gateways[0].fired(spikes), 3);

    fx.gateway.reset_stats();
    twin.reset_stats();
    let long = "A".repeat(44);
    let short = "A".repeat(42);
    let bad_char = format!("{}!", "A".repeat(42));
    for name in ["..%2f..%2fetc", "not-an-id", &long, &short, &bad_char] {
        let err = std::fs::metadata(mount.mountpoint.join("data").join(name)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{name:?}: {err}");
    }
    assert_eq!(fx.gateway.stats().requests() + twin.stats().requests(), 0);
    mount.stop();
}

#[test]
fn a_killed_mount_is_recovered_by_mount_and_by_unmount() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[M]);
    let (id, bytes) = &fx.txs[0];
    for recover_with in ["mount", "unmount"] {
        let mut mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
        let mut child = mount.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let stale = std::fs::metadata(mount.data(id)).unwrap_err();
        assert_eq!(stale.raw_os_error(), Some(libc::ENOTCONN), "{stale}");
        assert!(is_mounted(&mount.mountpoint));
        if recover_with == "unmount" {
            let out = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
                .arg("unmount")
                .arg(&mount.mountpoint)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!is_mounted(&mount.mountpoint));
        } else {
            // Mounting again over the stale mount detaches it and says so.
            let again = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
            assert!(std::fs::read(again.data(id)).unwrap() == bytes[..]);
            let stderr = again.stop();
            assert!(stderr.contains("stale mount"), "{stderr}");
        }
        drop(mount);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .arg("unmount")
        .arg(fx.dir.path().join("mnt"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not mounted"));
}

/// `weavedrive unmount` from outside ends the mount's process, and that process must not
/// unmount whatever is at the mountpoint by then: fuser's session, when dropped, unmounts by
/// path again. The old process is stopped until the new mount is up, so the race is forced.
#[test]
fn an_ended_mount_leaves_the_next_mount_at_its_path_alone() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[M]);
    let (id, bytes) = &fx.txs[0];
    let mut old = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    let pid = old.child.as_ref().unwrap().id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let out = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .arg("unmount")
        .arg(&old.mountpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let (status, stderr) = wait_with_timeout(old.child.as_mut().unwrap(), Duration::from_secs(20));
    old.child = None;
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("was unmounted"), "{stderr}");
    assert!(
        is_mounted(&new.mountpoint),
        "the old process unmounted the new mount"
    );
    assert!(std::fs::read(new.data(id)).unwrap() == bytes[..]);
    new.stop();
}

/// Peak and current resident memory of a process, in bytes (VmHWM and VmRSS).
fn peak_and_current_rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// A file well past 2 GiB on a mount with a 64 MiB memory budget: mmap probes through gateway
/// blips, then a soak of random reads (cold and repeated). Every byte is checked; the mount's
/// peak resident memory stays within the budget plus a fixed overhead, and its file
/// descriptors and threads stay within their bounds.
#[test]
fn a_multi_gib_file_mmaps_and_reads_at_random_within_the_memory_budget() {
    if !fuse_available() {
        return;
    }
    // Past 2 GiB, so any 32-bit offset arithmetic on the way would show.
    let size = 2 * 1024 * M + 300 * M + 17;
    let fx = fixture(&[size]);
    let mount = Mounted::start(
        &fx.gateway.url(),
        fx.dir.path(),
        &["--memory-cache", "64MiB"],
    );
    let pid = mount.child.as_ref().unwrap().id();
    let (id, bytes) = &fx.txs[0];
    let file = File::open(mount.data(id)).unwrap();
    assert_eq!(file.metadata().unwrap().len(), size as u64);
    // Blips while pages fault in: retried inside, so the reader never sees SIGBUS.
    let faults = fx.gateway.faults();
    let rules = [
        faults.inject(Target::Chunk, Fault::Status(503), 3),
        faults.inject(Target::Chunk, Fault::ResetMidBody, 2),
        faults.inject(Target::Chunk, Fault::Truncate, 2),
    ];
    let mut rng = StdRng::seed_from_u64(9);
    let mut probes: Vec<usize> = (0..300).map(|_| rng.gen_range(0..size)).collect();
    probes.extend([0, (1 << 31) - 1, 1 << 31, (1 << 31) + 1, size - 1]);
    // SAFETY: a read-only private mapping of a file we keep open; unmapped below.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        );
        assert_ne!(map, libc::MAP_FAILED);
        let view = std::slice::from_raw_parts(map as *const u8, size);
        for &at in &probes {
            let end = (at + 64).min(size);
            assert!(view[at..end] == bytes[at..end], "mmap bytes at {at}");
        }
        libc::munmap(map, size);
    }
    for rule in rules {
        assert!(faults.fired(rule) > 0, "a fault never fired");
    }
    // Far less than the file was fetched: random access does not read everything.
    let fetched = fx.gateway.stats().body_bytes;
    assert!(fetched < (size / 4) as u64, "fetched {fetched} bytes");

    // The soak: half the reads anywhere (mostly cold), half within 64 regions read before
    // (memory or disk tier), up to 1 MiB each.
    const SOAK_READS: usize = 1000;
    let fds_and_threads = open_fds_and_threads(pid);
    let hot: Vec<usize> = (0..64).map(|_| rng.gen_range(0..size - M)).collect();
    let (mut read, mut highest_rss) = (0usize, 0u64);
    for i in 0..SOAK_READS {
        let offset = match i % 2 {
            0 => rng.gen_range(0..size),
            _ => hot[rng.gen_range(0..hot.len())] + rng.gen_range(0..64 * K),
        };
        let len = rng.gen_range(1..=M).min(size - offset);
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset as u64).unwrap();
        assert!(
            buf[..] == bytes[offset..offset + len],
            "soak read {i} at {offset}"
        );
        read += len;
        if i % 50 == 0 {
            highest_rss = highest_rss.max(peak_and_current_rss(pid).1);
        }
    }
    let (peak, now) = peak_and_current_rss(pid);
    eprintln!(
        "soak: {} MiB read in {SOAK_READS} reads; mount RSS peak {} MiB, highest sampled {} MiB, \
         now {} MiB",
        read / M,
        peak / M as u64,
        highest_rss / M as u64,
        now / M as u64
    );
    // The overhead: up to 64 chunk requests in flight (body, decoded chunk, proof), FUSE and
    // runtime threads, the chunk map, the allocator's slack. Measured: 126 MiB at the peak in
    // all (2026-11), 159-162 MiB on a 2-core machine under the whole suite (2026-12-03).
    const BUDGET_AND_OVERHEAD: u64 = (64 + 128) * M as u64;
    assert!(
        peak <= BUDGET_AND_OVERHEAD,
        "peak RSS {} MiB",
        peak / M as u64
    );
    // Bounded, not constant: the store keeps up to 128 block files open and the client up to
    // 64 connections (--concurrency); the blocking pool grows with load and idles out.
    let (fds, threads) = open_fds_and_threads(pid);
    let (fds_before, threads_before) = fds_and_threads;
    assert!(fds <= fds_before + 128 + 64, "fds: {fds_before} -> {fds}");
    assert!(
        threads <= threads_before + 32,
        "threads: {threads_before} -> {threads}"
    );
    mount.stop();
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Stat and open of each path fail with EACCES.
fn assert_denied(paths: &[PathBuf]) {
    for path in paths {
        let err = std::fs::metadata(path).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{}", path.display());
        let err = File::open(path).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{}", path.display());
    }
}

#[test]
fn access_policy_denies_with_eacces_and_no_network() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[300 * K + 3, 5 * K, 7 * K]);
    let (id0, bytes0) = &fx.txs[0];
    let (id1, _) = &fx.txs[1];
    let (id2, bytes2) = &fx.txs[2];
    let cache = fx.dir.path().join("cache");
    // id2 cached beforehand, so the listings below would show it but for the policy; id1
    // is not, so serving it would take a request.
    let preload = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args([
            "preload",
            "-q",
            "--gateway",
            &fx.gateway.url(),
            "--cache-dir",
        ])
        .arg(&cache)
        .arg(id2.to_string())
        .output()
        .unwrap();
    assert!(
        preload.status.success(),
        "{}",
        String::from_utf8_lossy(&preload.stderr)
    );

    let mount = Mounted::start(
        &fx.gateway.url(),
        fx.dir.path(),
        &["--allow", &id0.to_string()],
    );
    assert!(std::fs::read(mount.data(id0)).unwrap() == bytes0[..]);
    fx.gateway.reset_stats();
    assert_denied(&[
        mount.data(id1),
        mount.tx(id1),
        mount.data(id2),
        mount.tx(id2),
    ]);
    assert_eq!(
        fx.gateway.stats().requests(),
        0,
        "a denied id reached the network"
    );
    assert_eq!(listing(&mount.mountpoint.join("data")), [id0.to_string()]);
    assert_eq!(listing(&mount.mountpoint.join("tx")), [id0.to_string()]);
    // Blocks are not subject to the policy, even one holding a denied id.
    let block: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mount.mountpoint.join("block/2")).unwrap()).unwrap();
    assert_eq!(block["txs"][0], id1.to_string());
    mount.stop();

    // The same from a file: comments, blank lines, a trailing comment.
    let list = fx.dir.path().join("allowed.txt");
    std::fs::write(
        &list,
        format!("# allowed ids\n\n  {id2}  # the small one\n"),
    )
    .unwrap();
    let list_arg = list.to_str().unwrap();
    let mount = Mounted::start(
        &fx.gateway.url(),
        fx.dir.path(),
        &["--allow-file", list_arg],
    );
    fx.gateway.reset_stats();
    assert!(std::fs::read(mount.data(id2)).unwrap() == bytes2[..]);
    assert_denied(&[mount.data(id0), mount.tx(id0), mount.data(id1)]);
    assert_eq!(
        fx.gateway.stats().requests(),
        0,
        "a cached read or a denied id reached the network"
    );
    // id0 is cached now too; only the allowed one is listed.
    assert_eq!(listing(&mount.mountpoint.join("data")), [id2.to_string()]);
    mount.stop();
}

/// Bad `--allow` values and `--allow-file` lines are refused before anything is mounted.
#[test]
fn malformed_allow_values_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mount = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .arg("mount")
            .arg(dir.path().join("absent"))
            .args(extra)
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, stderr) = mount(&["--allow", "not-an-id"]);
    assert!(!status.success());
    assert!(
        stderr.contains("not-an-id") && stderr.contains("--allow"),
        "{stderr}"
    );

    let good = TxId([7; 32]).to_string();
    let list = dir.path().join("ids");
    std::fs::write(&list, format!("# ok\n{good}\nAAAA\n")).unwrap();
    let (status, stderr) = mount(&["--allow-file", list.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("{}:3:", list.display())) && stderr.contains("AAAA"),
        "{stderr}"
    );
    let (status, stderr) = mount(&["--allow-file", "/nonexistent/ids"]);
    assert!(!status.success());
    assert!(stderr.contains("/nonexistent/ids"), "{stderr}");

    // An id starting with `-` is a value of --allow, not a flag: parsing gets as far as the
    // (missing) mountpoint.
    let hyphen = format!("-{}", &TxId([0x55; 32]).to_string()[1..]);
    let (status, stderr) = mount(&["--allow", &hyphen, "--allow", &good]);
    assert!(!status.success());
    assert!(stderr.contains("absent"), "{stderr}");
}

/// Every gateway down (all requests failing), then back: reads fail with EIO meanwhile (never
/// ENOENT, which the kernel could remember, and never wrong bytes), and work again on the same
/// mount once the gateway answers, for an open file and for one never looked up before.
#[test]
fn all_gateways_down_then_back_recovers_without_remount() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[2 * M + 5, 300 * K]);
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &["--retries", "0"]);
    let ((open_id, open_bytes), (later_id, later_bytes)) = (&fx.txs[0], &fx.txs[1]);
    let file = File::open(mount.data(open_id)).unwrap();
    let faults = fx.gateway.faults();
    faults.always(Target::Any, Fault::Status(503));
    let mut buf = vec![0u8; 64 * K];
    // At its end: the open's read of the GGUF magic (verify-on-open) starts a 1 MiB
    // read-ahead window, which may fetch the first chunks before the gateway goes down.
    let at = (open_bytes.len() - 64 * K) as u64;
    let err = file.read_exact_at(&mut buf, at).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let err = std::fs::read(mount.data(later_id)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");

    faults.clear();
    let mut all = vec![0u8; open_bytes.len()];
    file.read_exact_at(&mut all, 0).unwrap();
    assert!(all == open_bytes[..]);
    assert!(std::fs::read(mount.data(later_id)).unwrap() == later_bytes[..]);
    mount.stop();
}

/// A gateway that stops answering holds up only the reads that need it: reads of cached data
/// go on meanwhile, and the stuck read ends in EIO once the read timeout passes.
#[test]
fn a_hanging_gateway_blocks_only_reads_that_need_it() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[3 * M, 2 * M]);
    // (Mounted::start sets --timeout 5: the stuck read's bound.)
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &["--retries", "0"]);
    let ((cold_id, _), (warm_id, warm_bytes)) = (&fx.txs[0], &fx.txs[1]);
    assert!(std::fs::read(mount.data(warm_id)).unwrap() == warm_bytes[..]);
    let cold = File::open(mount.data(cold_id)).unwrap();
    fx.gateway.faults().always(Target::Chunk, Fault::Hang);
    std::thread::scope(|scope| {
        let stuck = scope.spawn(|| {
            let started = Instant::now();
            let mut buf = vec![0u8; 4096];
            let result = cold.read_exact_at(&mut buf, 2 * M as u64);
            (result, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !stuck.is_finished(),
            "the hung read should still be waiting"
        );
        for _ in 0..20 {
            let warm = File::open(mount.data(warm_id)).unwrap();
            let mut buf = vec![0u8; 256 * K];
            warm.read_exact_at(&mut buf, M as u64).unwrap();
            assert!(buf[..] == warm_bytes[M..M + 256 * K]);
        }
        assert!(
            !stuck.is_finished(),
            "cached reads had to wait for the hung one"
        );
        let (result, took) = stuck.join().unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
        assert!(took < Duration::from_secs(30), "no timeout: {took:?}");
    });
    fx.gateway.faults().clear();
    mount.stop();
}

fn open_fds_and_threads(pid: u32) -> (usize, usize) {
    let count = |dir: &str| {
        std::fs::read_dir(format!("/proc/{pid}/{dir}"))
            .unwrap()
            .count()
    };
    (count("fd"), count("task"))
}

/// 32 readers at once (four times the FUSE threads), 640 open/read/close cycles in all: the
/// mount's file descriptors and threads come back to what they were.
#[test]
fn thirty_two_readers_and_many_opens_leak_no_fds_or_threads() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[5 * M + 3, 3 * M + 1, 700 * K]);
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    let pid = mount.child.as_ref().unwrap().id();
    for (id, bytes) in &fx.txs {
        assert!(std::fs::read(mount.data(id)).unwrap() == bytes[..]);
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = open_fds_and_threads(pid);
    std::thread::scope(|scope| {
        for reader in 0..32u64 {
            let (id, bytes) = &fx.txs[(reader % 3) as usize];
            let path = mount.data(id);
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(reader);
                for _ in 0..20 {
                    let file = File::open(&path).unwrap();
                    let offset = rng.gen_range(0..bytes.len());
                    let len = rng.gen_range(1..=256 * K).min(bytes.len() - offset);
                    let mut buf = vec![0u8; len];
                    file.read_exact_at(&mut buf, offset as u64).unwrap();
                    assert!(buf[..] == bytes[offset..offset + len], "reader {reader}");
                }
            });
        }
    });
    // Idle blocking-pool threads retire after 10 s; allow for that, no more.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = open_fds_and_threads(pid);
    while (after.0 > before.0 || after.1 > before.1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        after = open_fds_and_threads(pid);
    }
    assert!(after.0 <= before.0, "fds grew: {before:?} -> {after:?}");
    assert!(after.1 <= before.1, "threads grew: {before:?} -> {after:?}");
    mount.stop();
}

/// Read-only in every way a program could try to change it: each attempt is EROFS and the data
/// reads the same afterwards.
#[test]
fn every_kind_of_write_is_refused() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[300 * K]);
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    let (id, bytes) = &fx.txs[0];
    let data = mount.data(id);
    assert!(std::fs::read(&data).unwrap() == bytes[..]);
    let dir = mount.mountpoint.join("data");
    let c = |p: &Path| std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let last_errno = || std::io::Error::last_os_error().raw_os_error();
    let attempts: Vec<(&str, std::io::Result<()>)> = vec![
        ("create", File::create(dir.join("new")).map(drop)),
        ("mkdir", std::fs::create_dir(dir.join("d"))),
        ("rmdir", std::fs::remove_dir(&dir)),
        ("unlink", std::fs::remove_file(&data)),
        ("rename", std::fs::rename(&data, dir.join("moved"))),
        (
            "symlink",
            std::os::unix::fs::symlink("/etc/passwd", dir.join("s")),
        ),
        ("hard link", std::fs::hard_link(&data, dir.join("h"))),
        (
            "chmod",
            std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o777)),
        ),
        (
            "truncate",
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&data)
                .map(drop),
        ),
        (
            "append",
            std::fs::OpenOptions::new()
                .append(true)
                .open(&data)
                .map(drop),
        ),
    ];
    for (what, result) in attempts {
        let err = result.expect_err(what);
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{what}: {err}");
    }
    // SAFETY: valid C strings and buffers.
    unsafe {
        let value = b"x";
        let set = libc::setxattr(
            c(&data).as_ptr(),
            c"user.test".as_ptr(),
            value.as_ptr().cast(),
            1,
            0,
        );
        assert_eq!((set, last_errno()), (-1, Some(libc::EROFS)), "setxattr");
        let times = libc::utimes(c(&data).as_ptr(), std::ptr::null());
        assert_eq!((times, last_errno()), (-1, Some(libc::EROFS)), "utimes");
    }
    assert!(std::fs::read(&data).unwrap() == bytes[..]);
    mount.stop();
}

/// The mount process SIGKILLed at random moments while a program reads through it, 12 times
/// over one cache directory (a different file each time, so every read starts cold): the
/// reader never gets a wrong byte before the kill, and at the end every cached block checks
/// out (none corrupt or half-written), nothing cached is fetched again, and every file's bytes
/// equal the source.
#[test]
fn killed_mid_read_many_times_the_cache_stays_verified() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[6 * M + 5; 12]);
    // Slow enough that the kills land mid-read.
    fx.gateway
        .faults()
        .always(Target::Chunk, Fault::Latency(Duration::from_millis(100)));
    let mut rng = StdRng::seed_from_u64(12);
    let mut cut_short = 0;
    for (round, (id, bytes)) in fx.txs.iter().enumerate() {
        let mut mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
        let path = mount.data(id);
        let reader = std::thread::spawn(move || {
            // Reads until the mount dies under it; whatever it got before must be right.
            let Ok(file) = File::open(&path) else {
                return Vec::new();
            };
            let mut got = Vec::new();
            let mut buf = vec![0u8; 256 * K];
            while let Ok(n) = file.read_at(&mut buf, got.len() as u64) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..400)));
        let mut child = mount.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let got = reader.join().unwrap();
        assert!(
            got[..] == bytes[..got.len()],
            "round {round}: wrong bytes before the kill"
        );
        cut_short += usize::from(got.len() < bytes.len());
        // Dropping detaches the stale mount (recovery by the next mount is tested above).
        drop(mount);
    }
    assert!(
        cut_short >= 6,
        "only {cut_short} of 12 kills landed mid-read"
    );
    fx.gateway.faults().clear();
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    for (id, bytes) in &fx.txs {
        assert!(std::fs::read(mount.data(id)).unwrap() == bytes[..]);
    }
    mount.stop();
    // Every block file the kills left behind, checked page by page.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let drive = weavedrive_cache::Drive::new(weavedrive_cache::DriveConfig {
            gateway: weavedrive_cache::GatewayConfig {
                gateways: vec![fx.gateway.url()],
                ..Default::default()
            },
            cache_dir: Some(fx.dir.path().join("cache")),
            memory_budget: M as u64,
            ..Default::default()
        })
        .unwrap();
        fx.gateway.reset_stats();
        for (id, bytes) in &fx.txs {
            let all = drive.read_at(id, 0, bytes.len() as u64).await.unwrap();
            assert!(all[..] == bytes[..]);
        }
        assert_eq!(drive.stats().disk.unwrap().corrupt_dropped, 0);
        assert_eq!(fx.gateway.stats().chunk, 0, "the cache lost blocks it had");
    });
}

/// `/manifest/<id>/…`: a path manifest as directories whose files are symlinks into
/// `/data`; reads through them equal the source; a name the manifest lacks leads to its
/// fallback, or is ENOENT without one; data that is not a manifest is ENOTDIR.
#[test]
fn manifests_are_directories_of_links_into_data() {
    if !fuse_available() {
        return;
    }
    let mut data = GatewayData::new(TestWallet::fixed());
    let files = add_txs(&mut data, &[300 * K + 7, 11, 2 * M + 1], 700);
    let (index, fallback, weights) = (&files[0], &files[1], &files[2]);
    // Version first, as manifests are written: gateways honour `fallback` only once they
    // have read "version": "0.2.0" (ar.io's parseManifestStream), and serde_json would sort
    // it last.
    let json = format!(
        r#"{{"manifest":"arweave/paths","version":"0.2.0","index":{{"path":"index.html"}},
        "fallback":{{"id":"{}"}},"paths":{{"index.html":{{"id":"{}"}},
        "weights/deep/model.bin":{{"id":"{}"}},"weights/readme":{{"id":"{}"}}}}}}"#,
        fallback.0, index.0, weights.0, fallback.0
    );
    let tag = || vec![("Content-Type".into(), MANIFEST_CONTENT_TYPE.into())];
    let manifest = data.add_tx(Bytes::from(json), tag());
    let strict = data.add_tx(path_manifest(None, &[("only.bin", weights.0)]), tag());
    let fx = Fixture {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        txs: files.clone(),
        dir: tempfile::tempdir().unwrap(),
    };
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    let root = mount.mountpoint.join("manifest").join(manifest.to_string());

    assert_eq!(listing(&root), ["index.html", "weights"]);
    assert_eq!(listing(&root.join("weights")), ["deep", "readme"]);
    let model = root.join("weights/deep/model.bin");
    assert_eq!(
        std::fs::read_link(&model).unwrap(),
        PathBuf::from(format!("../../../../data/{}", weights.0))
    );
    assert_eq!(
        std::fs::canonicalize(&model).unwrap(),
        mount.data(&weights.0),
        "the link leads to /data/<id>"
    );
    assert!(
        std::fs::symlink_metadata(&model)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::read(&model).unwrap() == weights.1[..]);
    assert!(std::fs::read(root.join("index.html")).unwrap() == index.1[..]);
    assert!(
        std::fs::read(root.join("no/such/file.txt")).is_err(),
        "no such dir"
    );
    assert!(std::fs::read(root.join("not-listed.txt")).unwrap() == fallback.1[..]);
    assert!(std::fs::read(root.join("weights/other")).unwrap() == fallback.1[..]);

    let strict_root = mount.mountpoint.join("manifest").join(strict.to_string());
    assert!(std::fs::read(strict_root.join("only.bin")).unwrap() == weights.1[..]);
    let err = std::fs::metadata(strict_root.join("missing")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    let plain = mount.mountpoint.join("manifest").join(index.0.to_string());
    let err = std::fs::metadata(&plain).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR), "{err}");
    let err = std::fs::metadata(mount.mountpoint.join("manifest/not-an-id")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");

    let seen = listing(&mount.mountpoint.join("manifest"));
    let mut expected = vec![manifest.to_string(), strict.to_string()];
    expected.sort();
    assert_eq!(seen, expected);
    mount.stop();
}

/// The value of extended attribute `name` of `file`, or the errno.
fn getxattr(file: &Path, name: &str) -> Result<Vec<u8>, i32> {
    let path = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and buffer.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Tags are extended attributes of `/data/<id>`: `user.arweave.tag.<name>` (the first value
/// of a repeated name) and `user.arweave.tags` (all, as JSON), read with getxattr and with
/// getfattr; other files have none.
#[test]
fn tags_are_extended_attributes() {
    if !fuse_available() {
        return;
    }
    let mut data = GatewayData::new(TestWallet::fixed());
    let tags = vec![
        (
            "Content-Type".to_string(),
            "application/octet-stream".to_string(),
        ),
        ("App-Name".to_string(), "weavedrive-test".to_string()),
        ("App-Name".to_string(), "second".to_string()),
    ];
    let id = data.add_tx(pseudo_random_data(3, 1000), tags);
    let fx = Fixture {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        txs: vec![],
        dir: tempfile::tempdir().unwrap(),
    };
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);
    let file = mount.data(&id);
    let get = |name: &str| getxattr(&file, name);
    assert_eq!(
        get("user.arweave.tag.App-Name").unwrap(),
        b"weavedrive-test"
    );
    assert_eq!(
        get("user.arweave.tag.Content-Type").unwrap(),
        b"application/octet-stream"
    );
    let all: serde_json::Value =
        serde_json::from_slice(&get("user.arweave.tags").unwrap()).unwrap();
    assert_eq!(all[2]["value"], "second");
    assert_eq!(get("user.arweave.tag.Missing"), Err(libc::ENODATA));

    if Command::new("getfattr").arg("--version").output().is_ok() {
        let out = Command::new("getfattr")
            .args(["-d", "-m", "-", "--absolute-names"])
            .arg(&file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("user.arweave.tag.App-Name=\"weavedrive-test\""),
            "{text}"
        );
        assert!(text.contains("user.arweave.tag.Content-Type="), "{text}");
    } else {
        eprintln!("getfattr not installed (Debian package attr): getxattr checks only");
    }
    let tx_json = mount.tx(&id);
    let path = std::ffi::CString::new(tx_json.to_str().unwrap()).unwrap();
    // SAFETY: valid C string; a null list with size 0 asks for the length.
    let len = unsafe { libc::listxattr(path.as_ptr(), std::ptr::null_mut(), 0) };
    assert_eq!(len, 0, "only /data/<id> has attributes");
    mount.stop();
}

/// Bundled data items, served by the gateway as ar.io serves them, are files in `/data` like
/// transactions: read and mmap match, nested items too; tags are attributes; `/tx/<id>`
/// describes the item; a manifest that is an item is a directory; a forged item is EIO.
#[test]
fn bundled_data_items_are_files_like_transactions() {
    use weavedrive_cache::arweave::ans104::SignatureType;
    use weavedrive_testgw::items::{
        BundleItem, Tamper, manifest_item, nested_bundle_item, signed_item, tags,
    };
    if !fuse_available() {
        return;
    }
    let mut data = GatewayData::new(TestWallet::fixed());
    let item = |kind, seed, size| {
        let bytes = pseudo_random_data(seed, size);
        let tags = tags(&[
            ("Content-Type", "application/x-test"),
            ("Seed", &seed.to_string()),
        ]);
        (
            BundleItem::new(signed_item(kind, None, None, &tags, &bytes)),
            bytes,
        )
    };
    let (small, small_data) = item(SignatureType::Ed25519, 1, 700 * K + 3);
    let (eth, eth_data) = item(SignatureType::Ethereum, 2, 5);
    let (large, large_data) = item(SignatureType::Arweave, 3, 17 * M);
    let (forged, _) = item(SignatureType::Ed25519, 4, 2000);
    let nested = nested_bundle_item(std::slice::from_ref(&eth));
    let manifest = manifest_item(
        Some("index.bin"),
        &[("index.bin", small.id), ("deep/eth", eth.id)],
    );
    let root = data.add_bundle(
        &[
            small.clone(),
            nested.clone(),
            large.clone(),
            forged.tampered(Tamper::Data),
            manifest.clone(),
        ],
        vec![],
    );
    let fx = Fixture {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        txs: vec![],
        dir: tempfile::tempdir().unwrap(),
    };
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &[]);

    assert!(std::fs::read(mount.data(&small.id)).unwrap() == small_data[..]);
    assert_eq!(std::fs::read(mount.data(&eth.id)).unwrap(), eth_data[..]);
    let file = File::open(mount.data(&large.id)).unwrap();
    assert_eq!(file.metadata().unwrap().len(), large_data.len() as u64);
    let mut buf = vec![0u8; 300 * K];
    file.read_exact_at(&mut buf, 9 * M as u64 + 17).unwrap();
    assert!(buf == large_data[9 * M + 17..9 * M + 17 + 300 * K]);
    // SAFETY: a read-only private map of a file we keep open; unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            large_data.len(),
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    // SAFETY: the map covers the whole file.
    let mapped = unsafe { std::slice::from_raw_parts(map.cast::<u8>(), large_data.len()) };
    assert!(
        sha256_hex(mapped) == sha256_hex(&large_data),
        "mmap of a large item"
    );
    // SAFETY: unmapping what was mapped above.
    unsafe { libc::munmap(map, large_data.len()) };

    assert_eq!(
        getxattr(&mount.data(&small.id), "user.arweave.tag.Seed").unwrap(),
        b"1"
    );
    assert_eq!(
        getxattr(&mount.data(&eth.id), "user.arweave.tag.Content-Type").unwrap(),
        b"application/x-test"
    );
    if let Ok(out) = Command::new("getfattr")
        .args(["-d", "--absolute-names"])
        .arg(mount.data(&small.id))
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("user.arweave.tag.Seed=\"1\""), "{text}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mount.tx(&eth.id)).unwrap()).unwrap();
    assert_eq!(json["format"], "ans104");
    assert_eq!(json["id"], eth.id.to_string());
    assert_eq!(json["bundled_in"], nested.id.to_string());
    assert_eq!(json["root_transaction"], root.to_string());
    assert_eq!(json["data_size"], "5");

    let dir = mount
        .mountpoint
        .join("manifest")
        .join(manifest.id.to_string());
    assert_eq!(listing(&dir), ["deep", "index.bin"]);
    assert!(std::fs::read(dir.join("index.bin")).unwrap() == small_data[..]);
    assert_eq!(std::fs::read(dir.join("deep/eth")).unwrap(), eth_data[..]);

    let err = std::fs::read(mount.data(&forged.id)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let err = std::fs::metadata(mount.data(&TxId([9; 32]))).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    mount.stop();
}

/// `--verify-on-open` (issue 17): the default (`gguf`) verifies a file starting with the GGUF
/// magic whole at open, so one chunk no gateway serves verified fails the open (EIO), while
/// another file opens at once and only the read needing that chunk fails; `all` fails the
/// open of any such file; `never` opens even the GGUF file at once.
#[test]
fn verify_on_open_fails_the_opens_it_covers_and_no_others() {
    if !fuse_available() {
        return;
    }
    let mut data = GatewayData::new(TestWallet::fixed());
    let plain = pseudo_random_data(7, 2 * M);
    let gguf: Bytes = [&b"GGUF"[..], &pseudo_random_data(8, 2 * M)]
        .concat()
        .into();
    let plain_id = data.add_tx(plain.clone(), vec![]);
    let gguf_id = data.add_tx(gguf.clone(), vec![]);
    // Chunk 4 of each (its second MiB starts there), wrong at every request.
    let fourth = |id: &TxId| {
        let start = data.tx(id).unwrap().start_offset() + M as u64;
        Target::ChunkIn {
            start,
            end: start + 256 * K as u64,
        }
    };
    let (bad_plain, bad_gguf) = (fourth(&plain_id), fourth(&gguf_id));
    let gateway = TestGateway::spawn_background(data, GatewayOptions::default()).unwrap();
    gateway.faults().always(bad_plain, Fault::CorruptChunk);
    gateway.faults().always(bad_gguf, Fault::CorruptChunk);
    let eio = |result: std::io::Result<File>| {
        let err = result.expect_err("the open must fail");
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    };

    let dir = tempfile::tempdir().unwrap();
    let mount = Mounted::start(&gateway.url(), dir.path(), &["--retries", "0"]);
    let file = File::open(mount.data(&plain_id)).expect("a plain file opens at once");
    let mut head = [0u8; 100];
    file.read_exact_at(&mut head, 0).unwrap();
    assert_eq!(head[..], plain[..100]);
    let err = file.read_exact_at(&mut head, M as u64).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    eio(File::open(mount.data(&gguf_id)));
    drop(file);
    mount.stop();

    let dir = tempfile::tempdir().unwrap();
    let args = ["--retries", "0", "--verify-on-open", "all"];
    let mount = Mounted::start(&gateway.url(), dir.path(), &args);
    eio(File::open(mount.data(&plain_id)));
    mount.stop();

    let dir = tempfile::tempdir().unwrap();
    let args = ["--retries", "0", "--verify-on-open", "never"];
    let mount = Mounted::start(&gateway.url(), dir.path(), &args);
    let file = File::open(mount.data(&gguf_id)).expect("never: opens at once");
    file.read_exact_at(&mut head, 0).unwrap();
    assert_eq!(head[..], gguf[..100]);
    drop(file);
    mount.stop();
}

/// How the mount serves an open data file now: `passthrough` (the kernel reads the extent
/// file) or `fuse` (our reads).
fn io_mode(path: &Path) -> String {
    let name = std::ffi::CString::new("user.weavedrive.io").unwrap();
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid C strings and a buffer of the length given.
    let n = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert!(n >= 0, "getxattr: {}", std::io::Error::last_os_error());
    String::from_utf8(buf[..n as usize].to_vec()).unwrap()
}

/// A file read cold through the mount gets an extent once all of it is cached; while an
/// open through our reads is live the kernel's rule holds (no passthrough open of that
/// inode, which would fail with EIO), and once every file is closed the next open is
/// passthrough: read, pread and mmap then give the same bytes straight from the extent.
/// With `--passthrough off` (a kernel without it, simulated) the same opens are served by
/// our reads from the extent, and give the same bytes.
#[test]
fn cached_files_are_read_by_the_kernel_from_their_extent() {
    if !fuse_available() {
        return;
    }
    let fx = fixture(&[6 * M + 7]);
    let (id, bytes) = &fx.txs[0];
    // (Explicitly: the test command runs the mount tests again with passthrough off.)
    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &["--passthrough", "auto"]);
    let path = mount.data(id);
    let extent = fx.dir.path().join("cache/extents").join(id.to_string());

    let cold = File::open(&path).unwrap();
    let mut all = vec![0u8; bytes.len()];
    cold.read_exact_at(&mut all, 0).unwrap();
    assert!(all == bytes[..]);
    assert_eq!(io_mode(&path), "fuse");
    // Opened while `cold` is open: ours too, whether or not the extent is there yet.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !extent.exists() {
        let again = File::open(&path).unwrap();
        assert_eq!(io_mode(&path), "fuse");
        let mut head = [0u8; 4096];
        again.read_exact_at(&mut head, 0).unwrap();
        assert!(head[..] == bytes[..4096]);
        assert!(Instant::now() < deadline, "no extent was assembled");
        std::thread::sleep(Duration::from_millis(20));
    }
    let during = File::open(&path).unwrap();
    assert_eq!(io_mode(&path), "fuse", "passthrough beside a cached open");
    drop((cold, during));

    let check = |expected_mode: &str| {
        let file = File::open(&path).unwrap();
        assert_eq!(io_mode(&path), expected_mode);
        assert!(std::fs::read(&path).unwrap() == bytes[..]);
        let mut piece = vec![0u8; 300 * K];
        file.read_exact_at(&mut piece, 5 * M as u64 + 11).unwrap();
        assert!(piece[..] == bytes[5 * M + 11..5 * M + 11 + 300 * K]);
        // SAFETY: a read-only private mapping of a file we keep open, dropped below.
        let map = unsafe { memmap(&file, bytes.len()) };
        assert!(*map == bytes[..], "mmap");
        // SAFETY: mapped just above with this length.
        unsafe { libc::munmap(map.as_ptr() as *mut _, bytes.len()) };
    };
    // The kernel sends a file's release after `close` returns: until the mount has seen
    // those of `cold` and `during`, an open is still served by our reads (the kernel's rule).
    let deadline = Instant::now() + Duration::from_secs(5);
    while {
        let _open = File::open(&path).unwrap();
        io_mode(&path) != "passthrough"
    } {
        assert!(
            Instant::now() < deadline,
            "no passthrough once every open was closed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    check("passthrough");
    drop(mount);

    let mount = Mounted::start(&fx.gateway.url(), fx.dir.path(), &["--passthrough", "off"]);
    assert_eq!(mount.data(id), path);
    check("fuse");
    mount.stop();
}

/// Maps `len` bytes of `file` read-only.
unsafe fn memmap(file: &File, len: usize) -> &'static [u8] {
    use std::os::fd::AsRawFd;
    // SAFETY: the caller keeps the file open and unmaps before it goes.
    unsafe {
        let ptr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(ptr, libc::MAP_FAILED, "{}", std::io::Error::last_os_error());
        std::slice::from_raw_parts(ptr.cast(), len)
    }
}
