//! Real model weights end to end: all-MiniLM-L6-v2 (fetched by scripts/fetch-model.sh) served
//! by the local test gateway as Arweave transactions, with a path manifest naming them (read
//! through the mount to find the files' ids). The same sentence embedding comes out of
//! the native embedder reading local files, the native embedder memory-mapping the weights
//! through the FUSE mount, and the wasm32-wasip1 embedder reading `/data` through the WASI
//! shim (and a stock preopen); a corrupted chunk anywhere in the weights fails the load
//! loudly instead of changing the numbers.
//!
//! Without the model files the tests say so and pass, unless WEAVEDRIVE_REQUIRE_MODEL=1 (set
//! by scripts/test.sh, which fetches them).

#[path = "common/fuse.rs"]
mod fuse;
#[path = "../wasi-adapter/tests/common/probe_build.rs"]
mod probe_build;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use probe_build::{cargo_artifact, host_program};
use weavedrive_cache::TxId;
use weavedrive_testgw::{
    BackgroundGateway, Fault, GatewayData, GatewayOptions, MANIFEST_CONTENT_TYPE, Target,
    TestGateway, TestWallet, path_manifest,
};

const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("WEAVEDRIVE_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models/all-minilm-l6-v2")
        });
    if dir.join(".complete").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("WEAVEDRIVE_REQUIRE_MODEL").is_none(),
        "model files missing in {}: run scripts/fetch-model.sh",
        dir.display()
    );
    eprintln!(
        "SKIPPED: no model files in {}; run scripts/fetch-model.sh",
        dir.display()
    );
    None
}

fn can_mount() -> bool {
    fuse::fuse_available()
}

/// The model's files as transactions on a local gateway, in FILES order, and the path
/// manifest naming them (the one id a user would be given).
fn gateway(dir: &Path) -> (BackgroundGateway, Vec<TxId>, TxId) {
    let mut data = GatewayData::new(TestWallet::fixed());
    let ids: Vec<TxId> = FILES
        .iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            data.add_tx(bytes.into(), vec![("File-Name".into(), (*name).into())])
        })
        .collect();
    let paths: Vec<(&str, TxId)> = FILES.iter().copied().zip(ids.iter().copied()).collect();
    let manifest = data.add_tx(
        path_manifest(Some("config.json"), &paths),
        vec![("Content-Type".into(), MANIFEST_CONTENT_TYPE.into())],
    );
    let gateway = TestGateway::spawn_background(data, GatewayOptions::default()).unwrap();
    (gateway, ids, manifest)
}

/// The files' ids, in FILES order, from a path manifest's bytes.
fn ids_from_manifest(bytes: &[u8]) -> Vec<TxId> {
    let manifest: serde_json::Value = serde_json::from_slice(bytes).expect("manifest JSON");
    assert_eq!(manifest["manifest"], "arweave/paths");
    FILES
        .iter()
        .map(|name| {
            let id = manifest["paths"][name]["id"].as_str();
            id.unwrap_or_else(|| panic!("{name} missing from the manifest"))
                .parse()
                .unwrap()
        })
        .collect()
}

/// The embedding a run printed (one JSON array), or None if it printed none.
fn embedding(out: &Output) -> Option<Vec<f32>> {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with('['))?;
    Some(serde_json::from_str(line).expect("an embedding line is a JSON array"))
}

fn native(paths: &[PathBuf]) -> Output {
    Command::new(host_program("minilm-embed"))
        .args(paths)
        .output()
        .unwrap()
}

fn weavedrive(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args(args)
        .output()
        .unwrap()
}

/// `weavedrive mount --daemon`, unmounted on drop whatever happens.
struct DaemonMount(PathBuf);

