//! The namespace's case table through a real FUSE mount: the same cases the namespace answers
//! in process (namespace/tests/cases.rs) and a wasm guest through the WASI shim, asked here
//! with std::fs through the kernel, errnos mapped back through the mount's one errno edge.
//!
//! Needs root and /dev/fuse; without them it says SKIPPED and passes, unless
//! WEAVEDRIVE_REQUIRE_FUSE=1 (set by scripts/test.sh), where it fails.

use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use weavedrive_cache::Drive;
use weavedrive_fuse::{MountOptions, errno_for};
use weavedrive_namespace::ErrorKind;
use weavedrive_namespace::cases::{
    Fixture, Stat, Transport, assert_never_asked, check, drive_config,
};
use weavedrive_testgw::{GatewayOptions, TestGateway};

fn fuse_available() -> bool {
    // SAFETY: geteuid cannot fail.
    let ok = unsafe { libc::geteuid() } == 0 && Path::new("/dev/fuse").exists();
    if !ok {
        assert!(
            std::env::var_os("WEAVEDRIVE_REQUIRE_FUSE").is_none_or(|v| v != "1"),
            "WEAVEDRIVE_REQUIRE_FUSE=1 but mounting needs /dev/fuse and root"
        );
        eprintln!("SKIPPED: mounting needs /dev/fuse and root");
    }
    ok
}

struct Mount(PathBuf);

/// An errno from the kernel, as the kind the mount mapped to it.
fn kind(error: std::io::Error) -> ErrorKind {
    let raw = error.raw_os_error().expect("an errno");
    *ErrorKind::ALL
        .iter()
        .find(|k| errno_for(**k).code() == raw)
        .unwrap_or_else(|| panic!("errno {raw} ({error}) is no kind's"))
}

impl Mount {
    fn at(&self, path: &str) -> PathBuf {
        self.0.join(path.trim_start_matches('/'))
    }
}

impl Transport for Mount {
    fn read(&self, path: &str) -> Result<Vec<u8>, ErrorKind> {
        std::fs::read(self.at(path)).map_err(kind)
    }

    fn stat(&self, path: &str) -> Result<Stat, ErrorKind> {
        let meta = std::fs::metadata(self.at(path)).map_err(kind)?;
        Ok(if meta.is_dir() {
            Stat::Dir
        } else {
            Stat::File(meta.len())
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>, ErrorKind> {
        std::fs::read_dir(self.at(path))
            .map_err(kind)?
            .map(|e| {
                e.map(|e| e.file_name().into_string().unwrap())
                    .map_err(kind)
            })
            .collect()
    }

    fn open_for_write(&self, path: &str) -> Result<(), ErrorKind> {
        let opened = std::fs::OpenOptions::new().write(true).open(self.at(path));
        opened.map(drop).map_err(kind)
    }
}

#[test]
fn the_case_table_through_the_mount() {
    if !fuse_available() {
        return;
    }
    let fx = Fixture::new();
    let cases = fx.cases();
    let policy = fx.policy();
    let gateway = TestGateway::spawn_background(fx.data, GatewayOptions::default()).unwrap();
    gateway.log_requests();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let session = {
        let _entered = runtime.enter();
        let drive = Drive::new(drive_config(gateway.url(), dir.path())).unwrap();
        let options = MountOptions {
            policy,
            ..MountOptions::default()
        };
        weavedrive_fuse::mount(drive, &mountpoint, &options).unwrap()
    };
    // (Dropping the session unmounts, also when an assertion below fails.)
    let failures = check(&Mount(mountpoint.clone()), &cases);
    let kernel_said = std::fs::metadata(mountpoint.join("nothing")).unwrap_err();
    assert_eq!(kernel_said.kind(), IoKind::NotFound);
    drop(session);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let asked: Vec<String> = gateway.request_log().into_iter().map(|r| r.path).collect();
    assert_never_asked(&asked, &fx.denied);
}
