//! `COPY --from=<stage>` when the stage's files are known only once it is built: Docker's
//! copy rules applied to the image's merged filesystem (its unpacked layers, top layer first,
//! whiteouts and opaque directories honoured).
//!
//! Special files are copied as Docker 20.10 (BuildKit, fsutil's copy) copies them: the names
//! of one file inside a copied directory stay hard links of each other (each source named
//! on the instruction is copied on its own, so two named sources never are); a FIFO is
//! left out; a character or block device becomes an empty regular file with its mode and
//! owner (fsutil passes Go's mode bits to `mknod`, which makes a regular file of them);
//! `security.capability` is kept, other extended attributes are not (Docker's layer holds
//! only that one, see `bld_oci::carries_xattr`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use bld_core::Digest;
use bld_dockerfile::context::{
    ContextEntry, ContextTree, CopyOptions, PlannedEntry, PlannedKind, destination_path, plan_copy,
};
use bld_graph::{CopyFromImage, EntryContent, Landing, LandingOf};
use bld_oci::{ItemKind, LayerBlob, LayerItem, pack_layer};
use bld_sandbox::{ChangeKind, OverlayWalk};
use bld_store::Store;

use super::probe_destination::read_landing;
use super::{Execute, Run};
use crate::hard_links::HardLinks;
use crate::image_fs::unpacked_layers;
use crate::{ActionOutput, Failure};

/// One path of the merged filesystem: how planning sees it, and where its bytes are.
struct Merged {
    entry: ContextEntry,
    /// The file's content; `None` for a device, copied as an empty file.
    source: Option<PathBuf>,
    /// Its owner in the image (uid, gid).
    owner: (u32, u32),
    /// Its inode when the file has other names (device and inode number).
    shared_inode: Option<(u64, u64)>,
    /// Its extended attributes.
    xattrs: Vec<(String, Vec<u8>)>,
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
                // A FIFO is not copied, but it hides what lower layers have at its path.
                ChangeKind::Whiteout | ChangeKind::Fifo => {
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
                    (ContextEntry::Dir { mode: change.mode }, None)
                }
                ChangeKind::Symlink { target } => (ContextEntry::Symlink { target }, None),
                ChangeKind::File { source } => (
                    ContextEntry::File {
                        mode: change.mode,
                        size: change.size,
                    },
                    Some(source),
                ),
                ChangeKind::Device { .. } => (
                    ContextEntry::File {
                        mode: change.mode,
                        size: 0,
                    },
                    None,
                ),
            };
            merged.entry(path).or_insert(Merged {
                entry: merged_entry,
                source,
                owner: (change.uid, change.gid),
                shared_inode: change.shared_inode,
                xattrs: change.xattrs,
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
        let landing = match &self.landing {
            Some(LandingOf::Known(landing)) => Some(landing.clone()),
            Some(LandingOf::Probed(input)) => Some(read_landing(run, input)?),
            None => None,
        };
        Ok(ActionOutput::from(copy_from_image(
            run.store(),
            &manifest,
            self,
            landing.as_ref(),
        )?))
    }
}

