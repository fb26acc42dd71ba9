//! Running a `RUN` step: the image's layers unpacked once into the store, the command run in
//! the sandbox over them, and its changes packed into a layer.

use std::fs;
use std::path::{Path, PathBuf};

use bld_core::Digest;
use bld_graph::{Input, RunMount, RunStep, ViewEntry};
use bld_oci::{ItemKind, LayerBlob, LayerItem, pack_layer, read_image};
use bld_sandbox::{
    BindOverlay, ChangeKind, LayerSource, LayerStack, MountKind, RunSpec, SandboxMount, run,
    unpack_layer, upper_changes,
};
use bld_store::Store;

/// Directories the runtime creates as mount points; an empty one in the upper directory is
/// not a change the step made.
const MOUNT_POINTS: &[&str] = &["dev", "dev/mqueue", "dev/pts", "dev/shm", "proc", "sys"];

/// The `PATH` a step gets when its image sets none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How many lines of a failed step's output an error shows.
const OUTPUT_TAIL_LINES: usize = 20;

/// Why a step did not produce a layer.
pub(crate) enum StepFailure {
    /// The command failed: the user's to fix.
    Command(String),
    /// bld or the machine failed.
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> StepFailure {
    StepFailure::Internal(e.to_string())
}

/// `(name, id, primary gid)` of each line of a passwd- or group-format file.
fn entries(text: &str) -> impl Iterator<Item = (&str, u32, u32)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let id = fields.get(2)?.parse().ok()?;
        let gid = fields.get(3).and_then(|g| g.parse().ok()).unwrap_or(id);
        Some((fields[0], id, gid))
    })
}

/// Resolves `USER` as Docker does: names through the image's /etc/passwd and /etc/group; a
/// user without a group takes its passwd entry's group, or 0.
fn resolve_user(user: &str, lowers: &[PathBuf]) -> Result<(u32, u32), StepFailure> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let image = LayerStack::new(lowers);
    let read = |path: &str| {
        image
            .read_file(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    let passwd = read("etc/passwd");
    let entry =
        entries(&passwd).find(|(name, uid, _)| *name == user_part || user_part.parse() == Ok(*uid));
    let uid = match (user_part.parse::<u32>(), entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some((_, uid, _))) => uid,
        (Err(_), None) => {
            return Err(StepFailure::Command(format!(
                "USER {user}: no user `{user_part}` in the image's /etc/passwd"
            )));
        }
    };
    let gid = match group_part {
        None => entry.map_or(0, |(_, _, gid)| gid),
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = read("etc/group");
                let found = entries(&groups).find(|(name, _, _)| *name == group);
                found.map(|(_, gid, _)| gid).ok_or_else(|| {
                    StepFailure::Command(format!(
                        "USER {user}: no group `{group}` in the image's /etc/group"
                    ))
                })?
            }
        },
    };
    Ok((uid, gid))
}

