//! A Rust guest (std::fs through wasi-libc, built for wasm32-wasip1) reads `/data` and `/tx`
//! through the shim: whole files, preads, seeks, stats and listings equal the source bytes;
//! host preopens still work beside it; writes, escapes, bad and denied ids get the right
//! errno; a chunk that never verifies is EIO.

mod common;

use common::*;
use weavedrive_cache::AccessPolicy;
use weavedrive_testgw::{Fault, Target};
use weavedrive_wasi::HostOptions;

fn run(vfs: &std::sync::Arc<weavedrive_wasi::VirtualFs>, args: &[&str]) -> String {
    let (code, out) = probe(vfs, args, HostOptions::default());
    assert_eq!(code, 0, "probe {args:?} exited {code}: {out}");
    out
}

#[test]
fn reads_seeks_stats_and_listings_match_the_source() {
    let fx = fixture(&[0, 1, 256 * K, 256 * K + 1, 3 * M + 5, 9 * M + 100]);
    let vfs = fx.vfs(AccessPolicy::AllowAll);
    for (i, (id, bytes)) in fx.txs.iter().enumerate() {
        let path = fx.data(i);
        let len = bytes.len();
        assert_eq!(
            run(&vfs, &["hash", &path]),
            format!("sha256 {} {len}", sha256_hex(bytes)),
            "{id}"
        );
        assert_eq!(run(&vfs, &["stat", &path]), format!("size {len} dir false"));
        // Preads across chunk boundaries, at the end, and past it.
        for (at, n) in [
            (0, 10),
            (len / 2, 300 * K),
            (len.saturating_sub(3), 10),
            (len + 5, 4),
        ] {
            let start = at.min(len);
            let end = (at + n).min(len);
            assert_eq!(
                run(&vfs, &["pread", &path, &at.to_string(), &n.to_string()]),
                format!("sha256 {} {}", sha256_hex(&bytes[start..end]), end - start),
                "pread {at}+{n} of {id}"
            );
        }
        let mid = len / 3;
        assert_eq!(
            run(&vfs, &["seek", &path, &mid.to_string()]),
            format!(
                "sha256 {} {} at {mid} end {len}",
                sha256_hex(&bytes[mid..]),
                len - mid
            )
        );
    }
    // One read of a whole file, the way wasi-libc emulates mmap.
    let (id, bytes) = &fx.txs[5];
    assert_eq!(
        run(&vfs, &["whole", &fx.data(5)]),
        format!("sha256 {} {}", sha256_hex(bytes), bytes.len()),
        "{id}"
    );
    // /tx/<id> is the header JSON the mount shows.
    let header = fx.runtime.block_on(vfs.drive().header(id)).unwrap();
    let json = weavedrive_cache::drive::header_json(&header);
    assert_eq!(
        run(&vfs, &["hash", &format!("/tx/{id}")]),
        format!("sha256 {} {}", sha256_hex(&json), json.len())
    );
    // Listings: what is cached (every id above was read).
    let mut ids: Vec<String> = fx.txs.iter().map(|(id, _)| id.to_string()).collect();
    ids.sort();
    assert_eq!(
        run(&vfs, &["list", "/data"]),
        format!("entries {}", ids.join(" "))
    );
    assert_eq!(
        run(&vfs, &["list", "/tx"]),
        format!("entries {}", ids.join(" "))
    );
    assert_eq!(run(&vfs, &["stat", "/data"]), "size 0 dir true");
}

#[test]
fn host_preopens_work_beside_the_tree() {
    let fx = fixture(&[70 * K]);
    let vfs = fx.vfs(AccessPolicy::AllowAll);
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("local.bin"), b"a host file").unwrap();
    let options = HostOptions {
        dirs: vec![(host_dir.path().to_path_buf(), "/work".into())],
        ..HostOptions::default()
    };
    let (code, out) = probe(&vfs, &["hash", "/work/local.bin"], options.clone());
    assert_eq!(code, 0);
    assert_eq!(out, format!("sha256 {} 11", sha256_hex(b"a host file")));
    let (_, out) = probe(&vfs, &["hash", &fx.data(0)], options.clone());
    assert_eq!(
        out,
        format!("sha256 {} {}", sha256_hex(&fx.txs[0].1), 70 * K)
    );
    let (_, out) = probe(&vfs, &["list", "/work"], options);
    assert_eq!(out, "entries local.bin");
}

