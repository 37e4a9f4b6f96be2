//! `weavedrive run`: a wasm32-wasip1 guest reads `/data` through the CLI's host; the exit code
//! passes through; `--preload` warms the cache so the run itself needs no network; the
//! compiled module is cached; bad flags are clear errors.

#[path = "../wasi-adapter/tests/common/probe_build.rs"]
mod probe_build;

use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use weavedrive_testgw::{GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data};

fn weavedrive(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn runs_a_guest_over_the_cache() {
    let wasm = probe_build::probe_wasm().to_str().unwrap().to_string();
    let mut data = GatewayData::new(TestWallet::fixed());
    let bytes = pseudo_random_data(3, 3 * 1024 * 1024 + 7);
    let id = data.add_tx(bytes.clone(), vec![]).to_string();
    let gateway = TestGateway::spawn_background(data, GatewayOptions::default()).unwrap();
    let url = gateway.url();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache = cache.to_str().unwrap();
    let path = format!("/data/{id}");
    let expected = format!(
        "sha256 {} {}",
        hex::encode(Sha256::digest(&bytes)),
        bytes.len()
    );

    // Preloaded first, then read with no network at all.
    let out = weavedrive(&[
        "run",
        &wasm,
        "--gateway",
        &url,
        "--cache-dir",
        cache,
        "--preload",
        &id,
        "--",
        "hash",
        &path,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
    let modules: Vec<_> = std::fs::read_dir(dir.path().join("cache/modules"))
        .unwrap()
        .collect();
    assert_eq!(modules.len(), 1, "the compiled module is cached");

    gateway.reset_stats();
    let out = weavedrive(&[
        "run",
        &wasm,
        "--gateway",
        &url,
        "--cache-dir",
        cache,
        "--",
        "pread",
        &path,
        "1000",
        "300000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "sha256 {} 300000",
            hex::encode(Sha256::digest(&bytes[1000..301_000]))
        )
    );
    assert_eq!(gateway.stats().requests(), 0, "a warm run needs no network");

    // A host directory beside /data, and the guest's exit code passed through.
    let host_dir = dir.path().join("host");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("f"), b"xyz").unwrap();
    let spec = format!("{}::/host", host_dir.display());
    let out = weavedrive(&[
        "run",
        &wasm,
        "--cache-dir",
        cache,
        "--dir",
        &spec,
        "--",
        "list",
        "/host",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "entries f");
    let out = weavedrive(&["run", &wasm, "--cache-dir", cache, "--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(2));

    // Denied by --allow: EACCES (2) inside the guest.
    let other = "A".repeat(43);
    let out = weavedrive(&[
        "run",
        &wasm,
        "--cache-dir",
        cache,
        "--allow",
        &other,
        "--",
        "open",
        &path,
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("error 2 "));
}

#[test]
fn bad_run_arguments_are_clear_errors() {
    let wasm = probe_build::probe_wasm().to_str().unwrap().to_string();
    for (args, needle) in [
        (vec!["run", "/nonexistent.wasm"], "/nonexistent.wasm"),
        (vec!["run", &wasm, "--env", "NOVALUE"], "NAME=VALUE"),
        (
            vec!["run", &wasm, "--dir", "/nonexistent::/x"],
            "not a directory",
        ),
        (
            vec!["run", &wasm, "--dir", "/tmp::/data"],
            "WeaveDrive's own preopen",
        ),
    ] {
        let out = weavedrive(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
