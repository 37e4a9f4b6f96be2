//! Bundled data items (ANS-104) through the CLI, from the test gateway serving them as ar.io
//! does: `get` of items, nested items and manifest paths inside items; `stat` shows where an
//! item is bundled and how it was verified; `preload` completes a large item's signature
//! check; forged items fail and leave nothing behind.

use std::path::Path;
use std::process::{Command, Output};

use bytes::Bytes;
use weavedrive_cache::TxId;
use weavedrive_cache::arweave::ans104::SignatureType;
use weavedrive_cache::drive::WHOLE_ITEM_MAX;
use weavedrive_testgw::items::{
    BundleItem, Tamper, manifest_item, nested_bundle_item, signed_item, tags,
};
use weavedrive_testgw::{
    BackgroundGateway, GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data,
};

struct Fixture {
    gateway: BackgroundGateway,
    dir: tempfile::TempDir,
    small: (TxId, Bytes),
    nested: (TxId, Bytes),
    large: (TxId, Bytes),
    forged_large: TxId,
    forged_small: TxId,
    manifest: TxId,
}

fn item(kind: SignatureType, seed: u64, size: usize) -> ((TxId, Bytes), BundleItem) {
    let data = pseudo_random_data(seed, size);
    let tags = tags(&[
        ("Content-Type", "application/octet-stream"),
        ("App-Name", "items-cli"),
    ]);
    let bundled = BundleItem::new(signed_item(kind, None, None, &tags, &data));
    ((bundled.id, data), bundled)
}

fn fixture() -> Fixture {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 9);
    let (small, small_b) = item(SignatureType::Ed25519, 1, 300_000);
    let (nested, nested_b) = item(SignatureType::Ethereum, 2, 40_000);
    let (large, large_b) = item(SignatureType::Arweave, 3, WHOLE_ITEM_MAX as usize + 1);
    let (forged_large, forged_large_b) =
        item(SignatureType::Ed25519, 4, WHOLE_ITEM_MAX as usize + 1);
    let (forged_small, forged_small_b) = item(SignatureType::Solana, 5, 1000);
    let manifest = manifest_item(
        Some("index.html"),
        &[("index.html", small.0), ("big/model.bin", large.0)],
    );
    data.add_bundle(
        &[
            small_b,
            nested_bundle_item(&[nested_b]),
            large_b,
            forged_large_b.tampered(Tamper::Data),
            forged_small_b.tampered(Tamper::Tags),
            manifest.clone(),
        ],
        vec![],
    );
    Fixture {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        dir: tempfile::tempdir().unwrap(),
        small,
        nested,
        large,
        forged_large: forged_large.0,
        forged_small: forged_small.0,
        manifest: manifest.id,
    }
}

impl Fixture {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .args(args)
            .args([
                "--gateway",
                &self.gateway.url(),
                "--timeout",
                "5",
                "--retries",
                "1",
            ])
            .env("WEAVEDRIVE_CACHE_DIR", self.dir.path().join("cache"))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn get_to_file(&self, target: &str) -> Result<Vec<u8>, String> {
        self.get_to_file_with(target, &[])
    }

    fn get_to_file_with(&self, target: &str, extra: &[&str]) -> Result<Vec<u8>, String> {
        let out = self.dir.path().join("out");
        let _ = std::fs::remove_file(&out);
        let mut args = vec!["get", target, "-o", out.to_str().unwrap(), "--quiet"];
        args.extend(extra);
        let output = self.run(&args);
        if !output.status.success() {
            assert!(!out.exists(), "a failed get left {out:?}");
            assert_eq!(leftovers(self.dir.path()), 0, "temp files left");
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(std::fs::read(&out).unwrap())
    }

    fn stat_json(&self, id: &TxId) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["stat", &id.to_string(), "--json"])).unwrap()
    }
}

fn leftovers(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with(".weavedrive-get-")
        })
        .count()
}

#[test]
fn get_and_stat_of_bundled_items() {
    let fx = fixture();
    let got = fx.get_to_file(&fx.small.0.to_string()).unwrap();
    assert!(got == fx.small.1, "small item");
    let stdout = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args([
            "get",
            "--no-cache",
            &fx.nested.0.to_string(),
            "--quiet",
            "--gateway",
            &fx.gateway.url(),
        ])
        .output()
        .unwrap();
    assert!(stdout.status.success());
    assert!(stdout.stdout == fx.nested.1, "nested item on stdout");
    // Paths of a manifest that is itself a data item, to items (one large).
    let index = fx.get_to_file(&format!("{}/", fx.manifest)).unwrap();
    assert!(index == fx.small.1, "manifest index");
    // Not through the cache: the large item stays unchecked there for `stat` below.
    let model = fx
        .get_to_file_with(&format!("{}/big/model.bin", fx.manifest), &["--no-cache"])
        .unwrap();
    assert!(model == fx.large.1, "large item through the manifest");

    // Forged items fail and leave no file. (Not through the cache, which would remember the
    // forging bundle and refuse the preload below before it reads anything.)
    let error = fx
        .get_to_file_with(&fx.forged_large.to_string(), &["--no-cache"])
        .unwrap_err();
    assert!(error.contains("signature does not match"), "{error}");
    let error = fx
        .get_to_file_with(&fx.forged_small.to_string(), &["--no-cache"])
        .unwrap_err();
    assert!(error.contains("signature does not match"), "{error}");

    // stat: a small item was checked whole when resolved; a large one is pending until it
    // is first read or preloaded, and its tags are withheld until then.
    let text = fx.ok(&["stat", &fx.small.0.to_string()]);
    assert!(
        text.contains("ANS-104 data item, signature type 2"),
        "{text}"
    );
    assert!(text.contains("whole item"), "{text}");
    assert!(
        text.contains("signature: verified over all the data"),
        "{text}"
    );
    assert!(text.contains("App-Name: items-cli"), "{text}");
    let json = fx.stat_json(&fx.nested.0);
    assert_eq!(json["format"], 0);
    assert_eq!(json["item"]["parents"].as_array().unwrap().len(), 1);
    assert_eq!(json["item"]["signature"], "verified");
    let json = fx.stat_json(&fx.large.0);
    assert_eq!(json["item"]["verification"], "whole-item");
    assert_eq!(json["item"]["signature"], "pending");
    assert_eq!(json["tags"], serde_json::json!([]));
    assert_eq!(json["size"], WHOLE_ITEM_MAX + 1);
    let text = fx.ok(&["stat", &fx.large.0.to_string()]);
    assert!(
        text.contains("not shown until the item's signature is checked"),
        "{text}"
    );

    fx.ok(&["preload", "-q", &fx.large.0.to_string()]);
    let json = fx.stat_json(&fx.large.0);
    assert_eq!(json["item"]["signature"], "verified");
    assert_eq!(json["chunks_cached"], json["chunks"]);
    let output = fx.run(&["preload", "-q", &fx.forged_large.to_string()]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("signature does not match"), "{error}");
    // From then on the item is refused at once: the only gateway places it in the bundle
    // known to forge it.
    let output = fx.run(&["stat", &fx.forged_large.to_string()]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("does not match the item's signature"),
        "{error}"
    );
}
