//! Builds the memory64 guest (wasi-adapter/guests/wasm64-sha256) with nightly `-Zbuild-std`
//! for wasm64-unknown-unknown, once per test binary, into the shared target directory.
//!
//! Without nightly and its `rust-src` the tests say so and pass, unless
//! WEAVEDRIVE_REQUIRE_MODEL=1 (scripts/test.sh installs both and sets it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TARGET: &str = "wasm64-unknown-unknown";
const INSTALL: &str = "rustup toolchain install nightly --profile minimal --component rust-src";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `rustup run nightly PROGRAM`, without the variables cargo gave this test process (build
/// scripts rerun when such variables differ from the last build).
fn nightly(program: &str) -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", "nightly", program]);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || [
                "CARGO",
                "RUSTUP_TOOLCHAIN",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// Whether nightly and its std sources are installed.
fn toolchain_ready() -> bool {
    let Ok(out) = nightly("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success() && sysroot.join("lib/rustlib/src/rust/library/std").is_dir()
}

/// The guest's .wasm, or `None` (after saying SKIPPED) without the toolchain.
pub fn wasm64_guest() -> Option<&'static Path> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        if !toolchain_ready() {
            assert!(
                std::env::var_os("WEAVEDRIVE_REQUIRE_MODEL").is_none(),
                "the memory64 guest needs nightly with rust-src: {INSTALL}"
            );
            eprintln!("SKIPPED: no nightly toolchain with rust-src ({INSTALL})");
            return None;
        }
        Some(build())
    })
    .as_deref()
}

fn build() -> PathBuf {
    let manifest = root().join("wasi-adapter/guests/wasm64-sha256/Cargo.toml");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let output = nightly("cargo")
        .args([
            "build",
            "--release",
            "--locked",
            "-Zbuild-std=std,panic_abort",
        ])
        .args([
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .expect("running rustup");
    assert!(
        output.status.success(),
        "building the memory64 guest failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A cdylib: cargo names its file among the artifact's filenames.
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .flat_map(|msg| msg["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .find(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .expect("cargo reported no .wasm for the memory64 guest")
}
