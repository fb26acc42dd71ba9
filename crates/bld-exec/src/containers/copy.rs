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

/// Copies `src` on the host into the container at `path`, as `docker cp SRC C:PATH` does:
/// into `path` when it is a directory of the container, else as `path`. What is written is
/// owned by root, with `src`'s modes: into a stopped container's changes (its upper
/// directory), or a running one's root ([`copy_into_running`]).
pub fn copy_in(
    store: &Store,
    container: &Container,
    src: &Path,
    path: &str,
) -> Result<(), ContainerError> {
    if matches!(container.current_state(), State::Running { .. }) {
        return copy_into_running(store, container, src, path);
    }
    let meta =
        fs::symlink_metadata(src).map_err(|e| Failure::user(format!("{}: {e}", src.display())))?;
    let want = inside(path)?;
    let upper = container.upper(store);
    let (mut lowers, _) = crate::image_fs::unpacked_layers(store, &container.manifest)?;
    lowers.push(upper.clone());
    let view = LayerStack::new(&lowers);
    // Paths resolved inside the container (its symlinks followed as if its root were `/`),
    // so that nothing written through the upper directory follows one out of it.
    let dir_at = |p: &str| {
        view.resolve(p, true)
            .ok()
            .filter(|r| r.is_empty() || view.metadata(r).is_some_and(|m| m.is_dir()))
    };
    let name = src.file_name().map(|n| n.to_string_lossy().into_owned());
    let (parent, last) = match (dir_at(&want), name) {
        (Some(dir), Some(name)) => (dir, name),
        _ => {
            let (parent, last) = want.rsplit_once('/').unwrap_or(("", want.as_str()));
            let Some(parent) = dir_at(parent) else {
                return Err(Failure::user(format!(
                    "no such directory in container {}: /{parent}",
                    container.name
                ))
                .into());
            };
            (parent, last.to_owned())
        }
    };
    let target = if parent.is_empty() {
        last
    } else {
        format!("{parent}/{last}")
    };
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
    copy_tree(src, &meta, &upper.join(&target))
}

