//! Mounting for real in tests: whether this machine can, and a `weavedrive mount` child
//! process that is stopped and detached whatever the test did.
//!
//! Without /dev/fuse or root a mount test says SKIPPED and passes, unless
//! WEAVEDRIVE_REQUIRE_FUSE=1 (set by scripts/test.sh, so CI never passes a mount test it
//! did not run).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use weavedrive_cache::TxId;

/// Whether mounting works here; panics instead of skipping when WEAVEDRIVE_REQUIRE_FUSE=1.
pub fn fuse_available() -> bool {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let ok = root && Path::new("/dev/fuse").exists();
    if !ok {
        assert!(
            std::env::var_os("WEAVEDRIVE_REQUIRE_FUSE").is_none_or(|v| v != "1"),
            "WEAVEDRIVE_REQUIRE_FUSE=1 but mounting needs /dev/fuse and root"
        );
        eprintln!("SKIPPED: mounting needs /dev/fuse and root");
    }
    ok
}

pub fn answers(mountpoint: &Path) -> bool {
    let probe = mountpoint.join(format!(".probe-{:?}", Instant::now()));
    std::fs::metadata(probe).is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT))
}

pub fn is_mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
}

/// A running `weavedrive mount`; on drop it is stopped and the mountpoint detached whatever
/// happened, so a failing test never leaves a mount behind.
pub struct Mounted {
    pub child: Option<Child>,
    pub mountpoint: PathBuf,
}

impl Mounted {
    pub fn start(gateway: &str, dir: &Path, extra: &[&str]) -> Mounted {
        let mountpoint = dir.join("mnt");
        // (A stale mount from an earlier kill makes create_dir_all fail: it exists.)
        if let Err(e) = std::fs::create_dir(&mountpoint) {
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
        }
        let child = Command::new(env!("CARGO_BIN_EXE_weavedrive"))
            .arg("mount")
            .arg(&mountpoint)
            .args(["--gateway", gateway, "--timeout", "5"])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mounted = Mounted {
            child: Some(child),
            mountpoint,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // Mounted and answering: a stale mount is listed too, but a fresh lookup through it
        // fails with ENOTCONN where a live one says ENOENT.
        while !(is_mounted(&mounted.mountpoint) && answers(&mounted.mountpoint)) {
            assert!(Instant::now() < deadline, "mount did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        mounted
    }

    pub fn data(&self, id: &TxId) -> PathBuf {
        self.mountpoint.join("data").join(id.to_string())
    }

    pub fn tx(&self, id: &TxId) -> PathBuf {
        self.mountpoint.join("tx").join(id.to_string())
    }

    /// SIGTERM, then the process must exit 0 with the mount gone.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let output = wait_with_timeout(&mut child, Duration::from_secs(20));
        assert!(
            output.0.success(),
            "mount exited with {:?}: {}",
            output.0,
            output.1
        );
        assert!(!is_mounted(&self.mountpoint), "SIGTERM left the mount up");
        output.1
    }
}

pub fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().map(|mut s| s.read_to_string(&mut err));
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit in {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn detach(mountpoint: &Path) {
    if is_mounted(mountpoint) {
        let path = std::ffi::CString::new(mountpoint.to_str().unwrap()).unwrap();
        // SAFETY: valid path.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        detach(&self.mountpoint);
    }
}
