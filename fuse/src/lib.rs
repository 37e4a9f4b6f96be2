//! FUSE frontend for WeaveDrive: Arweave as a read-only local drive.
//!
//! A thin adapter (fuser) over `weavedrive_cache::Drive`: every policy (fetching, verifying,
//! caching, read-ahead) lives in the Drive; this crate maps names to ids, inodes to handles
//! and `DriveError`s to errnos. Data is immutable, so entries, attributes and page-cache
//! contents are kept by the kernel (long TTLs, FOPEN_KEEP_CACHE).

mod fs;
mod inodes;
mod memo;
mod xattr;

use std::io;
use std::path::Path;

pub use fs::WeaveFs;
use fuser::{BackgroundSession, Config, MountOption, SessionACL};
use weavedrive_cache::{AccessPolicy, Drive};

#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Let other users read the mount (`allow_other`; non-root needs `user_allow_other`).
    pub allow_other: bool,
    /// FUSE worker threads: reads of different files proceed in parallel, and a slow
    /// network read holds only its own thread.
    pub threads: usize,
    /// Which ids `/data/<id>` and `/tx/<id>` serve; others are EACCES without a network
    /// request, and are not listed. `/block` is not affected.
    pub policy: AccessPolicy,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            allow_other: false,
            threads: 8,
            policy: AccessPolicy::AllowAll,
        }
    }
}

/// Mounts `drive` read-only at `mountpoint` and serves it from background threads until the
/// returned session is dropped (which unmounts) or the filesystem is unmounted externally.
/// Call from inside the tokio runtime the Drive's network work should run on.
pub fn mount(
    drive: Drive,
    mountpoint: &Path,
    options: &MountOptions,
) -> io::Result<BackgroundSession> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| io::Error::other("mount needs a tokio runtime"))?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::RO,
        MountOption::FSName("weavedrive".into()),
        MountOption::Subtype("weavedrive".into()),
        MountOption::NoAtime,
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if options.allow_other {
        config.acl = SessionACL::All;
    }
    config.n_threads = Some(options.threads.max(1));
    config.clone_fd = true;
    let fs = WeaveFs::new(drive, runtime).with_policy(options.policy.clone());
    fuser::spawn_mount(fs, mountpoint, &config)
}