#[test]
fn writes_escapes_bad_ids_and_denied_ids_get_errnos() {
    let fx = fixture(&[5 * K, 6 * K]);
    let (allowed, denied) = (fx.txs[0].0, fx.txs[1].0);
    let vfs = fx.vfs(AccessPolicy::allowlist([allowed]));
    const ACCES: &str = "error 2 ";
    const NOENT: &str = "error 44 ";
    const PERM: &str = "error 63 ";
    const ROFS: &str = "error 69 ";
    for (args, expected) in [
        (vec!["write", &fx.data(0)], ROFS),
        (vec!["write", "/data/new-file"], NOENT),
        (vec!["create", "/data/new-file"], ROFS),
        (vec!["create", &fx.data(0)], ROFS),
        (vec!["open", "/data/not-an-id"], NOENT),
        (vec!["open", "/data/../../etc/passwd"], PERM),
        (vec!["open", &format!("{}/x", fx.data(0))], "error 54 "),
        (vec!["open", &fx.data(1)], ACCES),
        (vec!["stat", &fx.data(1)], ACCES),
    ] {
        fx.gateway.reset_stats();
        let (code, out) = probe(&vfs, &args, HostOptions::default());
        assert_eq!(code, 0);
        assert!(out.starts_with(expected), "{args:?}: {out}");
        if args[1].contains(&denied.to_string()) || args[1].contains("not-an-id") {
            assert_eq!(
                fx.gateway.stats().requests(),
                0,
                "{args:?} reached the network"
            );
        }
    }
    // A valid id no gateway has.
    let unknown = weavedrive_cache::TxId([9; 32]);
    let vfs = fx.vfs(AccessPolicy::AllowAll);
    let (_, out) = probe(
        &vfs,
        &["open", &format!("/data/{unknown}")],
        HostOptions::default(),
    );
    assert!(out.starts_with(NOENT), "{out}");
    let (_, out) = probe(&vfs, &["list", "/data"], HostOptions::default());
    assert!(!out.contains(&denied.to_string()), "{out}");
}

#[test]
fn faults_are_retried_and_unverifiable_chunks_are_eio() {
    let fx = fixture(&[2 * M + 3, M]);
    let vfs = fx.vfs(AccessPolicy::AllowAll);
    let faults = fx.gateway.faults();
    let rules = [
        faults.inject(Target::Chunk, Fault::Status(503), 2),
        faults.inject(Target::Chunk, Fault::ResetMidBody, 1),
        faults.inject(Target::Chunk, Fault::CorruptChunk, 1),
    ];
    let (id, bytes) = &fx.txs[0];
    assert_eq!(
        run(&vfs, &["hash", &fx.data(0)]),
        format!("sha256 {} {}", sha256_hex(bytes), bytes.len()),
        "{id}"
    );
    for rule in rules {
        assert!(faults.fired(rule) > 0);
    }
    faults.clear();
    faults.always(Target::Chunk, Fault::CorruptChunk);
    let (_, out) = probe(&vfs, &["hash", &fx.data(1)], HostOptions::default());
    assert!(
        out.starts_with("error 29 "),
        "corrupt data must be EIO: {out}"
    );
    faults.clear();
}

