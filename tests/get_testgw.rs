//! `weavedrive get` against the local test gateway: every layout edge case comes back
//! byte-identical, every injected fault is either recovered from or reported clearly, and in
//! no case is a wrong or partial output file left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bytes::Bytes;
use weavedrive_cache::TxId;
use weavedrive_testgw::{
    BackgroundGateway, Fault, GatewayData, GatewayOptions, MANIFEST_CONTENT_TYPE, Target,
    TestGateway, TestWallet, path_manifest, pseudo_random_data,
};

const K: usize = 1024;

struct Fixture {
    gateway: BackgroundGateway,
    txs: Vec<(TxId, Bytes)>,
    dir: tempfile::TempDir,
}

/// A gateway serving one tx per size. Same seed, same ids: two fixtures built from the same
/// sizes serve the same transactions (for failover tests).
fn fixture(sizes: &[usize]) -> Fixture {
    fixture_with(sizes, GatewayOptions::default())
}

fn fixture_with(sizes: &[usize], options: GatewayOptions) -> Fixture {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 42);
    let txs = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let bytes = pseudo_random_data(i as u64 + 1, size);
            (
                data.add_tx(
                    bytes.clone(),
                    vec![("Content-Type".into(), "application/octet-stream".into())],
                ),
                bytes,
            )
        })
        .collect();
    let gateway = TestGateway::spawn_background(data, options).unwrap();
    Fixture {
        gateway,
        txs,
        dir: tempfile::tempdir().unwrap(),
    }
}

fn get(id: &TxId, gateways: &[String], output: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weavedrive"));
    cmd.args(["get", "--no-cache"])
        .arg(id.to_string())
        .arg("-o")
        .arg(output);
    for gateway in gateways {
        cmd.args(["--gateway", gateway]);
    }
    cmd.args(extra)
        .env_remove("WEAVEDRIVE_GATEWAY")
        .output()
        .unwrap()
}