/// Copies `src` (with metadata `meta`) to `dest`, recursively, keeping modes and symlinks.
fn copy_tree(src: &Path, meta: &fs::Metadata, dest: &Path) -> Result<(), ContainerError> {
    let failed =
        |e: std::io::Error| ContainerError::from(Failure::user(format!("{}: {e}", src.display())));
    // What is there is replaced (a whiteout, a symlink, a file), never followed; a directory
    // takes a directory's entries.
    match fs::symlink_metadata(dest) {
        Ok(there) if there.is_dir() && meta.is_dir() => {}
        Ok(there) if there.is_dir() => {
            return Err(Failure::user(format!(
                "cannot overwrite directory {} with non-directory {}",
                dest.display(),
                src.display()
            ))
            .into());
        }
        Ok(_) => fs::remove_file(dest).map_err(failed)?,
        Err(_) => {}
    }
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

/// Copies `src` on the host into the running `container` at `path`, as `docker cp SRC C:PATH`
/// does: a tar of it (owned by root, with its modes) is unpacked by a `bld copy-into` process
/// chrooted into the container's root, where every path and symlink means what it means to
/// the container, and nothing can lead out of it.
pub fn copy_into_running(
    store: &Store,
    container: &Container,
    src: &Path,
    path: &str,
) -> Result<(), ContainerError> {
    let pid = super::runtime::init_pid(store, container)
        .ok_or_else(|| Failure::user(format!("Container {} is not running", container.id)))?;
    let exe = std::env::current_exe().map_err(Failure::internal)?;
    let mut child = std::process::Command::new(exe)
        .args([
            "copy-into",
            &format!("/proc/{pid}/root"),
            &format!("/{}", inside(path)?),
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(Failure::internal)?;
    let written = child
        .stdin
        .take()
        .map(|stdin| write_tree_tar(src, stdin))
        .unwrap_or(Ok(()));
    let output = child.wait_with_output().map_err(Failure::internal)?;
    written?;
    if output.status.success() {
        Ok(())
    } else {
        let why = String::from_utf8_lossy(&output.stderr);
        Err(Failure::user(format!(
            "cannot copy into container {}: {}",
            container.name,
            why.trim().trim_start_matches("error: ")
        ))
        .into())
    }
}

/// Writes `src` (a file, symlink or directory tree) as a tar to `out`, its top entry named as
/// `src` is, everything owned by root with its own modes.
fn write_tree_tar(src: &Path, out: impl std::io::Write) -> Result<(), ContainerError> {
    let failed =
        |e: std::io::Error| ContainerError::from(Failure::user(format!("{}: {e}", src.display())));
    let name = src
        .file_name()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    for entry in walkdir::WalkDir::new(src).follow_links(false) {
        let entry = entry.map_err(|e| failed(e.into()))?;
        let meta = entry.metadata().map_err(|e| failed(e.into()))?;
        let relative = entry.path().strip_prefix(src).unwrap_or(Path::new(""));
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        let entry_name = if relative.as_os_str().is_empty() {
            name.clone()
        } else {
            name.join(relative)
        };
        if meta.file_type().is_symlink() {
            let target = fs::read_link(entry.path()).map_err(failed)?;
            builder
                .append_link(&mut header, &entry_name, target)
                .map_err(failed)?;
        } else if meta.is_file() {
            let file = fs::File::open(entry.path()).map_err(failed)?;
            builder
                .append_data(&mut header, &entry_name, file)
                .map_err(failed)?;
        } else {
            header.set_size(0);
            builder
                .append_data(&mut header, &entry_name, std::io::empty())
                .map_err(failed)?;
        }
    }
    builder.finish().map_err(failed)
}

/// `bld copy-into ROOT DEST` (hidden): chroots into `root` and unpacks the tar on stdin at
/// `dest`: into it when it is a directory, else as it (the tar's top entry renamed).
pub fn copy_into_root(root: &Path, dest: &str) -> Result<(), ContainerError> {
    rustix::process::chroot(root)
        .map_err(|e| Failure::internal(format!("chroot {}: {e}", root.display())))?;
    std::env::set_current_dir("/").map_err(Failure::internal)?;
    let dest = Path::new(dest);
    let (base, rename) = if dest.is_dir() {
        (dest.to_owned(), None)
    } else {
        let parent = dest.parent().unwrap_or(Path::new("/"));
        if !parent.is_dir() {
            return Err(Failure::user(format!("no such directory: {}", parent.display())).into());
        }
        (parent.to_owned(), dest.file_name().map(PathBuf::from))
    };
    let mut archive = tar::Archive::new(std::io::stdin().lock());
    for entry in archive.entries().map_err(Failure::internal)? {
        let mut entry = entry.map_err(Failure::internal)?;
        let path = entry.path().map_err(Failure::internal)?.into_owned();
        let path = match &rename {
            Some(name) => {
                let mut parts = path.components();
                parts.next();
                match parts.as_path() {
                    rest if rest.as_os_str().is_empty() => name.clone(),
                    rest => name.join(rest),
                }
            }
            None => path,
        };
        let out = base.join(&path);
        if path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(Failure::user(format!("refused entry {}", path.display())).into());
        }
        if let Ok(there) = fs::symlink_metadata(&out)
            && !(there.is_dir() && entry.header().entry_type().is_dir())
        {
            if there.is_dir() {
                fs::remove_dir_all(&out).map_err(Failure::internal)?;
            } else {
                fs::remove_file(&out).map_err(Failure::internal)?;
            }
        }
        entry.set_preserve_permissions(true);
        entry
            .unpack(&out)
            .map_err(|e| Failure::user(format!("cannot write {}: {e}", out.display())))?;
    }
    Ok(())
}
