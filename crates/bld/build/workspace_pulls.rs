//! The `oci_pull` images of a workspace build that name a tag: each resolved to a digest once,
//! and pinned in `bld.lock` at the workspace root, before anything runs. Later builds take the
//! digest from the lock without asking the registry (`--pull` asks again; `--locked` refuses
//! a change); the images themselves are fetched only when an action needs them.

use std::path::Path;

use bld_core::ImageReference;
use bld_graph::{Action, ActionGraph, ActionKind};
use bld_registry::{Lock, Locked, Platform};

use crate::Failure;

/// `graph` with each tag-named `oci_pull` image resolved (from `bld.lock` in
/// `workspace_root`, else the registry, always the registry with `pull`); the lock written
/// when it changed, each change said on stderr.
pub(super) fn resolve(
    graph: ActionGraph,
    workspace_root: &Path,
    pull: bool,
    locked: bool,
) -> Result<ActionGraph, Failure> {
    let unresolved = graph
        .actions()
        .any(|a| matches!(&a.kind, ActionKind::PullImage(p) if p.digest.is_none()));
    if !unresolved {
        return Ok(graph);
    }
    let path = workspace_root.join("bld.lock");
    let mut lock = Lock::read(&path)?;
    let mut changes = Vec::new();
    let mut resolved = ActionGraph::new();
    for action in graph.actions() {
        let mut action: Action = action.clone();
        if let ActionKind::PullImage(image) = &mut action.kind
            && image.digest.is_none()
        {
            let tag = image.tag.clone().unwrap_or_else(|| "latest".to_owned());
            let reference = ImageReference::parse(&format!("{}:{tag}", image.image))?;
            let name = reference.to_string();
            let locked_now = lock.get(&name, &image.platform).filter(|_| !pull);
            let entry = match locked_now {
                Some(entry) => entry,
                None => {
                    let platform = Platform::parse(&image.platform)?;
                    let (digest, repo_digest) = bld_registry::resolve(&reference, &platform)
                        .map_err(|e| {
                            Failure::user(format!("{} (`oci_pull` of {}): {e}", action.owner, name))
                        })?;
                    Locked {
                        digest,
                        repo_digest: Some(repo_digest),
                    }
                }
            };
            if let Some(change) = lock.set(&reference, &image.platform, entry) {
                if locked {
                    return Err(Failure::user(change.refused(&path)));
                }
                changes.push(change);
            }
            image.digest = Some(entry.digest);
        }
        resolved.add(action);
    }
    if !changes.is_empty() {
        lock.write(&path)?;
        for change in &changes {
            eprintln!("{}: {change}", path.display());
        }
    }
    Ok(resolved)
}
