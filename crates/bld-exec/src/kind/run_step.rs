//! [`RunStep`]: the command run in the sandbox over the image's unpacked layers, its changes
//! packed into a layer.

mod mounts;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use bld_graph::{RunMount, RunStep};
use bld_oci::{ItemKind, LayerBlob, LayerItem, pack_layer};
use bld_sandbox::{
    ChangeKind, Identity, RunSpec, adopt_upper, etc_files, run, unpacked_dir, upper_changes,
};
use bld_store::Store;

use super::{Execute, Run};
use crate::hard_links::HardLinks;
use crate::image_fs::{environment, resolve_user, step_runtime, unpacked_layers};
use crate::{ActionOutput, Failure};

/// Directories the runtime creates as mount points; an empty one in the upper directory is
/// not a change the step made.
const MOUNT_POINTS: &[&str] = &["dev", "dev/mqueue", "dev/pts", "dev/shm", "proc", "sys"];

/// How many lines of a failed step's output an error shows.
const OUTPUT_TAIL_LINES: usize = 20;

impl Execute for RunStep {
    /// Runs the step over its image and packs its changes into a layer.
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let manifest = run.image(&self.image, "the image RUN runs over")?;
        let mut images = Vec::new();
        for mount in &self.mounts {
            if let RunMount::BindImage { image, .. } = mount {
                images.push(run.image(image, "a bind mount's image")?);
            }
        }
        let binds = mounts::BindSources {
            images,
            exec_root: &run.context.workspace_root,
            secrets: &run.context.secrets,
            ssh_agents: &run.context.ssh_agents,
        };
        let store = run.store();
        let work_dir = store.temp_path("run");
        let layer = run_in(store, &manifest, self, &work_dir, &binds, run.on_output);
        let _ = fs::remove_dir_all(&work_dir);
        Ok(ActionOutput::from(layer?))
    }
}

fn run_in(
    store: &Store,
    manifest: &bld_core::Digest,
    step: &RunStep,
    work_dir: &Path,
    binds: &mounts::BindSources<'_>,
    on_output: &dyn Fn(&str),
) -> Result<LayerBlob, Failure> {
    let (lowers, config) = unpacked_layers(store, manifest)?;
    let user = resolve_user(&step.user, &lowers)?;
    // Build args are in the step's environment, under the image's ENV.
    let mut env = environment(&config, &step.env, false);
    // The first SSH agent the step mounts is its SSH_AUTH_SOCK, as in BuildKit.
    let agent = step.mounts.iter().find_map(|mount| match mount {
        RunMount::Ssh { id, target, .. } if binds.ssh_agents.contains_key(id) => Some(target),
        _ => None,
    });
    if let Some(target) = agent
        && !env.iter().any(|var| var.starts_with("SSH_AUTH_SOCK="))
    {
        env.push(format!("SSH_AUTH_SOCK={target}"));
    }
    let (step_mounts, overlays) = mounts::step_mounts(store, step, work_dir, binds)?;
    // BuildKit's /etc/hosts and /etc/resolv.conf first: a step's own mounts may cover them.
    let mut mounts = etc_files(
        work_dir,
        &Identity::BuildStep,
        step.host_network,
        &step.extra_hosts,
    )
    .map_err(Failure::internal)?;
    mounts.extend(step_mounts);
    let targets: Vec<String> = mounts
        .iter()
        .map(|m| m.target.trim_start_matches('/').to_owned())
        .collect();
    let spec = RunSpec {
        lowers,
        work_dir: work_dir.to_owned(),
        args: step.args.clone(),
        env,
        cwd: step.cwd.clone(),
        uid: user.uid,
        gid: user.gid,
        additional_gids: user.groups,
        hostname: Identity::BuildStep.hostname().to_owned(),
        host_network: step.host_network,
        network_namespace: None,
        runtime: step_runtime(),
        state_dir: store.private_dir("containers").map_err(Failure::of)?,
        attach: false,
        log: None,
        stdin: false,
        terminal: None,
        read_only: false,
        cap_add: Vec::new(),
        cap_drop: Vec::new(),
        mounts,
        overlays,
    };
    let outcome = run(&spec, on_output).map_err(Failure::of)?;
    if outcome.exit_code != 0 {
        return Err(command_failed(step, outcome.exit_code, &outcome.output));
    }
    let (layer, paths) = pack_changes(
        store,
        &outcome.upper,
        work_dir,
        step.mtime,
        &targets,
        &step.volumes,
    )?;
    // The next step over this layer mounts the upper directory itself rather than unpacking
    // the layer again; when that cannot be done, the layer is unpacked as any other.
    if let Ok(unpacked) = store.private_dir("unpacked") {
        let dir = unpacked_dir(&unpacked, &layer.diff_id);
        let _ = adopt_upper(&outcome.upper, &paths, step.mtime, &dir, &|hint| {
            store.temp_path(hint)
        });
    }
    Ok(layer)
}

