//! `weavedrive mount` / `weavedrive unmount`: the drive as a read-only FUSE filesystem.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fuser::BackgroundSession;
use weavedrive_cache::{Drive, DriveConfig};
use weavedrive_fuse::MountOptions;

/// Mounts and serves in the foreground until SIGINT/SIGTERM or an external unmount.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    mountpoint: &Path,
    config: DriveConfig,
    options: &MountOptions,
    metrics: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    prepare_mountpoint(mountpoint)?;
    let _entered = runtime.enter();
    let mut stop = StopSignals::install()?;
    let drive = Drive::new(config)?;
    crate::metrics_endpoint::start(metrics, &drive)?;
    crate::malloc_tuning::trim_periodically(Duration::from_secs(1));
    let session = weavedrive_fuse::mount(drive.clone(), mountpoint, options)
        .with_context(|| format!("mounting at {}", mountpoint.display()))?;
    eprintln!(
        "weavedrive: mounted at {} (read-only); Ctrl-C or `weavedrive unmount {}` to stop",
        mountpoint.display(),
        mountpoint.display()
    );
    runtime.block_on(stop.wait(&session));
    let finished = finish(session, mountpoint);
    runtime.block_on(super::finish_shared(&drive));
    finished
}

/// SIGINT and SIGTERM listeners. Create them before announcing that the drive is ready: a
/// signal that arrives before its listener exists would kill the process with the mount left
/// behind.
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Must be called inside the tokio runtime.
    pub fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Returns on SIGINT or SIGTERM.
    pub async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    /// Returns on SIGINT, SIGTERM, or when the filesystem was unmounted from outside.
    pub async fn wait(&mut self, session: &BackgroundSession) {
        let mut ended = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = self.received() => return,
                _ = ended.tick() => if session.guard.is_finished() { return },
            }
        }
    }
}

/// Unmounts (unless already unmounted from outside) and ends the session. Files still open
/// do not leave a stale mount behind: the mount is then detached lazily.
pub fn finish(session: BackgroundSession, mountpoint: &Path) -> anyhow::Result<()> {
    if session.guard.is_finished() {
        eprintln!("weavedrive: {} was unmounted", mountpoint.display());
        // Not `join`: dropping the session unmounts the mountpoint by path once more if fuser
        // believes it still mounted (it does, after an external umount), and by then a new
        // mount may sit there. Its thread has ended; the process exits soon after.
        std::mem::forget(session);
        return Ok(());
    }
    match session.umount_and_join() {
        Ok(()) => eprintln!("weavedrive: unmounted {}", mountpoint.display()),
        // Readers of still-open files get errors once this process is gone.
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            umount2(mountpoint, true)
                .with_context(|| format!("detaching {}", mountpoint.display()))?;
            eprintln!(
                "weavedrive: files were still open under {}; detached it",
                mountpoint.display()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("unmounting {}", mountpoint.display())),
    }
    Ok(())
}

fn umount2(mountpoint: &Path, lazy: bool) -> std::io::Result<()> {
    let path = absolute(mountpoint);
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    let flags = if lazy { libc::MNT_DETACH } else { 0 };
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::umount2(c_path.as_ptr(), flags) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Starts `weavedrive mount` (these arguments without `--daemon`) detached in its own
/// session, and returns once the mount is up (or says why it is not).
pub fn daemonize(mountpoint: &Path, log: &Path) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let args: Vec<_> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--daemon")
        .collect();
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    // SAFETY: setsid is async-signal-safe; it detaches from the terminal's session so the
    // shell's Ctrl-C and hangup do not reach the daemon.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command.spawn().context("starting the mount daemon")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if is_mounted(mountpoint) {
            println!(
                "weavedrive: mounted at {} (pid {}, log {})",
                mountpoint.display(),
                child.id(),
                log.display()
            );
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("mount daemon exited ({status}): {}", text.trim());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    bail!("mount did not come up within 30 s; see {}", log.display())
}

/// Unmounts a weavedrive (or any FUSE) mount, including a stale one whose process died.
pub fn unmount(mountpoint: &Path, lazy: bool) -> anyhow::Result<()> {
    let path = absolute(mountpoint);
    if !is_mounted(&path) {
        bail!("{} is not mounted", path.display());
    }
    let Err(error) = umount2(&path, lazy) else {
        return Ok(());
    };
    match error.raw_os_error() {
        Some(libc::EBUSY) => bail!(
            "{} is busy (files open or a shell inside it); close them or use --lazy",
            path.display()
        ),
        // Not root: the setuid helper can unmount our own FUSE mounts.
        Some(libc::EPERM) => {
            let status = Command::new("fusermount3")
                .arg("-u")
                .args(lazy.then_some("-z"))
                .arg(&path)
                .status()
                .context("running fusermount3 (install the fuse3 package)")?;
            if !status.success() {
                bail!("fusermount3 -u {} failed", path.display());
            }
            Ok(())
        }
        _ => Err(error).with_context(|| format!("unmounting {}", path.display())),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether `path` is a mount point, from /proc/self/mountinfo (works for stale mounts too,
/// where stat fails with ENOTCONN).
pub fn is_mounted(path: &Path) -> bool {
    let path = absolute(path);
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|mount| Path::new(&unescape_mountinfo(mount)) == path)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The mountpoint must be an existing directory. A stale mount left by a killed process is
/// detached first, and said so.
pub fn prepare_mountpoint(mountpoint: &Path) -> anyhow::Result<()> {
    if is_mounted(mountpoint) {
        if !is_stale(mountpoint) {
            bail!(
                "{} is already a mount point; `weavedrive unmount {}` first",
                mountpoint.display(),
                mountpoint.display()
            );
        }
        eprintln!(
            "weavedrive: {} is a stale mount (its process died); detaching it",
            mountpoint.display()
        );
        umount2(mountpoint, true).with_context(|| format!("detaching {}", mountpoint.display()))?;
    }
    match std::fs::metadata(mountpoint) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => bail!("{} is not a directory", mountpoint.display()),
        Err(e) => Err(e).with_context(|| format!("mountpoint {}", mountpoint.display())),
    }
}

/// A FUSE mount whose process is gone answers ENOTCONN. Ask for a name nobody has looked up
/// (the kernel may still hold the root's attributes, so a stat of the mountpoint can pass).
pub fn is_stale(mountpoint: &Path) -> bool {
    let probe = format!(
        ".weavedrive-probe-{}-{:?}",
        std::process::id(),
        Instant::now()
    );
    std::fs::symlink_metadata(mountpoint.join(probe))
        .is_err_and(|e| e.raw_os_error() == Some(libc::ENOTCONN))
}
