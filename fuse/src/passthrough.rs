//! FUSE passthrough (Linux 6.9+): a data file whose extent is committed is opened with the
//! extent as its backing file, and the kernel serves `read`, the page cache and `mmap` from it
//! without asking us: warm reads at the disk's speed. The bytes were verified when the extent
//! was assembled (see the cache's `store/extents.rs`).
//!
//! The kernel's rule: while an inode is open in passthrough mode, every open of it must be
//! passthrough with the same backing file; while it is open through the page cache (our
//! reads), no open of it may be passthrough (the open fails with EIO). So each inode's live
//! backing and its count of cached opens are kept here, and an open is passthrough only when
//! that is allowed. Without passthrough (an older kernel, no CAP_SYS_ADMIN, switched off) every
//! open is served by our reads, from the extent with one `pread` when there is one.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use fuser::{BackingId, InitFlags, KernelConfig, ReplyOpen};

/// Whether a mount may use passthrough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Passthrough {
    /// When the kernel offers it and the process may register backing files.
    #[default]
    Auto,
    /// Never: every read comes to us (as on a kernel without passthrough).
    Off,
}

impl Passthrough {
    /// `WEAVEDRIVE_PASSTHROUGH=off` turns it off for every mount of the process (how the test
    /// suite runs as on a kernel without it); anything else, or nothing, is `Auto`.
    pub fn from_env() -> Passthrough {
        match std::env::var("WEAVEDRIVE_PASSTHROUGH").as_deref() {
            Ok("off") => Passthrough::Off,
            _ => Passthrough::Auto,
        }
    }
}

/// How one open file is served.
pub(crate) enum Io {
    /// By the kernel from the backing file, kept registered while the file is open.
    Backed(Arc<BackingId>),
    /// By our reads.
    Ours,
}

#[derive(Default)]
struct InodeIo {
    backing: Weak<BackingId>,
    ours: usize,
}

pub(crate) struct PassthroughState {
    enabled: AtomicBool,
    inodes: Mutex<HashMap<u64, InodeIo>>,
}

impl PassthroughState {
    pub(crate) fn new(wanted: Passthrough) -> Self {
        PassthroughState {
            enabled: AtomicBool::new(wanted == Passthrough::Auto),
            inodes: Mutex::default(),
        }
    }

    /// Asks the kernel for passthrough at `init`; off if it cannot give it.
    pub(crate) fn negotiate(&self, config: &mut KernelConfig) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let granted = config
            .add_capabilities(InitFlags::FUSE_PASSTHROUGH)
            .is_ok()
            // Our backing files are on a plain filesystem: one level of stacking.
            && config.set_max_stack_depth(1).is_ok();
        if !granted {
            tracing::info!("the kernel offers no FUSE passthrough: every read is served here");
            self.enabled.store(false, Ordering::Relaxed);
        }
    }

    /// How an open of `ino` is served: by the kernel from `extent` when there is one and the
    /// inode is not open through our reads; by our reads otherwise. A failed registration
    /// (no CAP_SYS_ADMIN, say) turns passthrough off for the mount, said once.
    pub(crate) fn open(&self, ino: u64, extent: Option<&File>, reply: &ReplyOpen) -> Io {
        let mut inodes = self.inodes.lock().unwrap();
        let io = inodes.entry(ino).or_default();
        if let Some(backing) = io.backing.upgrade() {
            return Io::Backed(backing);
        }
        if let Some(file) = extent
            && io.ours == 0
            && self.enabled.load(Ordering::Relaxed)
        {
            match reply.open_backing(file) {
                Ok(backing) => {
                    let backing = Arc::new(backing);
                    io.backing = Arc::downgrade(&backing);
                    return Io::Backed(backing);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "FUSE passthrough refused: every read is served here");
                    self.enabled.store(false, Ordering::Relaxed);
                }
            }
        }
        io.ours += 1;
        Io::Ours
    }

    /// A file opened as `io` was released (a backing goes when its last file does).
    pub(crate) fn release(&self, ino: u64, io: Io) {
        let mut inodes = self.inodes.lock().unwrap();
        if let Io::Ours = io
            && let Some(state) = inodes.get_mut(&ino)
        {
            state.ours = state.ours.saturating_sub(1);
        }
        drop(io);
        if inodes
            .get(&ino)
            .is_some_and(|s| s.ours == 0 && s.backing.strong_count() == 0)
        {
            inodes.remove(&ino);
        }
    }

    /// `passthrough` while the kernel serves `ino` from its extent, `fuse` otherwise.
    pub(crate) fn describe(&self, ino: u64) -> &'static str {
        let inodes = self.inodes.lock().unwrap();
        match inodes
            .get(&ino)
            .is_some_and(|s| s.backing.strong_count() > 0)
        {
            true => "passthrough",
            false => "fuse",
        }
    }
}
