//! `COPY --from=<stage>` when the stage's files are known only once it is built: Docker's
//! copy rules applied to the image's merged filesystem (its unpacked layers, top layer first,
//! whiteouts and opaque directories honoured).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use bld_core::Digest;
use bld_dockerfile::context::{ContextEntry, ContextTree, CopyOptions, PlannedKind, plan_copy};
use bld_graph::CopyFromImage;
use bld_oci::{ItemKind, LayerBlob, LayerItem, pack_layer};
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
        let mut pending = vec![(lower.clone(), String::new())];
        while let Some((dir, relative)) = pending.pop() {
            for entry in fs::read_dir(&dir).map_err(Failure::internal)? {
                let entry = entry.map_err(Failure::internal)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if relative.is_empty() {
                    name
                } else {
                    format!("{relative}/{name}")
                };
                let full = entry.path();
                let meta = fs::symlink_metadata(&full).map_err(Failure::internal)?;
                let shadowed = hidden.contains(&path)
                    || ancestors(&path).any(|a| {
                        hidden_below.contains(a)
                            || hidden.contains(a)
                            || merged
                                .get(a)
                                .is_some_and(|m| !matches!(m.entry, ContextEntry::Dir { .. }))
                    });
                if meta.file_type().is_char_device() && meta.rdev() == 0 {
                    whiteouts.push(path);
                    continue;
                }
                if shadowed {
                    continue;
                }
                let mode = meta.mode() & 0o7777;
                let merged_entry = if meta.is_dir() {
                    if rustix::fs::getxattr(&full, "trusted.overlay.opaque", &mut [0u8; 4])
                        .is_ok_and(|n| n > 0)
                    {
                        opaques.push(path.clone());
                    }
                    pending.push((full.clone(), path.clone()));
                    ContextEntry::Dir { mode }
                } else if meta.file_type().is_symlink() {
                    let target = fs::read_link(&full).map_err(Failure::internal)?;
                    ContextEntry::Symlink {
                        target: target.to_string_lossy().into_owned(),
                    }
                } else if meta.is_file() {
                    ContextEntry::File {
                        mode,
                        size: meta.len(),
                    }
                } else {
                    continue;
                };
                merged.entry(path).or_insert(Merged {
                    entry: merged_entry,
                    source: full,
                });
            }
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
