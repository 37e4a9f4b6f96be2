//! Interop with an independent peer: data uploaded to arlocal with arweave-js's chunked
//! uploader comes back byte-identical through `weavedrive get`, and so do a real model's
//! config and tokenizer found through the path manifest naming them.
//!
//! Needs `interop/node_modules` (the test command, `scripts/test.sh`, installs it). Without it
//! the test says so and passes, unless WEAVEDRIVE_REQUIRE_ARLOCAL=1 (set by the test command),
//! where it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Arlocal {
    child: Child,
    url: String,
}

impl Arlocal {
    fn start(interop: &Path) -> Arlocal {
        let mut child = Command::new("node")
            .arg(interop.join("arlocal-serve.js"))
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting node interop/arlocal-serve.js");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("arlocal did not start: {line:?}"))
            .trim()
            .to_string();
        Arlocal {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Arlocal {
    fn drop(&mut self) {
        // SIGTERM lets it remove its temp dir.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn interop_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    let ready = ["arlocal", "arweave", "arbundles"]
        .iter()
        .all(|package| dir.join("node_modules").join(package).is_dir());
    if ready {
        return Some(dir);
    }
    let hint =
        "interop/node_modules missing: run `bash scripts/test.sh` (or `cd interop && npm ci`)";
    if std::env::var_os("WEAVEDRIVE_REQUIRE_ARLOCAL").is_some_and(|v| v == "1") {
        panic!("{hint}");
    }
    eprintln!("SKIPPED arlocal interop: {hint}");
    None
}

#[test]
fn chunked_uploads_to_arlocal_come_back_identical() {
    let Some(interop) = interop_dir() else { return };
    let arlocal = Arlocal::start(&interop);
    let work = tempfile::tempdir().unwrap();
    let wallet =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cache/tests/fixtures/test-wallet.json");
    // Multi-chunk sizes (with the small-remainder split), a single chunk, and empty data.
    for (n, size) in [
        3 * 1024 * 1024 + 7,
        1024 * 1024 + 12345,
        256 * 1024 + 1,
        1000,
        0,
    ]
    .into_iter()
    .enumerate()
    {
        let source = work.path().join(format!("source-{n}"));
        let upload = Command::new("node")
            .arg(interop.join("arlocal-upload.js"))
            .args(["--gateway", &arlocal.url, "--size", &size.to_string()])
            .args(["--seed", &n.to_string(), "--wallet"])
            .arg(&wallet)
            .arg("--out")
            .arg(&source)
            .output()
            .unwrap();
        assert!(
            upload.status.success(),
            "upload of {size} bytes failed: {}",
            String::from_utf8_lossy(&upload.stderr)
        );
        let uploaded: serde_json::Value = serde_json::from_slice(&upload.stdout).unwrap();
        let id = uploaded["id"].as_str().unwrap();

        let fetched = work.path().join(format!("fetched-{n}"));
        let get = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .args(["get", "--no-cache", id, "--gateway", &arlocal.url, "-o"])
            .arg(&fetched)
            .output()
            .unwrap();
        assert!(
            get.status.success(),
            "get of {size} bytes failed: {}",
            String::from_utf8_lossy(&get.stderr)
        );
        let expected = std::fs::read(&source).unwrap();
        let got = std::fs::read(&fetched).unwrap();
        assert_eq!(got.len(), size, "size {size}");
        assert!(got == expected, "bytes differ for size {size}");
    }
}

/// Uploads `file` to arlocal with arweave-js; returns its id.
fn upload_file(interop: &Path, arlocal: &Arlocal, file: &Path, content_type: &str) -> String {
    let wallet =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cache/tests/fixtures/test-wallet.json");
    let upload = Command::new("node")
        .arg(interop.join("arlocal-upload.js"))
        .args([
            "--gateway",
            &arlocal.url,
            "--content-type",
            content_type,
            "--file",
        ])
        .arg(file)
        .arg("--wallet")
        .arg(&wallet)
        .output()
        .unwrap();
    assert!(
        upload.status.success(),
        "upload of {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&upload.stderr)
    );
    let uploaded: serde_json::Value = serde_json::from_slice(&upload.stdout).unwrap();
    uploaded["id"].as_str().unwrap().to_string()
}

fn get(arlocal: &Arlocal, id: &str) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args(["get", "--no-cache", id, "--gateway", &arlocal.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "get {id} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The model's small files (the weights stay out: arlocal takes about a second per MB and
/// dropped the connection posting the 87 MB weights) and a path manifest naming them, all
/// uploaded by arweave-js; a reader given only the manifest's id finds and verifies both.
#[test]
fn model_files_found_through_their_manifest_on_arlocal() {
    let Some(interop) = interop_dir() else { return };
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models/all-minilm-l6-v2");
    if !model.join(".complete").exists() {
        assert!(
            std::env::var_os("WEAVEDRIVE_REQUIRE_MODEL").is_none(),
            "model files missing: run scripts/fetch-model.sh"
        );
        eprintln!("SKIPPED: no model files; run scripts/fetch-model.sh");
        return;
    }
    let arlocal = Arlocal::start(&interop);
    let files = ["config.json", "tokenizer.json"];
    let ids: Vec<weavedrive_cache::TxId> = files
        .iter()
        .map(|name| {
            upload_file(&interop, &arlocal, &model.join(name), "application/json")
                .parse()
                .unwrap()
        })
        .collect();
    let paths: Vec<(&str, weavedrive_cache::TxId)> =
        files.iter().copied().zip(ids.iter().copied()).collect();
    let work = tempfile::tempdir().unwrap();
    let manifest_file = work.path().join("manifest.json");
    std::fs::write(
        &manifest_file,
        weavedrive_testgw::path_manifest(Some("config.json"), &paths),
    )
    .unwrap();
    let manifest_id = upload_file(
        &interop,
        &arlocal,
        &manifest_file,
        weavedrive_testgw::MANIFEST_CONTENT_TYPE,
    );

    let manifest: serde_json::Value = serde_json::from_slice(&get(&arlocal, &manifest_id)).unwrap();
    for name in files {
        let id = manifest["paths"][name]["id"].as_str().unwrap();
        assert!(
            get(&arlocal, id) == std::fs::read(model.join(name)).unwrap(),
            "{name} differs"
        );
    }
}

/// Data items signed just now by arbundles (the reference implementation; types 1 to 4, with
/// and without target, anchor, tags and data) parse and verify here, with the ids arbundles
/// gives them; the same bytes with the data changed do not verify.
#[test]
fn items_signed_by_arbundles_verify() {
    use weavedrive_cache::arweave::ans104::{DataItem, Verification};
    let Some(interop) = interop_dir() else {
        return;
    };
    let out = ans104_items(&interop, &[]);
    let mut types = std::collections::BTreeSet::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let case = format!("type {} {}", v["signature_type"], v["case"]);
        assert_eq!(v["verified_by_arbundles"], true, "{case}");
        let raw = base64_decode(v["raw_b64"].as_str().unwrap());
        let item = DataItem::parse_header(&raw).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(item.id().to_string(), v["id"].as_str().unwrap(), "{case}");
        let data = &raw[item.data_offset..];
        assert_eq!(item.verify(data), Ok(Verification::Verified), "{case}");
        if !data.is_empty() {
            let mut altered = data.to_vec();
            altered[0] ^= 0x80;
            assert!(
                item.verify(&altered).is_err(),
                "{case}: altered data verified"
            );
        }
        types.insert(item.signature_type as u16);
    }
    assert_eq!(types.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4]);
}

/// A bundle made by arbundles (`bundleAndSignData` over items of types 1 to 4), posted as a
/// transaction and served as ar.io serves bundled items: the Drive finds every item in the
/// bundle's verified bytes, checks each signature and reads back the data arbundles put in.
#[test]
fn a_bundle_made_by_arbundles_serves_every_item() {
    use weavedrive_cache::arweave::ans104::DataItem;
    use weavedrive_cache::drive::{SignatureCheck, VerificationMode};
    let Some(interop) = interop_dir() else {
        return;
    };
    let out = ans104_items(&interop, &["--bundle"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verified_by_arbundles"], true);
    let raw = base64_decode(v["bundle_b64"].as_str().unwrap());
    let ids: Vec<weavedrive_cache::TxId> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 16);

    let mut data = weavedrive_testgw::GatewayData::new(weavedrive_testgw::TestWallet::fixed());
    data.add_bundle_bytes(raw.clone().into(), vec![]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let gateway = weavedrive_testgw::TestGateway::start(data, Default::default())
            .await
            .unwrap();
        let drive = weavedrive_cache::Drive::new(weavedrive_cache::DriveConfig {
            gateway: weavedrive_cache::GatewayConfig {
                gateways: vec![gateway.url()],
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        let mut at = 32 + 64 * ids.len();
        for (n, id) in ids.iter().enumerate() {
            // The item's own bytes, from arbundles' serialisation, for the expected data.
            let size = u64::from_le_bytes(raw[32 + 64 * n..40 + 64 * n].try_into().unwrap());
            let item_bytes = &raw[at..at + size as usize];
            at += size as usize;
            let header = DataItem::parse_header(item_bytes).unwrap();
            let expected = &item_bytes[header.data_offset..];
            let got = drive.read_at(id, 0, 1 << 20).await.unwrap();
            assert_eq!(&got[..], expected, "item {n} ({id})");
            let info = drive.stat(id).await.unwrap().item.unwrap();
            assert_eq!(info.mode, VerificationMode::WholeItem, "{id}");
            assert_eq!(info.signature, SignatureCheck::Verified, "{id}");
        }
    });
}

/// The stdout of `node interop/ans104-items.js ARGS` (arbundles signing items), which must
/// succeed.
fn ans104_items(interop: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("node")
        .arg("ans104-items.js")
        .args(args)
        .current_dir(interop)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Standard base64 (what the Node script prints).
fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
