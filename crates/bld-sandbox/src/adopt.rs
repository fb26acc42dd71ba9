//! A step's upper directory kept as its layer's unpacked directory, as BuildKit keeps a
//! step's snapshot for the next: the next step then mounts it instead of unpacking the layer
//! just packed from it (creating every file a second time).
//!
//! The adopted tree must be what unpacking the layer gives, so that a later step sees the same
//! files whether this step ran or was a cache hit: what the layer leaves out (mount points,
//! `RUN --mount` targets, volumes' contents, sockets) is removed, every extended attribute a
//! layer does not carry is removed, and every entry gets the layer's mtime (and atime).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use bld_core::Digest;

use crate::unpack::{discard, remember_adopted};
use crate::{SandboxError, io_error};

/// The extended attributes an unpacked layer may hold: file capabilities (the only ones
/// layers carry, as Docker's), an overlay opaque mark, and an SELinux label (which the kernel
/// gives unpacked files too).
const KEPT_XATTRS: &[&str] = &[
    "security.capability",
    "trusted.overlay.opaque",
    "security.selinux",
];

/// Moves the step's `upper` directory to `dir` (the store's `unpacked/<diff ID>` of the layer
/// packed from it, `layer` its diff ID), holding exactly `paths` (the layer's entries, a
/// whiteout by the path it deletes) with `mtime`. Nothing is done when `dir` is already there.
/// On an error the upper directory may be half-adjusted: the caller throws it away and the
/// layer is unpacked when needed.
pub fn adopt_upper(
    upper: &Path,
    paths: &HashSet<String>,
    mtime: u64,
    dir: &Path,
    temp_path: &dyn Fn(&str) -> PathBuf,
) -> Result<(), SandboxError> {
    if fs::symlink_metadata(dir).is_ok() {
        return Ok(());
    }
    let mut dirs = Vec::new();
    let mut pending = vec![(upper.to_owned(), String::new())];
    while let Some((host, relative)) = pending.pop() {
        for entry in fs::read_dir(&host).map_err(io_error("list", &host))? {
            let entry = entry.map_err(io_error("list", &host))?;
            let path = entry.path();
            // The layer holds such a name as the walk spelled it; unpacking gives that.
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(SandboxError::NotInImage(format!(
                    "`{}` is not UTF-8: the layer is unpacked instead",
                    path.display()
                )));
            };
            // A file the step named `.wh.…` is a whiteout once the layer is unpacked.
            if name.starts_with(".wh.") {
                return Err(SandboxError::NotInImage(format!(
                    "`{}` reads as a whiteout: the layer is unpacked instead",
                    path.display()
                )));
            }
            let inside = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let file_type = entry.file_type().map_err(io_error("stat", &path))?;
            if !paths.contains(&inside) {
                let removed = if file_type.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.map_err(io_error("remove", &path))?;
                continue;
            }
            keep_only_layer_xattrs(&path)?;
            if file_type.is_dir() {
                dirs.push(path.clone());
                pending.push((path, inside));
            } else {
                set_times(&path, mtime)?;
            }
        }
    }
    // Deepest first: removing or touching entries changed their directories' times.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in &dirs {
        set_times(dir, mtime)?;
    }
    let staging = temp_path("adopting");
    fs::create_dir_all(&staging).map_err(io_error("create", &staging))?;
    fs::rename(upper, staging.join("root")).map_err(io_error("move", upper))?;
    let placed = crate::unpack::write_record_of(&staging)
        .and_then(|()| fs::rename(&staging, dir).map_err(io_error("rename into", dir)));
    match placed {
        Ok(()) => {
            remember_adopted(dir);
            Ok(())
        }
        Err(error) => {
            let _ = discard(&staging, &staging);
            Err(error)
        }
    }
}

/// The store's directory for the unpacked layer `diff_id` under `unpacked`.
pub fn unpacked_dir(unpacked: &Path, diff_id: &Digest) -> PathBuf {
    unpacked.join(diff_id.hex())
}

/// Removes the extended attributes of `path` (not followed) that an unpacked layer would not
/// have.
fn keep_only_layer_xattrs(path: &Path) -> Result<(), SandboxError> {
    let mut names = vec![0u8; 64 * 1024];
    let len = match rustix::fs::llistxattr(path, &mut names) {
        Ok(len) => len,
        Err(rustix::io::Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(io_error("list the attributes of", path)(e.into())),
    };
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name);
        if KEPT_XATTRS.contains(&name.as_ref()) {
            continue;
        }
        rustix::fs::lremovexattr(path, name.as_ref())
            .map_err(|e| io_error("remove an attribute of", path)(e.into()))?;
    }
    Ok(())
}

/// Sets the atime and mtime of `path` (not followed) to `mtime`, as unpacking does.
fn set_times(path: &Path, mtime: u64) -> Result<(), SandboxError> {
    crate::unpack::set_times(rustix::fs::CWD, Some(path), mtime)
        .map_err(io_error("set the times of", path))
}
