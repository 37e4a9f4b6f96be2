//! The README's main job: `weavedrive demo` builds its gateway, verifies every sample through
//! `get`'s path, mounts, reads every sample back through the mount, and cleans up.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/fuse.rs"]
mod fuse;

use fuse::{fuse_available as can_mount, is_mounted};

/// Kills the demo and detaches its mount whatever the test did.
struct Demo {
    child: Child,
    mountpoint: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if is_mounted(&self.mountpoint) {
            let path = std::ffi::CString::new(self.mountpoint.to_str().unwrap()).unwrap();
            // SAFETY: a valid path.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn mountpoint(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("mnt");
    std::fs::create_dir(&path).unwrap();
    path
}

#[test]
fn demo_checks_every_sample_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = mountpoint(&dir);
    // The real model (three files and the path manifest naming them) joins the samples when
    // scripts/fetch-model.sh has fetched it.
    let model =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models/all-minilm-l6-v2");
    // The GGUF model (a bundled item and its path manifest) joins them when
    // scripts/fetch-llm.sh has fetched it.
    let llm = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models/smollm2-135m");
    let with_model = model.join(".complete").exists();
    let with_llm = llm.join(".complete").exists();
    // Three of the samples are bundled data items (one nested).
    let expected = 9 + if with_model { 4 } else { 0 } + if with_llm { 2 } else { 0 };
    let out = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args(["demo", "--exit", "--large-mib", "8", "--mountpoint"])
        .arg(&mnt)
        .env("WEAVEDRIVE_MODEL_DIR", &model)
        .env("WEAVEDRIVE_LLM_DIR", &llm)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let via_mount = stdout.matches("ok  sha256 matches").count();
    let via_get = stdout.matches("  ok  sha256 ").count() - via_mount;
    assert_eq!(via_get, expected, "{stdout}");
    for item in ["item-ed25519.txt", "item-ethereum.bin", "item-nested.bin"] {
        assert!(stdout.contains(item), "{item} missing: {stdout}");
    }
    if with_model {
        for sample in ["all-minilm-l6-v2/model.safetensors", "all-minilm-l6-v2/ "] {
            assert!(stdout.contains(sample), "{sample} missing: {stdout}");
        }
    }
    if with_llm {
        for sample in [
            "smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf",
            "smollm2-135m/ ",
        ] {
            assert!(stdout.contains(sample), "{sample} missing: {stdout}");
        }
    }
    if can_mount() {
        assert_eq!(via_mount, expected, "{stdout}");
    } else {
        eprintln!("SKIPPED the mount half: needs /dev/fuse and root");
        assert!(stdout.contains("(no mount:"), "{stdout}");
    }
    assert!(!is_mounted(&mnt), "demo left its mount behind");
}

#[test]
fn demo_serves_until_sigterm_then_unmounts() {
    if !can_mount() {
        eprintln!("SKIPPED: needs /dev/fuse and root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = mountpoint(&dir);
    let mut demo = Demo {
        child: Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .args(["demo", "--large-mib", "0", "--mountpoint"])
            .arg(&mnt)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        mountpoint: mnt.clone(),
    };
    let mut lines = BufReader::new(demo.child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ready = false;
    while let Some(Ok(line)) = lines.next() {
        if line.contains("stays mounted until Ctrl-C") {
            ready = true;
            break;
        }
        assert!(Instant::now() < deadline);
    }
    assert!(ready, "demo never said it was serving");
    assert!(is_mounted(&mnt));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(demo.child.id() as i32, libc::SIGTERM) };
    let status = demo.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!is_mounted(&mnt), "SIGTERM left the demo mounted");
}
