//! Builds the probe guest (wasi-adapter/guests/probe) for wasm32-wasip1. Shared by the shim's
//! tests and the CLI's (`#[path]`-included there).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds the probe guest once per test binary (cargo's own lock serialises binaries).
pub fn probe_wasm() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip1",
                "-p",
                "weavedrive-guest-probe",
                "--message-format=json-render-diagnostics",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("running cargo");
        assert!(
            output.status.success(),
            "building the probe guest failed (is the wasm32-wasip1 target installed? \
             `rustup target add wasm32-wasip1`): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|msg| {
                msg["reason"] == "compiler-artifact"
                    && msg["target"]["name"] == "weavedrive-guest-probe"
            })
            .and_then(|msg| msg["executable"].as_str().map(PathBuf::from))
            .expect("cargo named no probe executable")
    })
}
