//! The README's main job: `weavedrive demo` builds its gateway, verifies every sample through
//! `get`'s path, mounts, reads every sample back through the mount, and cleans up.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mounted_demos() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains("weavedrive-demo-"))
        .count()
}

fn can_mount() -> bool {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::path::Path::new("/dev/fuse").exists()
}

#[test]
fn demo_checks_every_sample_and_exits() {
    let before = mounted_demos();
    let out = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args(["demo", "--exit", "--large-mib", "8"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let via_get =
        stdout.matches("  ok  sha256 ").count() - stdout.matches("ok  sha256 matches").count();
    assert_eq!(via_get, 6, "{stdout}");
    if can_mount() {
        assert_eq!(stdout.matches("ok  sha256 matches").count(), 6, "{stdout}");
    } else {
        eprintln!("SKIPPED the mount half: needs /dev/fuse and root");
        assert!(stdout.contains("(no mount:"), "{stdout}");
    }
    assert_eq!(mounted_demos(), before, "demo left a mount behind");
}

#[test]
fn demo_serves_until_sigterm_then_unmounts() {
    if !can_mount() {
        eprintln!("SKIPPED: needs /dev/fuse and root");
        return;
    }
    let before = mounted_demos();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .args(["demo", "--large-mib", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
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
    assert_eq!(mounted_demos(), before + 1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(mounted_demos(), before, "SIGTERM left the demo mounted");
}
