//! `bld cp`: files out of a container's filesystem (its image with its changes, read as
//! overlayfs shows them), and into a stopped container's changes (its upper directory).

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use bld_sandbox::LayerStack;
use bld_store::Store;

use super::{Container, ContainerError, State};
use crate::Failure;

/// `path` inside the container, relative and without `.` or empty parts; `..` is refused.
fn inside(path: &str) -> Result<String, ContainerError> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Failure::user(format!(
                    "`{path}`: a path inside the container may not hold `..`"
                ))
                .into());
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// Copies `path` of the container to `dest` on the host, as `docker cp C:PATH DEST` does:
/// into `dest` when it is a directory, else as `dest`; modes, owners and times kept.
pub fn copy_out(
    store: &Store,
    container: &Container,
    path: &str,
    dest: &Path,
) -> Result<(), ContainerError> {
    let want = inside(path)?;
    let (mut lowers, _) = crate::image_fs::unpacked_layers(store, &container.manifest)?;
    lowers.push(container.upper(store));
    if !want.is_empty() && !LayerStack::new(&lowers).exists(&want) {
        return Err(Failure::user(format!(
            "Could not find the file {path} in container {}",
            container.name
        ))
        .into());
    }
    let name = want.rsplit('/').next().unwrap_or_default().to_owned();
    let target = if dest.is_dir() && !name.is_empty() {
        dest.join(&name)
    } else {
        dest.to_owned()
    };
    copy_tree_out(&lowers, &want, &target)
}

/// Copies the path `want` (relative) of the stacked `lowers` to `target` on the host, with
/// modes, owners and times.
pub(super) fn copy_tree_out(
    lowers: &[PathBuf],
    want: &str,
    target: &Path,
) -> Result<(), ContainerError> {
    let (reader, mut writer) = std::io::pipe().map_err(Failure::internal)?;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let _ = bld_sandbox::write_merged_tar(lowers, &mut writer);
        });
        let mut archive = tar::Archive::new(reader);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        for entry in archive.entries().map_err(Failure::internal)? {
            let mut entry = entry.map_err(Failure::internal)?;
            let entry_path = entry.path().map_err(Failure::internal)?.into_owned();
            let entry_path = entry_path
                .to_string_lossy()
                .trim_end_matches('/')
                .to_owned();
            let rest = if want.is_empty() {
                Some(entry_path.as_str())
            } else if entry_path == want {
                Some("")
            } else {
                entry_path.strip_prefix(&format!("{want}/"))
            };
            let Some(rest) = rest else { continue };
            let out: PathBuf = if rest.is_empty() {
                target.to_owned()
            } else {
                target.join(rest)
            };
            entry
                .unpack(&out)
                .map_err(|e| Failure::user(format!("cannot write {}: {e}", out.display())))?;
        }
        Ok::<_, ContainerError>(())
    })
}

/// Copies `src` on the host into the stopped container's changes at `path`, as `docker cp
/// SRC C:PATH` does: into `path` when it is a directory of the container, else as `path`.
/// What is written is owned by root, with `src`'s modes.
pub fn copy_in(
    store: &Store,
    container: &Container,
    src: &Path,
    path: &str,
) -> Result<(), ContainerError> {
    if matches!(container.current_state(), State::Running { .. }) {
        return Err(Failure::user(format!(
            "cannot copy into the running container {}: stop it first (`bld stop {}`)",
            container.name, container.name
        ))
        .into());
    }
    let meta =
        fs::symlink_metadata(src).map_err(|e| Failure::user(format!("{}: {e}", src.display())))?;
    let want = inside(path)?;
    let upper = container.upper(store);
    let (mut lowers, _) = crate::image_fs::unpacked_layers(store, &container.manifest)?;
    lowers.push(upper.clone());
    let view = LayerStack::new(&lowers);
    let is_dir = |p: &str| p.is_empty() || view.metadata(p).is_some_and(|m| m.is_dir());
    let name = src.file_name().map(|n| n.to_string_lossy().into_owned());
    let target = match name {
        Some(name) if is_dir(&want) => {
            if want.is_empty() {
                name
            } else {
                format!("{want}/{name}")
            }
        }
        _ => want.clone(),
    };
    let parent = target.rsplit_once('/').map_or("", |(parent, _)| parent);
    if !is_dir(parent) {
        return Err(Failure::user(format!(
            "no such directory in container {}: /{parent}",
            container.name
        ))
        .into());
    }
    // The directories above, made in the upper directory as the image has them (else the
    // upper's copy would show with other modes or owners).
    let mut made = String::new();
    for part in parent.split('/').filter(|p| !p.is_empty()) {
        made = if made.is_empty() {
            part.to_owned()
        } else {
            format!("{made}/{part}")
        };
        let dir = upper.join(&made);
        if fs::symlink_metadata(&dir).is_err() {
            fs::create_dir(&dir).map_err(Failure::internal)?;
            if let Some(image) = view.metadata(&made) {
                fs::set_permissions(&dir, fs::Permissions::from_mode(image.mode() & 0o7777))
                    .map_err(Failure::internal)?;
                std::os::unix::fs::lchown(&dir, Some(image.uid()), Some(image.gid()))
                    .map_err(Failure::internal)?;
            }
        }
    }
    let dest = upper.join(&target);
    // A deletion the container made there (a whiteout) is undone by the copy.
    if fs::symlink_metadata(&dest).is_ok_and(|m| !m.is_dir()) {
        fs::remove_file(&dest).map_err(Failure::internal)?;
    }
    copy_tree(src, &meta, &dest)
}

/// Copies `src` (with metadata `meta`) to `dest`, recursively, keeping modes and symlinks.
fn copy_tree(src: &Path, meta: &fs::Metadata, dest: &Path) -> Result<(), ContainerError> {
    let failed =
        |e: std::io::Error| ContainerError::from(Failure::user(format!("{}: {e}", src.display())));
    if meta.file_type().is_symlink() {
        let target = fs::read_link(src).map_err(failed)?;
        std::os::unix::fs::symlink(target, dest).map_err(failed)?;
    } else if meta.is_dir() {
        if fs::symlink_metadata(dest).is_err() {
            fs::create_dir(dest).map_err(failed)?;
        }
        fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(failed)?;
        for entry in fs::read_dir(src).map_err(failed)? {
            let entry = entry.map_err(failed)?;
            let child = entry.metadata().map_err(failed)?;
            copy_tree(&entry.path(), &child, &dest.join(entry.file_name()))?;
        }
    } else {
        fs::copy(src, dest).map_err(failed)?;
        fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(failed)?;
    }
    std::os::unix::fs::lchown(dest, Some(0), Some(0)).map_err(failed)
}