/// The image's layers unpacked (once) into the store, bottom first, and its config.
pub(crate) fn unpacked_layers(
    store: &Store,
    manifest: &Digest,
) -> Result<(Vec<PathBuf>, serde_json::Map<String, serde_json::Value>), StepFailure> {
    let (parsed, config) = read_image(store, manifest).map_err(internal)?;
    let diff_ids: Vec<&str> = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .map(|ids| ids.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if diff_ids.len() != parsed.layers().len() {
        return Err(internal(format!(
            "image {manifest}: {} layers but {} diff IDs",
            parsed.layers().len(),
            diff_ids.len()
        )));
    }
    let unpacked = store.private_dir("unpacked").map_err(internal)?;
    let mut lowers = Vec::new();
    for (layer, diff_id) in parsed.layers().iter().zip(diff_ids) {
        let blob: Digest = layer.digest().to_string().parse().map_err(internal)?;
        let diff_id: Digest = diff_id.parse().map_err(internal)?;
        let source = LayerSource {
            blob: &store.blob_path(&blob),
            digest: blob,
            diff_id,
        };
        let root = unpack_layer(&source, &unpacked.join(diff_id.hex()), &|hint| {
            store.temp_path(hint)
        })
        .map_err(sandbox_failure)?;
        lowers.push(root);
    }
    // A layer may appear twice (two steps that changed nothing give the same layer); overlayfs
    // refuses a directory twice. Keeping only the topmost copy shows the same files: it covers
    // every path the lower copy has.
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<PathBuf> = lowers
        .into_iter()
        .rev()
        .filter(|l| seen.insert(l.clone()))
        .collect();
    unique.reverse();
    Ok((unique, config))
}

/// The image's environment, then `extra` variables where the image does not set them, and a
/// `PATH` if there is none, as Docker runs steps.
fn environment(
    config: &serde_json::Map<String, serde_json::Value>,
    extra: &[String],
    extra_wins: bool,
) -> Vec<String> {
    let mut env: Vec<String> = config
        .get("config")
        .and_then(|c| c.get("Env"))
        .and_then(|e| e.as_array())
        .map(|vars| {
            vars.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let name_of = |var: &str| var.split_once('=').map_or(var, |(k, _)| k).to_owned();
    for var in extra {
        let name = name_of(var);
        match env.iter().position(|e| name_of(e) == name) {
            Some(i) if extra_wins => env[i] = var.clone(),
            Some(_) => {}
            None => env.push(var.clone()),
        }
    }
    if !env.iter().any(|e| name_of(e) == "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env
}

fn runtime() -> String {
    std::env::var("BLD_RUNTIME").unwrap_or_else(|_| "runc".to_owned())
}

fn sandbox_failure(e: bld_sandbox::SandboxError) -> StepFailure {
    match bld_core::Classify::kind(&e) {
        bld_core::ErrorKind::User => StepFailure::Command(e.to_string()),
        bld_core::ErrorKind::Internal => internal(e),
    }
}

/// Runs `step` over the image `manifest` and packs its changes into a layer.
pub(crate) fn run_step(
    store: &Store,
    secrets: &std::collections::HashMap<String, PathBuf>,
    manifest: &Digest,
    step: &RunStep,
    on_output: &dyn Fn(&str),
    binds: &BindSources<'_>,
) -> Result<LayerBlob, StepFailure> {
    let (lowers, config) = unpacked_layers(store, manifest)?;
    let (uid, gid) = resolve_user(&step.user, &lowers)?;
    // Build args are in the step's environment, under the image's ENV.
    let env = environment(&config, &step.env, false);
    let work_dir = store.temp_path("run");
    let (mounts, overlays) = step_mounts(store, secrets, step, &work_dir, binds)?;
    let targets: Vec<String> = mounts
        .iter()
        .map(|m| m.target.trim_start_matches('/').to_owned())
        .collect();
    let spec = RunSpec {
        lowers,
        work_dir: work_dir.clone(),
        args: step.args.clone(),
        env,
        cwd: step.cwd.clone(),
        uid,
        gid,
        host_network: step.host_network,
        runtime: runtime(),
        state_dir: store.private_dir("containers").map_err(internal)?,
        attach: false,
        mounts,
        overlays,
    };
    let layer = run(&spec, on_output)
        .map_err(sandbox_failure)
        .and_then(|outcome| {
            if outcome.exit_code != 0 {
                let text = String::from_utf8_lossy(&outcome.output);
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n");
                return Err(StepFailure::Command(format!(
                    "{} exited with code {}{}",
                    step.origin,
                    outcome.exit_code,
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; its output ends with:\n{tail}")
                    }
                )));
            }
            pack_changes(
                store,
                &outcome.upper,
                &work_dir,
                step.mtime,
                &targets,
                &step.volumes,
            )
        });
    let _ = fs::remove_dir_all(&work_dir);
    layer
}

/// Reaps what bld processes that were killed left behind in `store`: their containers are
/// killed and deleted, then their temporary files (half-written blobs, run directories with
/// copies of the context, half-unpacked layers) removed. Every build and run starts with it.
pub fn reap_abandoned(store: &Store) {
    if let Ok(state_dir) = store.private_dir("containers") {
        bld_sandbox::reap_abandoned(&state_dir);
    }
    store.remove_abandoned_temps();
}

/// Stops what this process has running in `store` (when it is interrupted): kills and deletes
/// its containers (their mounts go with their mount namespaces) and removes its temporary
/// files.
pub fn stop_own_work(store: &Store) {
    let own = |owner: &str| owner == bld_core::current_owner();
    // A step being stopped may still be tearing down (its mounts, its run directory) for a
    // moment: try again for up to a second until nothing of this process is left.
    for _ in 0..20 {
        if let Ok(state_dir) = store.private_dir("containers") {
            bld_sandbox::reap_containers(&state_dir, &own);
        }
        if store.remove_own_temps() == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What `bld run` asks of a container, over the image's own configuration.
#[derive(Debug, Default)]
pub struct ContainerRequest {
    /// Arguments replacing the image's `CMD` (empty: keep it).
    pub command: Vec<String>,
    /// `KEY=VALUE` variables added to or replacing the image's.
    pub env: Vec<String>,
    /// Working directory instead of the image's.
    pub workdir: Option<String>,
    /// `UID[:GID]` instead of the image's `USER`.
    pub user: Option<String>,
    /// Share the host's network.
    pub host_network: bool,
}

/// Runs a container from the image `manifest` with stdout and stderr attached, as
/// `docker run --rm` does (ENTRYPOINT + CMD, the command replacing CMD); returns its exit code.
pub fn run_image(
    store: &Store,
    manifest: &Digest,
    request: &ContainerRequest,
) -> Result<i32, crate::ExecError> {
    let fail = |failure: StepFailure| {
        let (message, kind) = match failure {
            StepFailure::Command(m) => (m, bld_core::ErrorKind::User),
            StepFailure::Internal(m) => (m, bld_core::ErrorKind::Internal),
        };
        crate::ExecError {
            owner: manifest.to_string(),
            output: "container".to_owned(),
            message,
            kind,
        }
    };
    reap_abandoned(store);
    let (lowers, config) = unpacked_layers(store, manifest).map_err(fail)?;
    let image = config.get("config").cloned().unwrap_or_default();
    let strings = |key: &str| -> Vec<String> {
        image
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut args = strings("Entrypoint");
    args.extend(if request.command.is_empty() {
        strings("Cmd")
    } else {
        request.command.clone()
    });
    if args.is_empty() {
        return Err(fail(StepFailure::Command(
            "the image has no ENTRYPOINT or CMD: give a command".to_owned(),
        )));
    }
    let user = request
        .user
        .clone()
        .or_else(|| {
            image
                .get("User")
                .and_then(|u| u.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let (uid, gid) = resolve_user(&user, &lowers).map_err(fail)?;
    let cwd = request
        .workdir
        .clone()
        .or_else(|| {
            image
                .get("WorkingDir")
                .and_then(|w| w.as_str())
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "/".to_owned());
    let work_dir = store.temp_path("container");
    let spec = RunSpec {
        lowers,
        work_dir: work_dir.clone(),
        args,
        env: environment(&config, &request.env, true),
        cwd,
        uid,
        gid,
        host_network: request.host_network,
        runtime: runtime(),
        state_dir: store
            .private_dir("containers")
            .map_err(|e| fail(internal(e)))?,
        attach: true,
        mounts: Vec::new(),
        overlays: Vec::new(),
    };
    let outcome = run(&spec, &|_| {}).map_err(|e| fail(sandbox_failure(e)));
    let _ = fs::remove_dir_all(&work_dir);
    Ok(outcome?.exit_code)
}

/// The step's `RUN --mount`s as sandbox mounts: cache directories in the store (created with
/// their mode and owner), tmpfs, binds of images (overlays of their layers) and of the
/// context, and secrets and inline files written into the run's directory with their mode and
/// owner (then removed with it). A writable bind's writes stay in the run's directory.
fn step_mounts(
    store: &Store,
    secrets: &std::collections::HashMap<String, PathBuf>,
    step: &RunStep,
    work_dir: &Path,
    binds: &BindSources<'_>,
) -> Result<(Vec<SandboxMount>, Vec<BindOverlay>), StepFailure> {
    use std::os::unix::fs::PermissionsExt;
    let mut mounts = Vec::new();
    let mut overlays = Vec::new();
    let mut images = binds.images.iter();
    fs::create_dir_all(work_dir).map_err(internal)?;
    for mount in &step.mounts {
        match mount {
            RunMount::BindImage {
                target,
                source,
                writable,
                ..
            } => {
                let manifest = images
                    .next()
                    .ok_or_else(|| internal("a bind mount's image has no output"))?;
                let (lowers, _) = unpacked_layers(store, manifest)?;
                let mountpoint = work_dir.join(format!("bind-{}", overlays.len()));
                // Resolved inside the image, as if its root were `/`: a symlink or `..` in
                // the source cannot name a host path.
                let image = LayerStack::new(&lowers);
                let inside = image
                    .resolve(source, true)
                    .ok()
                    .filter(|inside| image.exists(inside))
                    .ok_or_else(|| {
                        StepFailure::Command(format!(
                            "{}: --mount source={source}: no such file or directory in the image",
                            step.origin
                        ))
                    })?;
                let source = if inside.is_empty() {
                    mountpoint.clone()
                } else {
                    mountpoint.join(inside)
                };
                overlays.push(BindOverlay {
                    lowers,
                    mountpoint,
                    writable: *writable,
                });
                mounts.push(SandboxMount {
                    target: target.clone(),
                    kind: MountKind::Bind {
                        source,
                        read_only: !writable,
                    },
                });
            }
            RunMount::BindContext {
                target,
                source,
                entries,
                writable,
            } => {
                let view = work_dir.join(format!("context-{}", mounts.len()));
                context_view(binds.exec_root, entries, &view).map_err(|e| {
                    StepFailure::Command(format!(
                        "{}: --mount source={source}: cannot show the build context: {e}",
                        step.origin
                    ))
                })?;
                mounts.push(SandboxMount {
                    target: target.clone(),
                    kind: MountKind::Bind {
                        source: view,
                        read_only: !writable,
                    },
                });
            }
            RunMount::Inline {
                target,
                content,
                mode,
            } => {
                let file = work_dir.join(format!("inline-{}", mounts.len()));
                fs::write(&file, content).map_err(internal)?;
                fs::set_permissions(&file, fs::Permissions::from_mode(*mode)).map_err(internal)?;
                mounts.push(SandboxMount {
                    target: target.clone(),
                    kind: MountKind::Bind {
                        source: file,
                        read_only: true,
                    },
                });
            }
            RunMount::Cache {
                target,
                id,
                mode,
                uid,
                gid,
            } => {
                let dir = store
                    .private_dir("cache-mounts")
                    .map_err(internal)?
                    .join(Digest::of(id.as_bytes()).hex());
                if !dir.is_dir() {
                    fs::create_dir_all(&dir).map_err(internal)?;
                    fs::set_permissions(&dir, fs::Permissions::from_mode(*mode))
                        .map_err(internal)?;
                    std::os::unix::fs::chown(&dir, Some(*uid), Some(*gid)).map_err(internal)?;
                }
                mounts.push(SandboxMount {
                    target: target.clone(),
                    kind: MountKind::Bind {
                        source: dir,
                        read_only: false,
                    },
                });
            }
            RunMount::Tmpfs { target, size } => {
                mounts.push(SandboxMount {
                    target: target.clone(),
                    kind: MountKind::Tmpfs { size: *size },
                });
            }
            RunMount::Secret {
                id,
                target,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(source) = secrets.get(id) else {
                    if *required {
                        return Err(StepFailure::Command(format!(
                            "{}: the secret `{id}` was not given: `bld build --secret id={id},src=FILE`",
                            step.origin
                        )));
                    }
                    continue;
                };
                mounts.push(SandboxMount {
                    target: target.clone(),
                    kind: MountKind::Secret {
                        source: source.clone(),
                        mode: *mode,
                        uid: *uid,
                        gid: *gid,
                    },
                });
            }
        }
    }
    Ok((mounts, overlays))
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

fn pack_changes(
    store: &Store,
    upper: &Path,
    work_dir: &Path,
    mtime: u64,
    mount_targets: &[String],
    volumes: &[String],
) -> Result<LayerBlob, StepFailure> {
    let empty: PathBuf = work_dir.join("whiteout");
    fs::write(&empty, b"").map_err(internal)?;
    let mut changes = upper_changes(upper).map_err(internal)?;
    // Mount points the runtime made for RUN --mount targets, and directories made only to hold
    // them, are not changes the step made.
    changes.retain(|c| !mount_targets.contains(&c.path));
    // What a step changes inside a declared VOLUME is discarded, as Docker does.
    changes.retain(|c| {
        !volumes.iter().any(|v| {
            c.path
                .starts_with(&format!("{}/", v.trim_start_matches('/')))
        })
    });
    // Each round drops the deepest such directories; a sorted set finds children in log time.
    loop {
        let before = changes.len();
        let paths: std::collections::BTreeSet<String> =
            changes.iter().map(|c| c.path.clone()).collect();
        changes.retain(|c| {
            let inside = format!("{}/", c.path);
            let holds_a_target = mount_targets.iter().any(|t| t.starts_with(&inside));
            let has_children = paths
                .range(inside.clone()..)
                .next()
                .is_some_and(|p| p.starts_with(&inside));
            !(matches!(c.kind, ChangeKind::Dir { opaque: false })
                && holds_a_target
                && !has_children)
        });
        if changes.len() == before {
            break;
        }
    }
    let mut items = Vec::with_capacity(changes.len());
    for change in changes {
        let (uid, gid, mode) = (change.uid, change.gid, change.mode);
        let kind = match change.kind {
            ChangeKind::Dir { opaque } => {
                let empty_dir = fs::read_dir(upper.join(&change.path))
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if MOUNT_POINTS.contains(&change.path.as_str()) && empty_dir && !opaque {
                    continue;
                }
                if opaque {
                    items.push(LayerItem {
                        path: format!("{}/.wh..wh..opq", change.path),
                        kind: ItemKind::File {
                            source: empty.clone(),
                            mode: 0,
                        },
                        uid: 0,
                        gid: 0,
                    });
                }
                ItemKind::Dir { mode }
            }
            ChangeKind::File { source } => ItemKind::File { source, mode },
            ChangeKind::Symlink { target } => ItemKind::Symlink { target },
            ChangeKind::Whiteout => {
                let (parent, name) = change
                    .path
                    .rsplit_once('/')
                    .map_or(("", change.path.as_str()), |(p, n)| (p, n));
                let path = if parent.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{parent}/.wh.{name}")
                };
                items.push(LayerItem {
                    path,
                    kind: ItemKind::File {
                        source: empty.clone(),
                        mode: 0,
                    },
                    uid: 0,
                    gid: 0,
                });
                continue;
            }
        };
        items.push(LayerItem {
            path: change.path,
            kind,
            uid,
            gid,
        });
    }
    pack_layer(store, &items, mtime).map_err(internal)
}

/// What `type=bind` mounts read: the manifests of their images (in mount order) and the
/// directory context paths resolve against.
pub(crate) struct BindSources<'a> {
    /// Each `BindImage` mount's image, in order.
    pub(crate) images: Vec<Digest>,
    /// Where `BindContext` sources are.
    pub(crate) exec_root: &'a Path,
}