/// The layer item for one planned path, by Docker's rules: `--chmod` for what is copied, 0755
/// for directories made because the destination needs them (moby/moby#49851); `--chown`'s
/// owner for everything, else the owner in the image, root for made directories
/// (moby/moby#38599). A device's item is the file `empty`; a file inside a copied directory
/// is a hard link when `links` has met another name of it. `chown` is `--chown`'s owner,
/// resolved.
fn item(
    merged: &BTreeMap<String, Merged>,
    planned: PlannedEntry,
    (copy, chown): (&CopyFromImage, Option<(u32, u32)>),
    (links, empty): (&mut HardLinks, &Path),
) -> Result<LayerItem, Failure> {
    let source = match &planned.kind {
        PlannedKind::File { source }
        | PlannedKind::Dir {
            source: Some(source),
        }
        | PlannedKind::Symlink { source, .. } => merged.get(source),
        PlannedKind::Dir { source: None } => None,
    };
    let kind = match (planned.kind, source) {
        (
            PlannedKind::File { .. },
            Some(Merged {
                entry: ContextEntry::File { mode, .. },
                source: content,
                shared_inode,
                ..
            }),
        ) => {
            let mode = copy.chmod.unwrap_or(*mode);
            // Sources named on the instruction are copied one by one, never linked.
            let shared = shared_inode.filter(|_| !planned.top_level);
            match content {
                Some(content) => links.file_or_link(&planned.dest, shared, content.clone(), mode),
                None => ItemKind::File {
                    source: empty.to_owned(),
                    mode,
                },
            }
        }
        (PlannedKind::File { source }, _) => {
            return Err(Failure::internal(format!(
                "`{source}` is not a file in the image"
            )));
        }
        (
            PlannedKind::Dir { .. },
            Some(Merged {
                entry: ContextEntry::Dir { mode },
                ..
            }),
        ) => ItemKind::Dir {
            mode: copy.chmod.unwrap_or(*mode),
        },
        (PlannedKind::Dir { .. }, _) => ItemKind::Dir { mode: 0o755 },
        (PlannedKind::Symlink { target, .. }, _) => ItemKind::Symlink { target },
    };
    let (uid, gid) = match (chown, source) {
        (Some(owner), _) => owner,
        (None, Some(merged)) => merged.owner,
        (None, None) => (0, 0),
    };
    Ok(LayerItem {
        path: planned.dest,
        kind,
        uid,
        gid,
        xattrs: source.map(|m| m.xattrs.clone()).unwrap_or_default(),
    })
}

/// Copies what `copy` names out of the image `manifest` into a new layer, at the destination's
/// `landing` in the copying stage when it has one.
fn copy_from_image(
    store: &Store,
    manifest: &Digest,
    copy: &CopyFromImage,
    landing: Option<&Landing>,
) -> Result<LayerBlob, Failure> {
    // `--chown` by name: the owner its probe found.
    let chown = match landing {
        Some(landing) if copy.chown_from_landing => landing.user,
        _ => copy.chown,
    };
    let (lowers, _) = unpacked_layers(store, manifest)?;
    let merged = merge(&lowers)?;
    let tree = ContextTree::from_entries(merged.iter().map(|(p, m)| (p.as_str(), m.entry.clone())))
        .map_err(Failure::internal)?;
    let options = CopyOptions {
        workdir: copy.workdir.clone(),
        excludes: copy.excludes.clone(),
        parents: copy.parents,
    };
    let dest = landing.map_or_else(
        || copy.dest.clone(),
        |landing| landing.planning_dest(destination_path(&copy.workdir, &copy.dest).1),
    );
    let plan = plan_copy(&tree, &copy.sources, &dest, &options)
        .map_err(|e| Failure::user(e.in_stage()))?;
    // What a copied device becomes, written only if one is.
    let empty = store.temp_path("empty");
    let mut links = HardLinks::default();
    let mut items = Vec::with_capacity(plan.len());
    for planned in plan {
        items.push(item(&merged, planned, (copy, chown), (&mut links, &empty))?);
    }
    if let Some(landing) = landing {
        keep_existing_directories(&mut items, landing, chown.unwrap_or((0, 0)));
    }
    let uses_empty = items
        .iter()
        .any(|i| matches!(&i.kind, ItemKind::File { source, .. } if *source == empty));
    if uses_empty {
        std::fs::write(&empty, b"").map_err(Failure::internal)?;
    }
    let layer = pack_layer(store, &items, copy.mtime).map_err(Failure::internal);
    if uses_empty {
        let _ = std::fs::remove_file(&empty);
    }
    layer
}

/// The directories down to the destination as the copying stage has them: those that exist
/// keep their metadata (Docker's layer holds them as they are), made ones are 0755 for `owner`.
fn keep_existing_directories(items: &mut Vec<LayerItem>, landing: &Landing, owner: (u32, u32)) {
    for dir in landing.directories(owner) {
        let EntryContent::Dir { mode } = dir.content else {
            continue;
        };
        let exists = landing.existing.iter().any(|e| e.path == dir.path);
        match items.iter_mut().find(|item| item.path == dir.path) {
            Some(item) if exists => {
                item.kind = ItemKind::Dir { mode };
                (item.uid, item.gid) = (dir.uid, dir.gid);
            }
            Some(_) => {}
            None => items.push(LayerItem {
                path: dir.path,
                kind: ItemKind::Dir { mode },
                uid: dir.uid,
                gid: dir.gid,
                xattrs: Vec::new(),
            }),
        }
    }
}
