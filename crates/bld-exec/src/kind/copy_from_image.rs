//! `COPY --from=<stage>` when the stage's files are known only once it is built: Docker's
//! copy rules applied to the image's merged filesystem (its unpacked layers, top layer first,
//! whiteouts and opaque directories honoured).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use bld_core::Digest;
use bld_dockerfile::context::{ContextEntry, ContextTree, CopyOptions, PlannedKind, plan_copy};
use bld_graph::CopyFromImage;
use bld_oci::{ItemKind, LayerBlob, LayerItem, pack_layer};
use bld_sandbox::{ChangeKind, OverlayWalk};
use bld_store::Store;

use super::{Execute, Run};
use crate::image_fs::unpacked_layers;
use crate::{ActionOutput, Failure};

/// One path of the merged filesystem: how planning sees it, and where its bytes are.
struct Merged {
    entry: ContextEntry,
    source: PathBuf,
}

/// The merged view of `lowers` (bottom first), as overlayfs would show it.
fn merge(lowers: &[PathBuf]) -> Result<BTreeMap<String, Merged>, Failure> {
    let mut merged: BTreeMap<String, Merged> = BTreeMap::new();
    let mut hidden: HashSet<String> = HashSet::new(); // deleted paths
    let mut hidden_below: HashSet<String> = HashSet::new(); // opaque directories
    for lower in lowers.iter().rev() {
        let (mut whiteouts, mut opaques) = (Vec::new(), Vec::new());
        let mut walk = OverlayWalk::new(lower);
        while let Some(change) = walk.next() {
            let change = change.map_err(|e| {
                Failure::internal(match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                })
            })?;
            let path = change.path;
            let shadowed = hidden.contains(&path)
                || ancestors(&path).any(|a| {
                    hidden_below.contains(a)
                        || hidden.contains(a)
                        || merged
                            .get(a)
                            .is_some_and(|m| !matches!(m.entry, ContextEntry::Dir { .. }))
                });
            let (merged_entry, source) = match change.kind {
                ChangeKind::Whiteout => {
                    whiteouts.push(path);
                    continue;
                }
                ChangeKind::Dir { .. } if shadowed => {
                    walk.skip_contents();
                    continue;
                }
                _ if shadowed => continue,
                ChangeKind::Dir { opaque } => {
                    if opaque {
                        opaques.push(path.clone());
                    }
                    (ContextEntry::Dir { mode: change.mode }, lower.join(&path))
                }
                ChangeKind::Symlink { target } => {
                    (ContextEntry::Symlink { target }, lower.join(&path))
                }
                ChangeKind::File { source } => (
                    ContextEntry::File {
                        mode: change.mode,
                        size: change.size,
                    },
                    source,
                ),
            };
            merged.entry(path).or_insert(Merged {
                entry: merged_entry,
                source,
            });
        }
        hidden.extend(whiteouts);
        hidden_below.extend(opaques);
    }
    Ok(merged)
}

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

impl Execute for CopyFromImage {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let manifest = run.image(&self.image, "COPY --from")?;
        Ok(ActionOutput::from(copy_from_image(
            run.store(),
            &manifest,
            self,
        )?))
    }
}

/// Copies what `copy` names out of the image `manifest` into a new layer.
fn copy_from_image(
    store: &Store,
    manifest: &Digest,
    copy: &CopyFromImage,
) -> Result<LayerBlob, Failure> {
    let (lowers, _) = unpacked_layers(store, manifest)?;
    let merged = merge(&lowers)?;
    let tree = ContextTree::from_entries(merged.iter().map(|(p, m)| (p.as_str(), m.entry.clone())))
        .map_err(Failure::internal)?;
    let options = CopyOptions {
        workdir: copy.workdir.clone(),
        excludes: copy.excludes.clone(),
        parents: copy.parents,
    };
    let plan = plan_copy(&tree, &copy.sources, &copy.dest, &options)
        .map_err(|e| Failure::user(e.to_string()))?;
    let (uid, gid) = copy.chown.unwrap_or((0, 0));
    let mut items = Vec::with_capacity(plan.len());
    for planned in plan {
        let kind = match planned.kind {
            PlannedKind::File { source } => {
                let Some(Merged {
                    entry: ContextEntry::File { mode, .. },
                    source: path,
                }) = merged.get(&source)
                else {
                    return Err(Failure::internal(format!(
                        "`{source}` is not a file in the image"
                    )));
                };
                ItemKind::File {
                    source: path.clone(),
                    mode: copy.chmod.unwrap_or(*mode),
                }
            }
            PlannedKind::Dir { source } => {
                let mode = source
                    .and_then(|s| match merged.get(&s).map(|m| &m.entry) {
                        Some(ContextEntry::Dir { mode }) => Some(*mode),
                        _ => None,
                    })
                    .unwrap_or(0o755);
                ItemKind::Dir {
                    mode: copy.chmod.unwrap_or(mode),
                }
            }
            PlannedKind::Symlink { target } => ItemKind::Symlink { target },
        };
        items.push(LayerItem {
            path: planned.dest,
            kind,
            uid,
            gid,
        });
    }
    pack_layer(store, &items, copy.mtime).map_err(Failure::internal)
}
