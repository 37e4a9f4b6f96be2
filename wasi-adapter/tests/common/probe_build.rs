//! Builds workspace programs the tests run as separate processes: the probe guest
//! (wasi-adapter/guests/probe) for wasm32-wasip1 and, for the model tests, the MiniLM
//! embedder natively and for wasm32-wasip1, and examples. Shared by the shim's tests and the CLI's
//! (`#[path]`-included there).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Builds `package`'s binary for `target` once per test binary and returns its path, as
/// cargo reports it. Cargo's own lock serialises concurrent test binaries.
pub fn cargo_artifact(package: &str, target: &str, release: bool) -> PathBuf {
    let mut args = vec!["build", "-p", package, "--target", target];
    if release {
        args.push("--release");
    }
    build_once(&args, None)
}

/// A host program of the workspace, by name: an example, or a binary that its package's
/// integration tests run. Taken from `cargo test --workspace --no-run`, the very build CI's
/// test run makes, so nothing is compiled twice (a `cargo build -p` of one package would
/// resolve dependencies' features differently and rebuild them).
pub fn host_program(name: &str) -> PathBuf {
    build_once(&["test", "--workspace", "--no-run"], Some(name))
}

/// Runs `cargo ARGS` (a build) once per test binary; returns the executable named `name`, or
/// the last one built.
fn build_once(args: &[&str], name: Option<&str>) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Vec<PathBuf>>>> = OnceLock::new();
    let key = args.join(" ");
    let mut built = BUILT.get_or_init(Mutex::default).lock().unwrap();
    let executables = built.entry(key.clone()).or_insert_with(|| build(args));
    let found = match name {
        Some(name) => executables
            .iter()
            .find(|path| path.file_stem().is_some_and(|stem| stem == name)),
        None => executables.last(),
    };
    found
        .unwrap_or_else(|| panic!("cargo {key} made no executable {name:?}"))
        .clone()
}

fn build(args: &[&str]) -> Vec<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    // Cargo gives this test process its package's variables (CARGO_PKG_NAME, ...). Build
    // scripts (ring's, for one) rerun when such variables differ from the last build, so
    // passing them on would rebuild half the tree here and again in the next plain build.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let per_package = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        if per_package || name == "CARGO_PRIMARY_PACKAGE" || name == "CARGO_TARGET_TMPDIR" {
            command.env_remove(name.as_ref());
        }
    }
    let output = command
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo");
    assert!(
        output.status.success(),
        "cargo {} failed (for wasm32-wasip1: `rustup target add wasm32-wasip1`): {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .filter_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .collect()
}

/// The probe guest, for wasm32-wasip1.
pub fn probe_wasm() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| cargo_artifact("weavedrive-guest-probe", "wasm32-wasip1", true))
}
