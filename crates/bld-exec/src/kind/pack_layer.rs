//! [`PackLayer`]: the entries, their modes chosen by their rule, packed by `bld-oci`.

use bld_graph::{EntryContent, FileMode, PackLayer};
use bld_oci::{ItemKind, LayerItem, pack_layer};

use super::probe_destination::read_landing;
use super::{Execute, Run};
use crate::{ActionOutput, Failure};

impl Execute for PackLayer {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let placed;
        let entries = match &self.below {
            Some(below) => {
                let landing = read_landing(run, &below.landing)?;
                placed = below
                    .place(&self.entries, &landing)
                    .map_err(Failure::user)?;
                &placed
            }
            None => &self.entries,
        };
        let items: Vec<LayerItem> = entries
            .iter()
            .map(|entry| LayerItem {
                path: entry.path.clone(),
                kind: item_kind(run, &entry.content),
                uid: entry.uid,
                gid: entry.gid,
                xattrs: Vec::new(),
            })
            .collect();
        let blob = pack_layer(run.store(), &items, self.mtime).map_err(Failure::of)?;
        Ok(ActionOutput::from(blob))
    }
}

fn item_kind(run: &Run<'_>, content: &EntryContent) -> ItemKind {
    match content {
        EntryContent::File { input, mode } => {
            let input_mode = run.identity(input).mode;
            let mode = match mode {
                FileMode::Exact(bits) => *bits,
                FileMode::KeepExecutableBit if input_mode & 0o100 != 0 => 0o755,
                FileMode::KeepExecutableBit => 0o644,
                FileMode::KeepPermissions => input_mode & 0o7777,
            };
            ItemKind::File {
                source: run.path_of(input),
                mode,
            }
        }
        EntryContent::Dir { mode } => ItemKind::Dir { mode: *mode },
        EntryContent::Archive { input } => ItemKind::Archive {
            source: run.path_of(input),
        },
        EntryContent::Symlink { target } => ItemKind::Symlink {
            target: target.clone(),
        },
    }
}
