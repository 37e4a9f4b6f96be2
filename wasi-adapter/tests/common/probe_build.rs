//! Builds workspace binaries the tests run as separate programs: the probe guest
//! (wasi-adapter/guests/probe) for wasm32-wasip1, and, for the model tests, the MiniLM
//! embedder natively and for wasm32-wasip1. Shared by the shim's tests and the CLI's
//! (`#[path]`-included there).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Builds `package`'s binary (for `target`, or the host) once per test binary and returns its
/// path, as cargo reports it. Cargo's own lock serialises concurrent test binaries.
pub fn cargo_artifact(package: &str, target: Option<&str>, release: bool) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let key = format!("{package} {target:?} {release}");
    let mut built = BUILT.get_or_init(Mutex::default).lock().unwrap();
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "-p",
        package,
        "--message-format=json-render-diagnostics",
    ]);
    if let Some(target) = target {
        command.args(["--target", target]);
    }
    if release {
        command.arg("--release");
    }
    let output = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo");
    assert!(
        output.status.success(),
        "building {package} failed (for wasm32-wasip1: `rustup target add wasm32-wasip1`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .filter_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .next_back()
        .unwrap_or_else(|| panic!("cargo named no executable for {package}"));
    built.insert(key, path.clone());
    path
}

/// The probe guest, for wasm32-wasip1.
pub fn probe_wasm() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| cargo_artifact("weavedrive-guest-probe", Some("wasm32-wasip1"), true))
}
