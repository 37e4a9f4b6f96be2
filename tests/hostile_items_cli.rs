//! Issue 15.1 through the real frontends: a gateway that signs its own bundle holding a real
//! item's header (signature copied, so the id matches) in front of other data. Read by `cat`,
//! random `pread` and `mmap` through a real mount, and by `weavedrive get` to stdout, for items
//! of 17 MiB and 200 MiB: each read fails, and not one forged byte reaches the reader. An
//! honest item beside it reads back exact, so the failures are the forgery's.

#[path = "common/fuse.rs"]
mod fuse;

use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use fuse::{Mounted, fuse_available};
use rand::{Rng, SeedableRng, rngs::StdRng};
use weavedrive_cache::arweave::ans104::SignatureType;
use weavedrive_testgw::items::{BundleItem, signed_item, tags};
use weavedrive_testgw::{
    BackgroundGateway, GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data,
};

const M: usize = 1 << 20;

struct Forgery {
    gateway: BackgroundGateway,
    id: weavedrive_cache::TxId,
    forged: Bytes,
    honest: (weavedrive_cache::TxId, Bytes),
}

fn forgery(size: usize) -> Forgery {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), size as u64);
    let real_data = pseudo_random_data(1, size);
    let real = BundleItem::new(signed_item(
        SignatureType::Ed25519,
        None,
        None,
        &tags(&[("Name", "real")]),
        &real_data,
    ));
    data.forge_item(&real, 2);
    let honest_data = pseudo_random_data(3, 17 * M);
    let honest = BundleItem::new(signed_item(
        SignatureType::Ethereum,
        None,
        None,
        &tags(&[("Name", "honest")]),
        &honest_data,
    ));
    data.add_bundle(std::slice::from_ref(&honest), vec![]);
    Forgery {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        id: real.id,
        forged: pseudo_random_data(2, size),
        honest: (honest.id, honest_data),
    }
}

/// Whether `got` (read from offset `at`) holds any 32-byte run of the forged data where it
/// sits in it.
fn holds_forged(got: &[u8], at: usize, forged: &[u8]) -> bool {
    got.chunks_exact(32).enumerate().any(|(i, piece)| {
        let from = at + i * 32;
        forged.get(from..from + 32) == Some(piece)
    })
}

fn mount(fx: &Forgery, dir: &Path) -> Mounted {
    Mounted::start(&fx.gateway.url(), dir, &[])
}

