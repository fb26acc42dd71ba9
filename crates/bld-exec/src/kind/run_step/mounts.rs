//! A step's `RUN --mount`s as sandbox mounts.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bld_core::Digest;
use bld_graph::{Input, RunMount, RunStep, ViewEntry};
use bld_sandbox::{BindOverlay, LayerStack, MountKind, SandboxMount};
use bld_store::Store;

use crate::Failure;
use crate::image_fs::unpacked_layers;

/// What the mounts read besides the step: the manifests of bind-mounted images (in mount
/// order), the directory context paths resolve against, and the secrets given to the build.
pub(crate) struct BindSources<'a> {
    /// Each `BindImage` mount's image, in order.
    pub(crate) images: Vec<Digest>,
    /// Where `BindContext` sources are.
    pub(crate) exec_root: &'a Path,
    /// The files holding `--secret`s, by id.
    pub(crate) secrets: &'a HashMap<String, PathBuf>,
    /// The SSH agent sockets given with `--ssh`, by id.
    pub(crate) ssh_agents: &'a HashMap<String, PathBuf>,
}

/// The mounts made so far, and the run's directory they are made in.
struct Mounts<'a> {
    store: &'a Store,
    work_dir: &'a Path,
    mounts: Vec<SandboxMount>,
    overlays: Vec<BindOverlay>,
}

/// The step's `RUN --mount`s as sandbox mounts: cache directories in the store (created with
/// their mode and owner), tmpfs, binds of images (overlays of their layers) and of the
/// context, and secrets and inline files written into the run's directory with their mode and
/// owner (then removed with it). A writable bind's writes stay in the run's directory.
pub(crate) fn step_mounts(
    store: &Store,
    step: &RunStep,
    work_dir: &Path,
    binds: &BindSources<'_>,
) -> Result<(Vec<SandboxMount>, Vec<BindOverlay>), Failure> {
    fs::create_dir_all(work_dir).map_err(Failure::internal)?;
    let mut made = Mounts {
        store,
        work_dir,
        mounts: Vec::new(),
        overlays: Vec::new(),
    };
    let mut images = binds.images.iter();
    for mount in &step.mounts {
        let (target, kind) = match mount {
            RunMount::BindImage {
                target,
                source,
                writable,
                ..
            } => {
                let manifest = images
                    .next()
                    .ok_or_else(|| Failure::internal("a bind mount's image has no output"))?;
                (target, made.bind_image(manifest, source, *writable)?)
            }
            RunMount::BindContext {
                target,
                source,
                entries,
                writable,
            } => (
                target,
                made.bind_context(binds.exec_root, source, entries, *writable)?,
            ),
            RunMount::Inline {
                target,
                content,
                mode,
            } => (target, made.inline(content, *mode)?),
            RunMount::Cache {
                target,
                id,
                mode,
                uid,
                gid,
            } => (target, cache_dir(store, id, *mode, *uid, *gid)?),
            RunMount::Tmpfs { target, size } => (target, MountKind::Tmpfs { size: *size }),
            RunMount::Secret { target, .. } | RunMount::Ssh { target, .. } => {
                match given_mount(mount, binds)? {
                    Some(kind) => (target, kind),
                    None => continue,
                }
            }
        };
        made.mounts.push(SandboxMount {
            target: target.clone(),
            kind,
        });
    }
    Ok((made.mounts, made.overlays))
}

/// A secret's or an SSH agent's mount: what the build was given for its id, `None` when it
/// was not and the mount is not required (the mount is left out).
fn given_mount(mount: &RunMount, binds: &BindSources<'_>) -> Result<Option<MountKind>, Failure> {
    match mount {
        RunMount::Ssh { id, required, .. } => {
            // The agent's socket itself, for the step's duration (its mode and owner are the
            // host's: bld does not proxy the agent as BuildKit does).
            let given = binds.ssh_agents.get(id);
            let socket = given_or_required(given, *required, || {
                format!("no SSH agent `{id}` was given: `bld build --ssh {id}[=SOCKET]`")
            })?;
            Ok(socket.map(|socket| MountKind::Bind {
                source: socket.clone(),
                read_only: false,
            }))
        }
        RunMount::Secret {
            id,
            required,
            mode,
            uid,
            gid,
            ..
        } => {
            let given = binds.secrets.get(id);
            let source = given_or_required(given, *required, || {
                format!("the secret `{id}` was not given: `bld build --secret id={id},src=FILE`")
            })?;
            Ok(source.map(|source| MountKind::Secret {
                source: source.clone(),
                mode: *mode,
                uid: *uid,
                gid: *gid,
            }))
        }
        _ => Err(Failure::internal("not a secret or SSH mount")),
    }
}

/// What the build was given for a mount, `None` (the mount is left out) when it was not and
/// is not `required`, else the user's error `missing` says.
fn given_or_required(
    given: Option<&PathBuf>,
    required: bool,
    missing: impl FnOnce() -> String,
) -> Result<Option<&PathBuf>, Failure> {
    match given {
        None if required => Err(Failure::user(missing())),
        given => Ok(given),
    }
}

