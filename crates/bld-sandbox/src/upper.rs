//! Reading what a step changed from the overlay upper directory.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{SandboxError, io_error};

/// One change a step made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// What it is now.
    pub kind: ChangeKind,
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
    let mut changes = Vec::new();
    let mut pending = vec![(upper.to_owned(), String::new())];
    while let Some((dir, relative)) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(io_error("list", &dir))? {
            let entry = entry.map_err(io_error("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let full = entry.path();
            let meta = fs::symlink_metadata(&full).map_err(io_error("stat", &full))?;
            let file_type = meta.file_type();
            let kind = if file_type.is_char_device() && meta.rdev() == 0 {
                ChangeKind::Whiteout
            } else if file_type.is_dir() {
                let opaque = rustix::fs::getxattr(&full, "trusted.overlay.opaque", &mut [0u8; 4])
                    .is_ok_and(|n| n > 0);
                pending.push((full.clone(), path.clone()));
                ChangeKind::Dir { opaque }
            } else if file_type.is_symlink() {
                let target = fs::read_link(&full).map_err(io_error("read link", &full))?;
                ChangeKind::Symlink {
                    target: target.to_string_lossy().into_owned(),
                }
            } else if file_type.is_file() {
                ChangeKind::File {
                    source: full.clone(),
                }
            } else {
                continue;
            };
            changes.push(Change {
                path,
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}