#[test]
fn forged_items_fail_every_read_through_the_mount_and_get() {
    if !fuse_available() {
        return;
    }
    for size in [17 * M, 200 * M] {
        let fx = forgery(size);
        let mut rng = StdRng::seed_from_u64(size as u64);

        // cat: fails, and prints nothing forged.
        let dir = tempfile::tempdir().unwrap();
        let mnt = mount(&fx, dir.path());
        let honest = std::fs::read(mnt.data(&fx.honest.0)).unwrap();
        assert!(honest == fx.honest.1, "the honest item reads back");
        assert_eq!(
            std::fs::metadata(mnt.data(&fx.id)).unwrap().len(),
            size as u64
        );
        let cat = Command::new("cat").arg(mnt.data(&fx.id)).output().unwrap();
        assert!(!cat.status.success(), "cat of a forged {size}-byte item");
        assert!(
            !holds_forged(&cat.stdout, 0, &fx.forged),
            "cat printed forged bytes"
        );
        let stderr = String::from_utf8_lossy(&cat.stderr);
        assert!(stderr.contains("Input/output error"), "{stderr}");
        drop(mnt);

        // Random preads, each the first read of a fresh mount and cache.
        let dir = tempfile::tempdir().unwrap();
        let mnt = mount(&fx, dir.path());
        let file = std::fs::File::open(mnt.data(&fx.id)).unwrap();
        for _ in 0..8 {
            let at = rng.gen_range(0..size - 4096);
            let mut buf = vec![0u8; 4096];
            let error = file.read_at(&mut buf, at as u64).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(libc::EIO), "pread at {at}");
            assert!(!holds_forged(&buf, at, &fx.forged));
        }
        drop(file);
        drop(mnt);

        // mmap: the first touch faults in a page whose read fails: SIGBUS, nothing printed.
        let dir = tempfile::tempdir().unwrap();
        let mnt = mount(&fx, dir.path());
        let at = rng.gen_range(0..size - 4096);
        let script = format!(
            "import mmap, sys\n\
             f = open(sys.argv[1], 'rb')\n\
             m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n\
             sys.stdout.buffer.write(m[{at}:{at} + 4096])\n"
        );
        let mapped = Command::new("python3")
            .args(["-c", &script])
            .arg(mnt.data(&fx.id))
            .output()
            .unwrap();
        assert!(!mapped.status.success(), "mmap read of a forged item");
        assert!(
            mapped.status.signal() == Some(libc::SIGBUS) || !mapped.stderr.is_empty(),
            "{:?}",
            mapped.status
        );
        assert!(
            !holds_forged(&mapped.stdout, at, &fx.forged),
            "mmap showed forged bytes"
        );
        drop(mnt);

        // get to stdout: fails, writes nothing.
        let get = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .args([
                "get",
                "--no-cache",
                &fx.id.to_string(),
                "--gateway",
                &fx.gateway.url(),
            ])
            .args(["--retries", "1"])
            .output()
            .unwrap();
        assert!(!get.status.success(), "get of a forged {size}-byte item");
        assert!(
            get.stdout.is_empty(),
            "{} bytes on stdout",
            get.stdout.len()
        );
        let stderr = String::from_utf8_lossy(&get.stderr);
        assert!(stderr.contains(&fx.id.to_string()), "{stderr}");
        assert!(stderr.contains("signature"), "{stderr}");
        // And to a file: no file.
        let out = dir.path().join("out.bin");
        let get = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .args([
                "get",
                "--no-cache",
                &fx.id.to_string(),
                "--gateway",
                &fx.gateway.url(),
            ])
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(!get.status.success());
        assert!(!out.exists(), "get left a file");
        // The honest item comes out whole through get.
        let get = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .args([
                "get",
                "--no-cache",
                &fx.honest.0.to_string(),
                "--gateway",
                &fx.gateway.url(),
            ])
            .output()
            .unwrap();
        assert!(
            get.status.success(),
            "{}",
            String::from_utf8_lossy(&get.stderr)
        );
        assert!(get.stdout == fx.honest.1);
    }
}

/// The first reads of a large item wait for its check; they must not hold up the rest of the
/// mount meanwhile (the FUSE threads hand them to the runtime).
#[test]
fn an_items_check_does_not_hold_up_other_files() {
    if !fuse_available() {
        return;
    }
    let size = 64 * M;
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 21);
    let item_data = pseudo_random_data(5, size);
    let item = BundleItem::new(signed_item(
        SignatureType::Ed25519,
        None,
        None,
        &tags(&[("Name", "slow")]),
        &item_data,
    ));
    data.add_bundle(std::slice::from_ref(&item), vec![]);
    // Every answer takes half a second: checking 64 MiB takes several.
    let options = GatewayOptions {
        latency: std::time::Duration::from_millis(500),
        ..GatewayOptions::default()
    };
    let gateway = TestGateway::spawn_background(data, options).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mnt = Mounted::start(&gateway.url(), dir.path(), &[]);
    let path = mnt.data(&item.id);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size as u64);
    let started = std::time::Instant::now();
    let readers: Vec<_> = (0..12)
        .map(|n| {
            let (path, expected) = (path.clone(), item_data.clone());
            std::thread::spawn(move || {
                let file = std::fs::File::open(path).unwrap();
                let at = n * 5 * M;
                let mut buf = vec![0u8; 4096];
                file.read_exact_at(&mut buf, at as u64).unwrap();
                assert!(buf[..] == expected[at..at + 4096]);
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Meanwhile the rest of the mount answers at once (no network: a listing and a bad name).
    let quick = std::time::Instant::now();
    std::fs::read_dir(&mnt.mountpoint).unwrap().count();
    let missing = std::fs::metadata(mnt.mountpoint.join("data").join("not-an-id"));
    assert!(missing.is_err());
    let waited = quick.elapsed();
    for reader in readers {
        reader.join().unwrap();
    }
    let check = started.elapsed();
    assert!(
        waited < std::time::Duration::from_millis(500) && check > 4 * waited,
        "other requests waited {waited:?} while the check took {check:?}"
    );
}
