//! Reading what a step changed from the overlay upper directory, and walking any directory in
//! overlayfs's format (an unpacked layer too).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::{SandboxError, io_error};

/// One change a step made (or, walking an unpacked layer, one entry the layer holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// What it is now.
    pub kind: ChangeKind,
    /// Size in bytes of a regular file (0 for anything else).
    pub size: u64,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// What a changed path is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// A regular file, read from `source`.
    File {
        /// Where its content is.
        source: PathBuf,
    },
    /// A directory; `opaque` when it replaced a lower one whole (its old contents are gone).
    Dir {
        /// Whether it hides everything below it in lower layers.
        opaque: bool,
    },
    /// A symbolic link.
    Symlink {
        /// Its target.
        target: String,
    },
    /// Deleted.
    Whiteout,
}

/// Every change recorded in `upper`, sorted by path (parents before children).
pub fn upper_changes(upper: &Path) -> Result<Vec<Change>, SandboxError> {
    let mut changes = OverlayWalk::new(upper).collect::<Result<Vec<_>, _>>()?;
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// The entries of a directory in overlayfs's format — an upper directory, or a layer unpacked
/// for overlayfs — each read as a [`Change`] (whiteouts are 0/0 character devices, opaque
/// directories carry `trusted.overlay.opaque`); sockets and other special files are passed
/// over. A directory comes before what it holds.
///
/// The tree may be an image's or a step's making: no symlink is followed or `stat`ed through
/// (only the root may be one), and the walk keeps its own stack, so no depth of tree exhausts
/// bld's.
pub struct OverlayWalk {
    root: PathBuf,
    entries: walkdir::IntoIter,
}

impl OverlayWalk {
    /// Walks the directory `root`.
    pub fn new(root: &Path) -> OverlayWalk {
        OverlayWalk {
            root: root.to_owned(),
            entries: WalkDir::new(root)
                .min_depth(1)
                .follow_links(false)
                .into_iter(),
        }
    }

    /// Does not walk into the directory yielded last (call it only after a directory).
    pub fn skip_contents(&mut self) {
        self.entries.skip_current_dir();
    }

    /// `entry` as a change, `None` for a special file.
    fn read(&self, entry: &walkdir::DirEntry) -> Result<Option<Change>, SandboxError> {
        let full = entry.path();
        let meta = entry
            .metadata()
            .map_err(|e| io_error("stat", full)(e.into()))?;
        let file_type = meta.file_type();
        let kind = if file_type.is_char_device() && meta.rdev() == 0 {
            ChangeKind::Whiteout
        } else if file_type.is_dir() {
            let opaque = rustix::fs::lgetxattr(full, "trusted.overlay.opaque", &mut [0u8; 4])
                .is_ok_and(|n| n > 0);
            ChangeKind::Dir { opaque }
        } else if file_type.is_symlink() {
            let target = fs::read_link(full).map_err(io_error("read link", full))?;
            ChangeKind::Symlink {
                target: target.to_string_lossy().into_owned(),
            }
        } else if file_type.is_file() {
            ChangeKind::File {
                source: full.to_owned(),
            }
        } else {
            return Ok(None);
        };
        let relative = full.strip_prefix(&self.root).unwrap_or(full);
        Ok(Some(Change {
            path: relative.to_string_lossy().into_owned(),
            kind,
            size: if file_type.is_file() { meta.len() } else { 0 },
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }))
    }
}

impl Iterator for OverlayWalk {
    type Item = Result<Change, SandboxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.entries.next()? {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e.path().unwrap_or(&self.root).to_owned();
                    return Some(Err(io_error("list", &path)(e.into())));
                }
            };
            if let Some(change) = self.read(&entry).transpose() {
                return Some(change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn overlay_walks_read_every_kind_and_never_follow_a_symlink() {
        let outside = tempfile::tempdir().expect("tempdir");
        fs::write(outside.path().join("secret"), "host").expect("write");
        let root = tempfile::tempdir().expect("tempdir");
        let upper = root.path();
        fs::create_dir_all(upper.join("a/b")).expect("mkdir");
        fs::write(upper.join("a/b/file"), "12345").expect("write");
        symlink(outside.path(), upper.join("a/link")).expect("symlink");
        crate::make_whiteout(&upper.join("gone"));
        let changes = upper_changes(upper).expect("changes");
        let file = changes.iter().find(|c| c.path == "a/b/file").expect("file");
        assert_eq!(file.size, 5);
        let kinds: Vec<(String, ChangeKind)> =
            changes.into_iter().map(|c| (c.path, c.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("a".to_owned(), ChangeKind::Dir { opaque: false }),
                ("a/b".to_owned(), ChangeKind::Dir { opaque: false }),
                (
                    "a/b/file".to_owned(),
                    ChangeKind::File {
                        source: upper.join("a/b/file")
                    }
                ),
                (
                    "a/link".to_owned(),
                    ChangeKind::Symlink {
                        target: outside.path().display().to_string()
                    }
                ),
                ("gone".to_owned(), ChangeKind::Whiteout),
            ]
        );
    }

    #[test]
    fn a_skipped_directory_is_not_walked_into() {
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(root.path().join("skip/deep")).expect("mkdir");
        fs::create_dir_all(root.path().join("keep/deep")).expect("mkdir");
        let mut walk = OverlayWalk::new(root.path());
        let mut seen = Vec::new();
        while let Some(change) = walk.next() {
            let change = change.expect("walk");
            if change.path == "skip" {
                walk.skip_contents();
            }
            seen.push(change.path);
        }
        seen.sort();
        assert_eq!(seen, ["keep", "keep/deep", "skip"]);
    }
}
