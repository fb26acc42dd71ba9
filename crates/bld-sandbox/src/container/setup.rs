//! What a run's process does between `fork` and `exec` of the runtime: in a mount namespace
//! of its own (so the overlays and the secrets' tmpfs disappear with the run, whatever happens
//! to bld), it mounts the container's root and the bind overlays, makes the working directory,
//! copies the secrets into their tmpfs, and then becomes the runtime. Done with system calls on
//! strings prepared before the `fork` (nothing is allocated in the child), instead of a shell,
//! `unshare`, `mount` and `mkdir` started for every step.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, MountPropagationFlags};

/// A secret copied into the run's tmpfs, paths prepared.
pub(super) struct SecretFile {
    pub(super) source: CString,
    pub(super) dest: CString,
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// An overlay mounted at a mount point (made first, with its parents).
pub(super) struct Overlay {
    pub(super) dirs: Vec<CString>,
    pub(super) target: CString,
    /// overlayfs's own options (`lowerdir=…`), and the mount's flags.
    pub(super) options: CString,
    pub(super) flags: MountFlags,
}

impl Overlay {
    /// An overlay at `target` with `options` as `mount -o` takes them: the generic flags among
    /// them (`nodev`, `nosuid`, `noexec`, `ro`) become mount flags, the rest is overlayfs's.
    pub(super) fn new(dirs: Vec<CString>, target: CString, options: &str) -> Overlay {
        let mut flags = MountFlags::empty();
        let mut own = Vec::new();
        for option in options.split(',') {
            match option {
                "nodev" => flags |= MountFlags::NODEV,
                "nosuid" => flags |= MountFlags::NOSUID,
                "noexec" => flags |= MountFlags::NOEXEC,
                "ro" => flags |= MountFlags::RDONLY,
                other => own.push(other),
            }
        }
        Overlay {
            dirs,
            target,
            options: CString::new(own.join(",")).unwrap_or_default(),
            flags,
        }
    }
}

/// How cgroup2 comes to /sys/fs/cgroup.
#[derive(Debug, Clone)]
pub(super) enum Cgroup2 {
    /// A bind mount of the host's own cgroup2 mount (a hybrid host's `/sys/fs/cgroup/unified`):
    /// mounting cgroup2 afresh waits on the kernel for 7 to 18 ms, a bind mount does not.
    Bind(CString),
    /// A new cgroup2 mount, where the host has none.
    Mount,
}

/// Everything the child does before it becomes the runtime.
#[derive(Default)]
pub(super) struct Setup {
    /// The container's root: an overlay at `rootfs.target`; then the working directory made
    /// inside it (`cwd_dirs`, each prefix of it).
    pub(super) rootfs: Option<Overlay>,
    pub(super) cwd_dirs: Vec<CString>,
    /// What puts cgroup2 at /sys/fs/cgroup (crun on a host with cgroup v1 controllers).
    pub(super) cgroup2: Option<Cgroup2>,
    pub(super) overlays: Vec<Overlay>,
    /// The secrets' tmpfs (its directory and parents), and what is copied into it.
    pub(super) tmpfs: Option<(Vec<CString>, CString)>,
    pub(super) secrets: Vec<SecretFile>,
    /// Whether stderr goes where stdout goes (the output is captured as one stream).
    pub(super) merge_stderr: bool,
}

/// `path` as a C string (a path from the store or the image, never holding a NUL).
pub(super) fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap_or_default()
}

/// `path` and every directory above it, outermost first, for a `mkdir -p`.
pub(super) fn mkdir_chain(path: &Path) -> Vec<CString> {
    let mut chain: Vec<PathBuf> = path.ancestors().map(Path::to_path_buf).collect();
    chain.reverse();
    chain
        .iter()
        .filter(|p| p.as_os_str().len() > 1)
        .map(|p| c_path(p))
        .collect()
}

impl Setup {
    /// Applies the setup in the forked child. Only system calls on prepared strings: this
    /// runs between `fork` and `exec` of a multithreaded process.
    // The one unsafe call of the crate: `unshare` of the mount namespace alone.
    #[allow(unsafe_code)]
    pub(super) fn apply(&self) -> io::Result<()> {
        // SAFETY: the forked child has a single thread, and a new mount namespace changes
        // nothing any other thread or handle of it relies on.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }?;
        rustix::mount::mount_change(
            c"/",
            MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
        )?;
        if let Some(rootfs) = &self.rootfs {
            mount_overlay(rootfs)?;
        }
        make_dirs(&self.cwd_dirs)?;
        match &self.cgroup2 {
            Some(Cgroup2::Bind(source)) => {
                rustix::mount::mount_bind(source.as_c_str(), c"/sys/fs/cgroup")?;
            }
            Some(Cgroup2::Mount) => rustix::mount::mount(
                c"cgroup2",
                c"/sys/fs/cgroup",
                c"cgroup2",
                MountFlags::empty(),
                None,
            )?,
            None => {}
        }
        for overlay in &self.overlays {
            mount_overlay(overlay)?;
        }
        if let Some((dirs, target)) = &self.tmpfs {
            make_dirs(dirs)?;
            rustix::mount::mount(
                c"tmpfs",
                target.as_c_str(),
                c"tmpfs",
                MountFlags::empty(),
                Some(c"mode=0700"),
            )?;
        }
        for secret in &self.secrets {
            copy_secret(secret)?;
        }
        if self.merge_stderr {
            rustix::stdio::dup2_stderr(rustix::stdio::stdout())?;
        }
        Ok(())
    }
}

fn mount_overlay(overlay: &Overlay) -> io::Result<()> {
    make_dirs(&overlay.dirs)?;
    rustix::mount::mount(
        c"overlay",
        overlay.target.as_c_str(),
        c"overlay",
        overlay.flags,
        Some(overlay.options.as_c_str()),
    )?;
    Ok(())
}

/// `mkdir` of each of `dirs` (outermost first) that is not there yet.
fn make_dirs(dirs: &[CString]) -> io::Result<()> {
    for dir in dirs {
        match rustix::fs::mkdir(dir.as_c_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Copies a secret into the tmpfs, then gives it its owner and mode.
fn copy_secret(secret: &SecretFile) -> io::Result<()> {
    let source = rustix::fs::open(
        secret.source.as_c_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let dest = rustix::fs::open(
        secret.dest.as_c_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let mut buffer = [0u8; 8192];
    loop {
        let read = rustix::io::read(&source, &mut buffer)?;
        if read == 0 {
            break;
        }
        let mut written = 0;
        while written < read {
            written += rustix::io::write(&dest, &buffer[written..read])?;
        }
    }
    rustix::fs::fchown(
        dest.as_fd(),
        Some(rustix::fs::Uid::from_raw(secret.uid)),
        Some(rustix::fs::Gid::from_raw(secret.gid)),
    )?;
    rustix::fs::fchmod(dest.as_fd(), Mode::from_raw_mode(secret.mode))?;
    Ok(())
}