impl DaemonMount {
    fn start(url: &str, cache: &Path, mountpoint: PathBuf, extra: &[&str]) -> DaemonMount {
        std::fs::create_dir_all(&mountpoint).unwrap();
        let mut args = vec![
            "mount",
            mountpoint.to_str().unwrap(),
            "--daemon",
            "--gateway",
            url,
            "--cache-dir",
            cache.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = weavedrive(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        DaemonMount(mountpoint)
    }

    fn data(&self, id: &TxId) -> PathBuf {
        self.0.join("data").join(id.to_string())
    }
}

impl Drop for DaemonMount {
    fn drop(&mut self) {
        let _ = weavedrive(&["unmount", self.0.to_str().unwrap(), "--lazy"]);
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_same_embedding_from_local_disk_the_mount_and_wasm() {
    let Some(dir) = model_dir() else { return };
    let (gateway, ids, manifest) = gateway(&dir);
    let url = gateway.url();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");

    let local: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
    let out = native(&local);
    let reference = embedding(&out)
        .unwrap_or_else(|| panic!("no embedding: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(reference.len(), 384);

    if can_mount() {
        let mount = DaemonMount::start(&url, &cache, work.path().join("mnt"), &[]);
        // A user is handed the manifest's id; the files' ids come from reading it.
        let named = ids_from_manifest(&std::fs::read(mount.data(&manifest)).unwrap());
        assert_eq!(named, ids);
        let through: Vec<PathBuf> = named.iter().map(|id| mount.data(id)).collect();
        let out = native(&through);
        let via_mount = embedding(&out)
            .unwrap_or_else(|| panic!("mount: {}", String::from_utf8_lossy(&out.stderr)));
        // Same program, same bytes: the very same numbers.
        assert_eq!(via_mount, reference, "embedding through the mount differs");

        // The example: its own mount in-process, compared with local disk by itself.
        // Ids behind `--`: one id in 64 starts with `-` (signatures are salted, so ids change
        // from run to run).
        let out = Command::new(host_program("model_through_mount"))
            .args(["--gateway", &url, "--local"])
            .arg(&dir)
            .arg("--")
            .args(ids.iter().map(TxId::to_string))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "example: {stderr}");
        assert!(
            stderr.contains("largest difference from local disk: 0e0"),
            "{stderr}"
        );
        assert_eq!(embedding(&out), Some(reference.clone()));
    } else {
        eprintln!("SKIPPED the mount half: needs /dev/fuse and root");
    }

    let wasm = cargo_artifact("weavedrive-minilm", "wasm32-wasip1", true);
    let wasm = wasm.to_str().unwrap();
    let data_paths: Vec<String> = ids.iter().map(|id| format!("/data/{id}")).collect();
    let mut args = vec![
        "run",
        wasm,
        "--gateway",
        &url,
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    args.push("--");
    args.extend(data_paths.iter().map(String::as_str));
    let out = weavedrive(&args);
    let in_wasm =
        embedding(&out).unwrap_or_else(|| panic!("wasm: {}", String::from_utf8_lossy(&out.stderr)));
    let diff = max_diff(&in_wasm, &reference);
    assert!(diff < 1e-5, "wasm embedding differs by {diff}");

    // The same guest over a stock preopen of the local files: identical to the shim's.
    let spec = format!("{}::/model", dir.display());
    let out = weavedrive(&[
        "run",
        wasm,
        "--cache-dir",
        cache.to_str().unwrap(),
        "--dir",
        &spec,
        "--",
        "/model/config.json",
        "/model/tokenizer.json",
        "/model/model.safetensors",
    ]);
    assert_eq!(embedding(&out), Some(in_wasm));
}

#[test]
fn a_corrupted_chunk_in_the_weights_fails_loudly() {
    let Some(dir) = model_dir() else { return };
    let (gateway, ids, _) = gateway(&dir);
    let url = gateway.url();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let cache = cache.to_str().unwrap();
    // Config and tokenizer arrive intact; every chunk of the weights fails its proof.
    let out = weavedrive(&[
        "preload",
        &ids[0].to_string(),
        &ids[1].to_string(),
        "--gateway",
        &url,
        "--cache-dir",
        cache,
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    gateway.faults().always(Target::Chunk, Fault::CorruptChunk);
    // Without retry rounds each bad chunk fails at once, not after 3 s of backoff.
    const NO_RETRY: &[&str] = &["--retries", "0"];

    if can_mount() {
        let mount = DaemonMount::start(&url, Path::new(cache), work.path().join("mnt"), NO_RETRY);
        let through: Vec<PathBuf> = ids.iter().map(|id| mount.data(id)).collect();
        let out = native(&through);
        assert!(!out.status.success(), "a corrupt load must fail");
        assert_eq!(embedding(&out), None, "no embedding from corrupt weights");
    }

    let wasm = cargo_artifact("weavedrive-minilm", "wasm32-wasip1", true);
    let data_paths: Vec<String> = ids.iter().map(|id| format!("/data/{id}")).collect();
    let mut args = vec![
        "run",
        wasm.to_str().unwrap(),
        "--gateway",
        &url,
        "--cache-dir",
        cache,
    ];
    args.extend(NO_RETRY);
    args.push("--");
    args.extend(data_paths.iter().map(String::as_str));
    let out = weavedrive(&args);
    assert!(
        !out.status.success(),
        "a corrupt load must fail in wasm too"
    );
    assert_eq!(embedding(&out), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.to_lowercase().contains("error"), "{stderr}");
}
