//! FUSE frontend for WeaveDrive: Arweave as a read-only local drive.
//!
//! Glue (fuser) over `weavedrive_namespace::Namespace`: the tree, its access policy and its
//! errors are the namespace's, fetching, verifying, caching and read-ahead the Drive's; this
//! crate maps inodes to nodes, file handles to open files and error kinds to errnos. Data is immutable, so entries, attributes and page-cache
//! contents are kept by the kernel (long TTLs, FOPEN_KEEP_CACHE).

mod errno;
mod fs;
mod inodes;
mod passthrough;

use std::io;
use std::path::Path;

pub use errno::errno_for;
pub use fs::WeaveFs;
use fuser::{BackgroundSession, Config, MountOption, SessionACL};
pub use passthrough::Passthrough;
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
    /// Which data files are fetched and verified whole when opened, so that a chunk no
    /// gateway serves verified fails the open (EIO) instead of a page fault of a mapping
    /// (which the kernel retries for good under MAP_POPULATE).
    pub verify_on_open: VerifyOnOpen,
    /// Whether fully cached files are handed to the kernel (FUSE passthrough, Linux 6.9+)
    /// so that their reads never reach this process. Defaults to `Auto`, or to what
    /// `WEAVEDRIVE_PASSTHROUGH` says.
    pub passthrough: Passthrough,
}

/// Which data files an open verifies whole first. Verifying costs an open the time to fetch
/// what is not cached yet: a loader reads it all anyway, a `head` would not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyOnOpen {
    /// None: opens return at once and reads fetch as they go.
    Never,
    /// GGUF files (by their magic, `GGUF`): llama.cpp maps them with MAP_POPULATE.
    #[default]
    Gguf,
    /// Every data file.
    All,
}

impl MountOptions {
    /// Named so that `weavedrive mount --threads` defaults to the same value.
    pub const DEFAULT_THREADS: usize = 8;
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            allow_other: false,
            threads: Self::DEFAULT_THREADS,
            policy: AccessPolicy::AllowAll,
            verify_on_open: VerifyOnOpen::default(),
            passthrough: Passthrough::from_env(),
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
    let fs = WeaveFs::new(
        drive,
        runtime,
        options.policy.clone(),
        options.verify_on_open,
        options.passthrough,
    );
    fuser::spawn_mount(fs, mountpoint, &config)
}
