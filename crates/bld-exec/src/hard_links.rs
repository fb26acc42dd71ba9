//! Hard links in the layers bld writes: the names of one file (one inode) become one regular
//! entry, the first in path order, and tar hard links to it — as Docker's layer writer makes
//! them, but chosen by sorted path rather than walk order, so the layer is deterministic.

use std::collections::HashMap;
use std::path::PathBuf;

use bld_oci::ItemKind;

/// The first name met of each file with several names.
#[derive(Default)]
pub(crate) struct HardLinks {
    first_names: HashMap<(u64, u64), String>,
}

impl HardLinks {
    /// The layer entry for the regular file `source` at `path`, met in path order: the file
    /// itself, or a hard link to the first name met of its inode `shared` (device and inode
    /// number, `None` when it has one name).
    pub(crate) fn file_or_link(
        &mut self,
        path: &str,
        shared: Option<(u64, u64)>,
        source: PathBuf,
        mode: u32,
    ) -> ItemKind {
        let Some(inode) = shared else {
            return ItemKind::File { source, mode };
        };
        match self.first_names.get(&inode) {
            Some(first) => ItemKind::HardLink {
                target: first.clone(),
            },
            None => {
                self.first_names.insert(inode, path.to_owned());
                ItemKind::File { source, mode }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_name_of_an_inode_is_the_file_and_the_others_link_to_it() {
        let mut links = HardLinks::default();
        let mut kind =
            |path: &str, shared| match links.file_or_link(path, shared, "s".into(), 0o644) {
                ItemKind::File { .. } => "file".to_owned(),
                ItemKind::HardLink { target } => format!("link to {target}"),
                other => format!("{other:?}"),
            };
        assert_eq!(kind("a/h0", Some((1, 7))), "file");
        assert_eq!(kind("a/h1", Some((1, 7))), "link to a/h0");
        assert_eq!(kind("a/other", Some((1, 8))), "file");
        assert_eq!(kind("a/single", None), "file");
        assert_eq!(kind("b/h2", Some((1, 7))), "link to a/h0");
        assert_eq!(kind("b/same-inode-other-device", Some((2, 7))), "file");
    }
}