/// Runs `weavedrive get ID --gateway URL --quiet EXTRA...` with the data on stdout.
fn get_stdout(id: &TxId, gateway: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args([
            "get",
            "--no-cache",
            &id.to_string(),
            "--gateway",
            gateway,
            "--quiet",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Files in `dir` other than `keep`: a failed get must leave no temp files behind.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

impl Fixture {
    fn url(&self) -> String {
        self.gateway.url()
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs get for tx `n` and asserts success with identical bytes.
    fn assert_recovers(&self, n: usize, extra: &[&str], what: &str) {
        let (id, bytes) = &self.txs[n];
        let out = self.out(&format!("{what}.bin"));
        let result = get(id, &[self.url()], &out, extra);
        assert!(
            result.status.success(),
            "{what}: get failed: {}",
            stderr(&result)
        );
        assert!(
            std::fs::read(&out).unwrap() == bytes[..],
            "{what}: bytes differ"
        );
    }

    /// Runs get for tx `n` and asserts a clear failure with no output file.
    fn assert_fails(&self, n: usize, extra: &[&str], what: &str, expect: &str) -> String {
        let (id, _) = &self.txs[n];
        let out = self.out(&format!("{what}.bin"));
        let before = leftovers(self.dir.path());
        let result = get(id, &[self.url()], &out, extra);
        let text = stderr(&result);
        assert!(
            !result.status.success(),
            "{what}: get succeeded under a permanent fault"
        );
        assert!(!out.exists(), "{what}: output file written despite failure");
        assert_eq!(
            leftovers(self.dir.path()),
            before,
            "{what}: temp files left behind"
        );
        for needle in [expect, &id.to_string(), &self.url()] {
            assert!(
                text.contains(needle),
                "{what}: error lacks {needle:?}: {text}"
            );
        }
        text
    }
}

#[test]
fn every_layout_edge_case_round_trips() {
    let sizes = [
        0,
        1,
        256 * K,
        256 * K + 1,
        256 * K + 20_000,
        3 * K * K + 5,
        100 * K * K,
    ];
    let fx = fixture(&sizes);
    for (n, size) in sizes.iter().enumerate() {
        fx.assert_recovers(n, &[], &format!("size-{size}"));
    }
    // Stdout gets the same bytes.
    let (id, bytes) = &fx.txs[5];
    let result = get_stdout(id, &fx.url(), &[]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(result.stdout == bytes[..]);
    assert!(
        result.stderr.is_empty(),
        "--quiet printed: {}",
        stderr(&result)
    );
}

#[test]
fn transient_faults_are_retried_transparently() {
    let fx = fixture(&[3 * K * K + 5]);
    let cases: Vec<(&str, Target, Fault, u64)> = vec![
        ("chunk-503", Target::Chunk, Fault::Status(503), 3),
        ("chunk-429", Target::Chunk, Fault::Status(429), 2),
        ("header-500", Target::TxHeader, Fault::Status(500), 2),
        ("offset-502", Target::Offset, Fault::Status(502), 2),
        ("reset-before", Target::Chunk, Fault::ResetBeforeResponse, 3),
        ("reset-mid-body", Target::Chunk, Fault::ResetMidBody, 3),
        ("truncated", Target::Chunk, Fault::Truncate, 3),
        ("corrupt-chunk", Target::Chunk, Fault::CorruptChunk, 3),
        ("forged-proof", Target::Chunk, Fault::ForgeProof, 3),
        ("short-chunk", Target::Chunk, Fault::ShortChunk, 3),
        ("wrong-header", Target::TxHeader, Fault::WrongHeader, 1),
        (
            "latency",
            Target::Any,
            Fault::Latency(std::time::Duration::from_millis(300)),
            5,
        ),
        ("hang", Target::Chunk, Fault::Hang, 1),
    ];
    for (what, target, fault, count) in cases {
        fx.gateway.faults().clear();
        let rule = fx.gateway.faults().inject(target, fault, count);
        fx.assert_recovers(0, &["--timeout", "2"], what);
        assert_eq!(
            fx.gateway.faults().fired(rule),
            count,
            "{what}: fault did not fire"
        );
    }
}

#[test]
fn permanent_faults_fail_clearly_and_write_nothing() {
    let fx = fixture(&[3 * K * K + 5]);
    let cases: Vec<(&str, Target, Fault, &str)> = vec![
        (
            "corrupt-chunk",
            Target::Chunk,
            Fault::CorruptChunk,
            "no gateway served data that verifies",
        ),
        (
            "forged-proof",
            Target::Chunk,
            Fault::ForgeProof,
            "no gateway served data that verifies",
        ),
        (
            "wrong-header",
            Target::TxHeader,
            Fault::WrongHeader,
            "signature",
        ),
        (
            "chunk-503",
            Target::Chunk,
            Fault::Status(503),
            "unavailable after retries",
        ),
        (
            "reset",
            Target::Chunk,
            Fault::ResetBeforeResponse,
            "unavailable after retries",
        ),
        ("hang", Target::Chunk, Fault::Hang, "timed out"),
    ];
    for (what, target, fault, expect) in cases {
        fx.gateway.faults().clear();
        fx.gateway.faults().always(target, fault);
        fx.assert_fails(0, &["--timeout", "1", "--retries", "2"], what, expect);
    }
}

#[test]
fn corrupt_chunk_late_in_the_stream_leaves_no_file() {
    // The first chunks verify and are written to the temp file; the failure must still
    // leave no output file behind.
    let fx = fixture(&[3 * K * K + 5]);
    fx.gateway
        .faults()
        .always(Target::Chunk, Fault::CorruptChunk);
    let text = fx.assert_fails(
        0,
        &["--retries", "1"],
        "late-corruption",
        "failed verification",
    );
    assert!(text.contains("chunk at byte"), "{text}");
}

#[test]
fn failover_to_a_second_gateway() {
    let sizes = [1024 * K + 17];
    let bad = fixture(&sizes);
    let good = fixture(&sizes);
    let (id, bytes) = &good.txs[0];
    assert_eq!(bad.txs[0].0, *id, "same seed must give the same ids");
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    for (what, fault) in [
        ("lying", Some(Fault::CorruptChunk)),
        ("failing", Some(Fault::Status(500))),
        ("dead", None),
    ] {
        bad.gateway.faults().clear();
        good.gateway.reset_stats();
        let first = match fault {
            Some(fault) => {
                bad.gateway.faults().always(Target::Any, fault);
                bad.url()
            }
            None => dead.clone(),
        };
        let out = good.out(&format!("{what}.bin"));
        let result = get(id, &[first, good.url()], &out, &["--retries", "1"]);
        assert!(result.status.success(), "{what}: {}", stderr(&result));
        assert!(std::fs::read(&out).unwrap() == bytes[..], "{what}");
        assert!(
            good.gateway.stats().chunk >= 5,
            "{what}: second gateway not used"
        );
    }
}

/// A gateway that redirects elsewhere is not followed: the gateways given are the only hosts
/// contacted. Alone, it fails the fetch with a clear error; with a second gateway, the fetch
/// carries on there. The redirect's target never sees a request either way.
#[test]
fn redirects_to_other_hosts_are_not_followed() {
    let sizes = [600 * K + 3];
    let luring = fixture(&sizes);
    let good = fixture(&sizes);
    let elsewhere = fixture(&sizes);
    let (id, bytes) = &good.txs[0];
    let port = elsewhere.gateway.addr().port();
    luring
        .gateway
        .faults()
        .always(Target::Any, Fault::RedirectToPort(port));

    let out = good.out("alone.bin");
    let result = get(id, &[luring.url()], &out, &["--retries", "0"]);
    assert!(!result.status.success());
    let text = stderr(&result);
    assert!(text.contains("not followed"), "{text}");
    assert!(!out.exists());

    let out = good.out("failover.bin");
    let result = get(id, &[luring.url(), good.url()], &out, &["--retries", "0"]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(std::fs::read(&out).unwrap() == bytes[..]);
    assert!(
        luring.gateway.stats().requests() > 0,
        "the redirect never fired"
    );
    assert_eq!(
        elsewhere.gateway.stats().requests(),
        0,
        "a redirect's target was contacted"
    );
}

#[test]
fn unknown_and_malformed_ids_are_clear_errors() {
    let fx = fixture(&[10]);
    let out = fx.out("missing.bin");
    let missing = TxId([3; 32]);
    let result = get(&missing, &[fx.url()], &out, &[]);
    assert!(!result.status.success());
    let text = stderr(&result);
    assert!(
        text.contains("not found") && text.contains(&missing.to_string()),
        "{text}"
    );
    assert!(!out.exists());

    fx.gateway.reset_stats();
    for bad in ["not-an-id", "AAAA", "../../etc/passwd"] {
        let result = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .args(["get", "--no-cache", bad, "--gateway", &fx.url()])
            .output()
            .unwrap();
        assert!(!result.status.success());
        assert!(
            stderr(&result).contains("invalid Arweave id"),
            "{bad}: {}",
            stderr(&result)
        );
        assert_eq!(
            fx.gateway.stats().requests(),
            0,
            "a malformed id reached the network"
        );
    }
}

const RANGES: &[&str] = &["--via", "ranges"];

#[test]
fn ranged_reads_verify_against_the_root() {
    let sizes = [
        0,
        1,
        256 * K,
        256 * K + 1,
        256 * K + 20_000,
        3 * K * K + 5,
        9 * K * K + 3,
    ];
    let fx = fixture(&sizes);
    for (n, size) in sizes.iter().enumerate() {
        fx.gateway.reset_stats();
        fx.assert_recovers(n, RANGES, &format!("ranges-{size}"));
        let stats = fx.gateway.stats();
        assert_eq!(
            stats.chunk, 0,
            "size {size}: ranged get fell back to chunks"
        );
        if *size > 0 {
            // 4 MiB spans: one request for small data, a few for the larger ones.
            assert_eq!(stats.data, (*size as u64).div_ceil(4 << 20), "size {size}");
        }
    }
    // Stdout is staged until the root matches, then written.
    let (id, bytes) = &fx.txs[5];
    let result = get_stdout(id, &fx.url(), RANGES);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(result.stdout == bytes[..]);
}

#[test]
fn ranged_reads_fall_back_to_proofs_when_the_root_does_not_match() {
    let fx = fixture(&[9 * K * K + 3]);
    // A gateway that corrupts ranged data but serves honest chunks.
    fx.gateway
        .faults()
        .always(Target::Data, Fault::CorruptChunk);
    let (id, bytes) = &fx.txs[0];
    let out = fx.out("fallback.bin");
    let result = get(id, &[fx.url()], &out, RANGES);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("does not match its signed data_root"),
        "{}",
        stderr(&result)
    );
    assert!(std::fs::read(&out).unwrap() == bytes[..]);
    assert!(fx.gateway.stats().chunk > 0);

    // Lying everywhere: nothing is written.
    fx.gateway
        .faults()
        .always(Target::Chunk, Fault::CorruptChunk);
    fx.assert_fails(
        0,
        &["--via", "ranges", "--retries", "1"],
        "ranges-all-lies",
        "failed verification",
    );
}

#[test]
fn ranged_reads_recover_from_transient_faults() {
    let fx = fixture(&[9 * K * K + 3]);
    for (what, fault) in [
        ("truncate", Fault::Truncate),
        ("reset", Fault::ResetMidBody),
        ("503", Fault::Status(503)),
    ] {
        fx.gateway.faults().clear();
        fx.gateway.reset_stats();
        let rule = fx.gateway.faults().inject(Target::Data, fault, 2);
        fx.assert_recovers(0, RANGES, &format!("ranges-{what}"));
        assert_eq!(fx.gateway.faults().fired(rule), 2);
        assert_eq!(
            fx.gateway.stats().chunk,
            0,
            "{what}: fell back instead of retrying"
        );
    }
}

#[test]
fn ranged_reads_on_a_gateway_without_range_use_proofs() {
    let fx = fixture_with(
        &[3 * K * K + 5],
        GatewayOptions {
            range_support: false,
            ..GatewayOptions::default()
        },
    );
    fx.assert_recovers(0, RANGES, "no-range-support");
    assert!(fx.gateway.stats().chunk > 0);
}

/// `get <manifest-id>/<path>` resolves like an ar.io gateway: a listed path (deep or not) is
/// its file, `<id>/` the index, an unknown path the fallback; without a fallback an unknown
/// path is a clear error, and so is a path under data that is not a manifest. A bare manifest
/// id is the manifest's own JSON.
#[test]
fn get_resolves_paths_in_manifests() {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 11);
    let files: Vec<(TxId, Bytes)> = [300 * K + 1, 5, 700 * K]
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let bytes = pseudo_random_data(i as u64 + 40, size);
            (data.add_tx(bytes.clone(), vec![]), bytes)
        })
        .collect();
    let tagged = vec![("Content-Type".into(), MANIFEST_CONTENT_TYPE.into())];
    // Version first, as manifests are written: gateways honour `fallback` only once they
    // have read "version": "0.2.0" (ar.io's parseManifestStream), and serde_json would sort
    // it last.
    let manifest_bytes = Bytes::from(format!(
        r#"{{"manifest":"arweave/paths","version":"0.2.0","index":{{"path":"index.html"}},
        "fallback":{{"id":"{}"}},"paths":{{"index.html":{{"id":"{}"}},
        "weights/deep/model.bin":{{"id":"{}"}}}}}}"#,
        files[1].0, files[0].0, files[2].0
    ));
    let manifest = data.add_tx(manifest_bytes.clone(), tagged.clone());
    let plain = data.add_tx(
        path_manifest(None, &[("model.bin", files[2].0)]),
        tagged.clone(),
    );
    let gateway = TestGateway::spawn_background(data, GatewayOptions::default()).unwrap();
    let url = gateway.url();
    let get = |target: String| {
        Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .args(["get", "--no-cache", &target, "--gateway", &url, "--quiet"])
            .env_remove("WEAVEDRIVE_GATEWAY")
            .output()
            .unwrap()
    };
    let expect = |target: String, bytes: &[u8]| {
        let out = get(target.clone());
        assert!(out.status.success(), "{target}: {}", stderr(&out));
        assert!(out.stdout == bytes, "{target}: wrong bytes");
    };
    expect(format!("{manifest}/index.html"), &files[0].1);
    expect(format!("{manifest}/"), &files[0].1);
    expect(format!("{manifest}/weights/deep/model.bin"), &files[2].1);
    expect(format!("{manifest}/no/such/file"), &files[1].1);
    expect(format!("{manifest}/weights"), &files[1].1);
    expect(format!("{plain}/model.bin"), &files[2].1);
    expect(manifest.to_string(), &manifest_bytes);

    for (target, expected) in [
        (
            format!("{plain}/missing.bin"),
            "has no path \"missing.bin\"",
        ),
        (format!("{plain}/"), "has no path \"\""),
        (format!("{}/x", files[0].0), "not a path manifest"),
        ("short/x".to_string(), "invalid value"),
    ] {
        let out = get(target.clone());
        assert!(!out.status.success(), "{target} succeeded");
        assert!(out.stdout.is_empty(), "{target}: wrote output");
        assert!(
            stderr(&out).contains(expected),
            "{target}: {}",
            stderr(&out)
        );
    }
}