impl Mounts<'_> {
    /// A directory of an image: an overlay of its layers, the source resolved inside the
    /// image as if its root were `/` (a symlink or `..` in it cannot name a host path).
    fn bind_image(
        &mut self,
        manifest: &Digest,
        source: &str,
        writable: bool,
    ) -> Result<MountKind, Failure> {
        let (lowers, _) = unpacked_layers(self.store, manifest)?;
        let mountpoint = self.work_dir.join(format!("bind-{}", self.overlays.len()));
        let image = LayerStack::new(&lowers);
        let inside = image
            .resolve(source, true)
            .ok()
            .filter(|inside| image.exists(inside))
            .ok_or_else(|| {
                Failure::user(format!(
                    "--mount source={source}: no such file or directory in the image"
                ))
            })?;
        let source = if inside.is_empty() {
            mountpoint.clone()
        } else {
            mountpoint.join(inside)
        };
        self.overlays.push(BindOverlay {
            lowers,
            mountpoint,
            writable,
        });
        Ok(MountKind::Bind {
            source,
            read_only: !writable,
        })
    }

    /// Files of the build context: a private copy of exactly what the mount shows.
    fn bind_context(
        &mut self,
        exec_root: &Path,
        source: &str,
        entries: &[ViewEntry],
        writable: bool,
    ) -> Result<MountKind, Failure> {
        let view = self.work_dir.join(format!("context-{}", self.mounts.len()));
        context_view(exec_root, entries, &view).map_err(|e| {
            Failure::user(format!(
                "--mount source={source}: cannot show the build context: {e}"
            ))
        })?;
        Ok(MountKind::Bind {
            source: view,
            read_only: !writable,
        })
    }

    /// A file given inline, written into the run's directory, read-only.
    fn inline(&mut self, content: &str, mode: u32) -> Result<MountKind, Failure> {
        let file = self.work_dir.join(format!("inline-{}", self.mounts.len()));
        fs::write(&file, content).map_err(Failure::internal)?;
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).map_err(Failure::internal)?;
        Ok(MountKind::Bind {
            source: file,
            read_only: true,
        })
    }
}

/// The cache directory `id` in the store, made with its mode and owner the first time.
fn cache_dir(store: &Store, id: &str, mode: u32, uid: u32, gid: u32) -> Result<MountKind, Failure> {
    let dir = store
        .private_dir("cache-mounts")
        .map_err(Failure::of)?
        .join(Digest::of(id.as_bytes()).hex());
    if !dir.is_dir() {
        fs::create_dir_all(&dir).map_err(Failure::internal)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).map_err(Failure::internal)?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(Failure::internal)?;
    }
    Ok(MountKind::Bind {
        source: dir,
        read_only: false,
    })
}

/// Builds at `view` a private copy of exactly the context entries a bind mount shows: files
/// copied from the workspace (opened beneath `exec_root`, never through a symlink), symlinks
/// kept as symlinks, directories with their modes. Writes to it (`rw`) are dropped with the
/// run's directory.
fn context_view(exec_root: &Path, entries: &[ViewEntry], view: &Path) -> std::io::Result<()> {
    use bld_core::beneath::{RootDir, create_file_at};
    use rustix::fs::Mode;
    use std::os::fd::AsFd;
    let context = RootDir::open(exec_root)?;
    let copy = |input: &Input, to: &mut fs::File, mode: u32| -> std::io::Result<()> {
        let Input::Source(source) = input else {
            return Err(std::io::Error::other("a context file that is not a source"));
        };
        std::io::copy(&mut context.open_file(source)?, to)?;
        Ok(rustix::fs::fchmod(&*to, Mode::from_raw_mode(mode))?)
    };
    // A single file: the view is that file.
    if let [ViewEntry::File { path, input, mode }] = entries
        && path.is_empty()
    {
        return copy(input, &mut fs::File::create(view)?, *mode);
    }
    fs::create_dir_all(view)?;
    let root = RootDir::open(view)?;
    let mut dir_modes = Vec::new();
    for entry in entries {
        match entry {
            ViewEntry::Dir { path, mode } => {
                let parts: Vec<&str> = path.split('/').collect();
                root.open_dir(&parts, true)?;
                dir_modes.push((parts, *mode));
            }
            ViewEntry::File { path, input, mode } => {
                let (dir, name) = root.open_parent(path, true)?;
                copy(input, &mut create_file_at(dir.as_fd(), name)?, *mode)?;
            }
            ViewEntry::Symlink { path, target } => {
                let (dir, name) = root.open_parent(path, true)?;
                rustix::fs::symlinkat(target.as_str(), &dir, name)?;
            }
        }
    }
    // Modes last, deepest first: a read-only directory must not stop what goes inside it.
    for (parts, mode) in dir_modes.into_iter().rev() {
        rustix::fs::fchmod(root.open_dir(&parts, false)?, Mode::from_raw_mode(mode))?;
    }
    Ok(())
}