/// The shim's side of the fault matrix: each way a gateway can lie (altered chunk, forged
/// proof, short chunk, header whose signature fails) is EIO for the guest, never bytes; each
/// transient failure (reset before answering, truncated body, 429, slow answer) is retried
/// and the guest reads the right bytes. A fresh file per case, so nothing is cached already.
#[test]
fn every_lie_is_eio_and_every_blip_is_retried_through_the_shim() {
    let lies = weavedrive_testgw::LIES;
    let blips = [
        Fault::ResetBeforeResponse,
        Fault::Truncate,
        Fault::Status(429),
        Fault::Latency(std::time::Duration::from_millis(300)),
    ];
    let fx = fixture(&[700 * K; 8]);
    let vfs = fx.vfs(AccessPolicy::AllowAll);
    let faults = fx.gateway.faults();
    for (i, (target, fault)) in lies.into_iter().enumerate() {
        faults.clear();
        let rule = faults.always(target, fault);
        let (_, out) = probe(&vfs, &["hash", &fx.data(i)], HostOptions::default());
        assert!(out.starts_with("error 29 "), "{fault:?} must be EIO: {out}");
        assert!(faults.fired(rule) > 0, "{fault:?} never fired");
    }
    for (i, fault) in blips.into_iter().enumerate() {
        faults.clear();
        let rule = faults.inject(Target::Any, fault, 2);
        let (id, bytes) = &fx.txs[lies.len() + i];
        assert_eq!(
            run(&vfs, &["hash", &fx.data(lies.len() + i)]),
            format!("sha256 {} {}", sha256_hex(bytes), bytes.len()),
            "{fault:?} on {id}"
        );
        assert_eq!(faults.fired(rule), 2, "{fault:?}");
    }
    faults.clear();
}

/// Bundled data items (served as ar.io serves them) are files in the guest's `/data` like
/// transactions, nested ones too; `/tx/<id>` describes them; a forged one is EIO.
#[test]
fn bundled_data_items_read_like_transactions() {
    use weavedrive_cache::arweave::ans104::SignatureType;
    use weavedrive_testgw::items::{BundleItem, Tamper, nested_bundle_item, signed_item};
    use weavedrive_testgw::{GatewayData, TestWallet, pseudo_random_data};
    let mut data = GatewayData::new(TestWallet::fixed());
    let item = |kind, seed, size| {
        let bytes = pseudo_random_data(seed, size);
        (
            BundleItem::new(signed_item(kind, None, None, &[], &bytes)),
            bytes,
        )
    };
    let (small, small_data) = item(SignatureType::Ethereum, 1, 300 * K + 1);
    let (deep, deep_data) = item(SignatureType::Arweave, 2, 2 * M);
    let (forged, _) = item(SignatureType::Ed25519, 3, 1000);
    data.add_bundle(
        &[
            small.clone(),
            nested_bundle_item(std::slice::from_ref(&deep)),
            forged.tampered(Tamper::Signature),
        ],
        vec![],
    );
    let fx = fixture_from(data, vec![(small.id, small_data), (deep.id, deep_data)]);
    let vfs = fx.vfs(AccessPolicy::AllowAll);
    for (i, (id, bytes)) in fx.txs.iter().enumerate() {
        let path = fx.data(i);
        assert_eq!(
            run(&vfs, &["hash", &path]),
            format!("sha256 {} {}", sha256_hex(bytes), bytes.len()),
            "{id}"
        );
        let at = bytes.len() / 2;
        assert_eq!(
            run(&vfs, &["pread", &path, &at.to_string(), "1000"]),
            format!("sha256 {} 1000", sha256_hex(&bytes[at..at + 1000])),
        );
        let json = fx
            .runtime
            .block_on(vfs.drive().metadata(id))
            .unwrap()
            .json();
        assert!(String::from_utf8_lossy(&json).contains("\"format\": \"ans104\""));
        assert_eq!(
            run(&vfs, &["hash", &format!("/tx/{id}")]),
            format!("sha256 {} {}", sha256_hex(&json), json.len())
        );
    }
    let (_, out) = probe(
        &vfs,
        &["hash", &format!("/data/{}", forged.id)],
        HostOptions::default(),
    );
    assert!(
        out.starts_with("error 29 "),
        "a forged item must be EIO: {out}"
    );
}