/// BuildKit's message for a failed step, with the end of its output.
fn command_failed(step: &RunStep, exit_code: i32, output: &[u8]) -> Failure {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n");
    let mut message = format!(
        "process \"{}\" did not complete successfully: exit code: {exit_code}",
        step.args.join(" ").trim_end().replace('\n', "\\n")
    );
    if !tail.is_empty() {
        message.push_str(&format!("; its output ends with:\n{tail}"));
    }
    Failure::user(message)
}

/// Packs the changes recorded in the overlay upper directory `upper` into a layer in `store`,
/// as a `RUN` step's are (without its volumes), leaving out the runtime's mount points at
/// `mount_targets` and the directories made only to hold them; `work_dir` holds the empty file
/// whiteouts are written from. What the benchmarks time as a step's capture.
pub fn pack_upper(
    store: &Store,
    upper: &Path,
    work_dir: &Path,
    mtime: u64,
    mount_targets: &[String],
) -> Result<LayerBlob, crate::ExecError> {
    let packed = pack_changes(store, upper, work_dir, mtime, mount_targets, &[]);
    packed
        .map(|(layer, _)| layer)
        .map_err(|failure| crate::ExecError {
            owner: String::new(),
            output: upper.display().to_string(),
            origin: None,
            message: failure.message,
            kind: failure.kind,
            rest: None,
        })
}

fn pack_changes(
    store: &Store,
    upper: &Path,
    work_dir: &Path,
    mtime: u64,
    mount_targets: &[String],
    volumes: &[String],
) -> Result<(LayerBlob, HashSet<String>), Failure> {
    // The empty file whiteouts and opaque markers are written from, made at the first one.
    let whiteout: PathBuf = work_dir.join("whiteout");
    let mut made = false;
    let mut empty = || -> Result<&Path, Failure> {
        if !made {
            fs::write(&whiteout, b"").map_err(Failure::internal)?;
            made = true;
        }
        Ok(&whiteout)
    };
    let mut changes = upper_changes(upper).map_err(Failure::of)?;
    drop_unmade_changes(&mut changes, mount_targets, volumes);
    let mut hard_links = HardLinks::default();
    let mut items = Vec::with_capacity(changes.len());
    // What the layer holds, a whiteout by the path it deletes (as unpacking makes it).
    let mut paths = HashSet::with_capacity(changes.len());
    for change in changes {
        let mode = change.mode;
        let kind = match change.kind {
            ChangeKind::Dir { opaque } => {
                if is_empty_mount_point(upper, &change) {
                    continue;
                }
                if opaque {
                    items.push(marker(format!("{}/.wh..wh..opq", change.path), empty()?));
                }
                ItemKind::Dir { mode }
            }
            ChangeKind::File { source } => {
                hard_links.file_or_link(&change.path, change.shared_inode, source, mode)
            }
            ChangeKind::Symlink { target } => ItemKind::Symlink { target },
            ChangeKind::Fifo => ItemKind::Fifo { mode },
            ChangeKind::Device {
                block,
                major,
                minor,
            } => ItemKind::Device {
                block,
                major,
                minor,
                mode,
            },
            ChangeKind::Whiteout => {
                let path = match change.path.rsplit_once('/') {
                    Some((parent, name)) => format!("{parent}/.wh.{name}"),
                    None => format!(".wh.{}", change.path),
                };
                items.push(marker(path, empty()?));
                paths.insert(change.path);
                continue;
            }
        };
        paths.insert(change.path.clone());
        items.push(LayerItem {
            path: change.path,
            kind,
            uid: change.uid,
            gid: change.gid,
            xattrs: change.xattrs,
        });
    }
    let layer = pack_layer(store, &items, mtime).map_err(Failure::of)?;
    Ok((layer, paths))
}

/// Whether `change` is only a mount point the runtime made (`/dev`, `/proc`, …) and left
/// empty in the upper directory `upper`. Only a mount point's directory is listed: one
/// `read_dir` per directory of a large tree costs more than all the rest of the walk.
pub(crate) fn is_empty_mount_point(upper: &Path, change: &bld_sandbox::Change) -> bool {
    matches!(change.kind, ChangeKind::Dir { opaque: false })
        && MOUNT_POINTS.contains(&change.path.as_str())
        && fs::read_dir(upper.join(&change.path)).is_ok_and(|mut d| d.next().is_none())
}

/// An empty whiteout or opaque marker owned by root.
fn marker(path: String, empty: &Path) -> LayerItem {
    LayerItem {
        path,
        kind: ItemKind::File {
            source: empty.to_owned(),
            mode: 0,
        },
        uid: 0,
        gid: 0,
        xattrs: Vec::new(),
    }
}

/// Drops what the step did not make: mount points the runtime made for `RUN --mount`
/// targets and directories made only to hold them, and changes inside declared `VOLUME`s
/// (discarded, as Docker does).
pub(crate) fn drop_unmade_changes(
    changes: &mut Vec<bld_sandbox::Change>,
    mount_targets: &[String],
    volumes: &[String],
) {
    let volumes: Vec<String> = volumes
        .iter()
        .map(|v| format!("{}/", v.trim_start_matches('/')))
        .collect();
    changes.retain(|c| {
        !mount_targets.contains(&c.path) && !volumes.iter().any(|v| c.path.starts_with(v))
    });
    let held_only = directories_holding_only_targets(changes, mount_targets);
    if !held_only.is_empty() {
        changes.retain(|c| !held_only.contains(c.path.as_str()));
    }
}

/// The plain (not opaque) directories among `changes` that hold a mount target and nothing
/// else once such directories below them are gone. Only the targets' ancestors can be such, so
/// they alone are looked at, deepest first, each against a sorted set of what is left.
fn directories_holding_only_targets(
    changes: &[bld_sandbox::Change],
    mount_targets: &[String],
) -> std::collections::HashSet<String> {
    let mut dropped = std::collections::HashSet::new();
    let ancestors: std::collections::BTreeSet<&str> = mount_targets
        .iter()
        .flat_map(|t| t.match_indices('/').map(|(end, _)| &t[..end]))
        .collect();
    if ancestors.is_empty() {
        return dropped;
    }
    let mut ancestors: Vec<&str> = ancestors.into_iter().collect();
    ancestors.sort_by_key(|a| std::cmp::Reverse(a.len()));
    let plain_dirs: std::collections::HashSet<&str> = changes
        .iter()
        .filter(|c| matches!(c.kind, ChangeKind::Dir { opaque: false }))
        .map(|c| c.path.as_str())
        .collect();
    let mut left: std::collections::BTreeSet<&str> =
        changes.iter().map(|c| c.path.as_str()).collect();
    for dir in ancestors {
        if !plain_dirs.contains(dir) {
            continue;
        }
        let inside = format!("{dir}/");
        let has_children = left
            .range(inside.as_str()..)
            .next()
            .is_some_and(|p| p.starts_with(&inside));
        if !has_children {
            left.remove(dir);
            dropped.insert(dir.to_owned());
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use bld_sandbox::{Change, ChangeKind};

    fn change(path: &str, kind: ChangeKind) -> Change {
        Change {
            path: path.to_owned(),
            kind,
            size: 0,
            mode: 0o755,
            uid: 0,
            gid: 0,
            shared_inode: None,
            xattrs: Vec::new(),
        }
    }

    #[test]
    fn only_directories_made_to_hold_mount_targets_are_dropped() {
        let dir = ChangeKind::Dir { opaque: false };
        let file = ChangeKind::File {
            source: "/dev/null".into(),
        };
        let mut changes = vec![
            change("a", dir.clone()),
            change("a/b", dir.clone()),
            change("a/b/c", dir.clone()),
            change("a/b-sibling", file.clone()),
            change("d", dir.clone()),
            change("d/e", dir.clone()),
            change("d/e/t", dir.clone()),
            change("o", ChangeKind::Dir { opaque: true }),
            change("o/t", dir.clone()),
            change("v/x", file.clone()),
            change("vv", file),
        ];
        let targets = ["a/b/c", "d/e/t", "o/t"].map(String::from);
        super::drop_unmade_changes(&mut changes, &targets, &["/v".to_owned()]);
        let left: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        // `a` holds a file the step wrote; `o` replaced a lower directory whole.
        assert_eq!(left, ["a", "a/b-sibling", "o", "vv"]);
    }
}
