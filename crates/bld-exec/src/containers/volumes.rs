//! Containers' mounts (`-v`, `--mount`, an image's `VOLUME`s) and the store's volumes, kept as
//! Docker's local driver keeps them: `<store>/volumes/<name>/_data`. A new volume is filled
//! with what the image has at its mount point, unless `nocopy`.

use std::fs;
use std::path::{Path, PathBuf};

use bld_store::Store;
use serde::{Deserialize, Serialize};

use super::{Container, ContainerError};
use crate::Failure;

/// A mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// What is mounted.
    pub source: MountSource,
    /// Where, inside the container (absolute).
    pub target: String,
    /// Mounted read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// What a [`Mount`] mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountSource {
    /// A host file or directory.
    Bind(PathBuf),
    /// A volume of the store.
    Volume {
        /// Its name (64 hex digits for an anonymous one).
        name: String,
        /// Made for this container (`-v /path`, an image's `VOLUME`): `rm -v` removes it.
        anonymous: bool,
        /// Not filled from the image when new.
        nocopy: bool,
    },
    /// An empty tmpfs.
    Tmpfs {
        /// Its size limit in bytes.
        size: Option<u64>,
    },
}

/// The store's directory of volumes.
fn volumes_dir(store: &Store) -> Result<PathBuf, ContainerError> {
    Ok(store.private_dir("volumes").map_err(Failure::of)?)
}

/// Where the volume `name` keeps its files.
pub fn volume_data(store: &Store, name: &str) -> Result<PathBuf, ContainerError> {
    Ok(volumes_dir(store)?.join(name).join("_data"))
}

/// Whether `name` is a volume name Docker accepts: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn valid_volume_name(name: &str) -> bool {
    name.len() >= 2 && super::valid_name(name)
}

/// A new anonymous volume's name: 64 hex digits.
pub fn anonymous_name() -> Result<String, ContainerError> {
    super::new_id().map_err(ContainerError::from)
}

/// Makes the volume `name` if it is not there; whether it was made now.
pub fn create_volume(store: &Store, name: &str) -> Result<bool, ContainerError> {
    if !valid_volume_name(name) {
        return Err(Failure::user(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
        ))
        .into());
    }
    let data = volume_data(store, name)?;
    if data.is_dir() {
        return Ok(false);
    }
    fs::create_dir_all(&data).map_err(Failure::internal)?;
    Ok(true)
}

/// The store's volumes, by name.
pub fn list_volumes(store: &Store) -> Result<Vec<String>, ContainerError> {
    let mut names: Vec<String> = fs::read_dir(volumes_dir(store)?)
        .map_err(Failure::internal)?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("_data").is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The containers that mount the volume `name`.
pub fn volume_users(store: &Store, name: &str) -> Result<Vec<Container>, ContainerError> {
    Ok(super::list(store)?
        .into_iter()
        .filter(|c| {
            c.config
                .mounts
                .iter()
                .any(|m| matches!(&m.source, MountSource::Volume { name: n, .. } if n == name))
        })
        .collect())
}

/// Removes the volume `name`; one a container mounts is refused, as Docker refuses it.
pub fn remove_volume(store: &Store, name: &str) -> Result<(), ContainerError> {
    let dir = volumes_dir(store)?.join(name);
    if !valid_volume_name(name) || !dir.join("_data").is_dir() {
        return Err(Failure::user(format!("get {name}: no such volume")).into());
    }
    let users = volume_users(store, name)?;
    if !users.is_empty() {
        let ids: Vec<&str> = users.iter().map(|c| c.id.as_str()).collect();
        return Err(Failure::user(format!(
            "remove {name}: volume is in use - [{}]",
            ids.join(", ")
        ))
        .into());
    }
    fs::remove_dir_all(&dir).map_err(Failure::internal)?;
    Ok(())
}

/// Removes the anonymous volumes of `container` that no other container mounts (`rm -v`,
/// `--rm`).
pub fn remove_anonymous_volumes(store: &Store, container: &Container) {
    for mount in &container.config.mounts {
        if let MountSource::Volume {
            name,
            anonymous: true,
            ..
        } = &mount.source
            && volume_users(store, name)
                .is_ok_and(|users| users.iter().all(|c| c.id == container.id))
            && let Ok(dir) = volumes_dir(store).map(|d| d.join(name))
        {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// An absolute container path, or Docker's error for `kind`'s mount.
fn absolute_target(target: &str, kind: &str) -> Result<String, Failure> {
    if target.starts_with('/') {
        Ok(target.to_owned())
    } else {
        Err(Failure::user(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{target}' mount path must be absolute"
        )))
    }
}

/// `-v` as Docker reads it: `/path` (an anonymous volume), `NAME:/path` (a named one),
/// `/host:/path` (a bind; the host directory is made when missing), each with `:ro`, `:rw`,
/// `:nocopy` options.
pub fn parse_volume(text: &str) -> Result<Mount, ContainerError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, ""),
        [source, target] => (Some(*source), *target, ""),
        [source, target, options] => (Some(*source), *target, *options),
        _ => {
            return Err(Failure::user(format!("invalid volume specification: '{text}'")).into());
        }
    };
    let mut read_only = false;
    let mut nocopy = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "private" | "rprivate" => {}
            "nocopy" => nocopy = true,
            _ => {
                return Err(Failure::user(format!(
                    "invalid mode: {option} (in the volume specification '{text}')"
                ))
                .into());
            }
        }
    }
    let source = match source {
        None => MountSource::Volume {
            name: anonymous_name()?,
            anonymous: true,
            nocopy,
        },
        Some(path) if path.starts_with('/') || path.starts_with('.') => {
            let path = std::path::absolute(path).map_err(Failure::internal)?;
            MountSource::Bind(path)
        }
        Some(name) => MountSource::Volume {
            name: name.to_owned(),
            anonymous: false,
            nocopy,
        },
    };
    let kind = match source {
        MountSource::Bind(_) => "bind",
        _ => "volume",
    };
    Ok(Mount {
        source,
        target: absolute_target(target, kind)?,
        read_only,
    })
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,volume-nocopy][,tmpfs-size=N]`.
pub fn parse_mount(text: &str) -> Result<Mount, ContainerError> {
    let bad = |why: String| {
        ContainerError::from(Failure::user(format!(
            "invalid argument \"{text}\" for \"--mount\" flag: {why}"
        )))
    };
    let (mut kind, mut source, mut target) = ("volume", None, None);
    let (mut read_only, mut nocopy, mut size) = (false, false, None);
    for field in text.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        let flag = || matches!(value, "" | "true" | "1");
        match key {
            "type" => kind = value,
            "source" | "src" => source = Some(value.to_owned()),
            "target" | "destination" | "dst" => target = Some(value.to_owned()),
            "readonly" | "ro" => read_only = flag(),
            "volume-nocopy" => nocopy = flag(),
            "tmpfs-size" => {
                size = Some(
                    bld_dockerfile::instructions::parse_size(value)
                        .ok_or_else(|| bad(format!("tmpfs-size `{value}` is not a size")))?,
                );
            }
            "bind-propagation" | "consistency" | "tmpfs-mode" => {}
            _ => return Err(bad(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let target = target.ok_or_else(|| bad("target is required".to_owned()))?;
    let source = match (kind, source) {
        ("bind", Some(path)) => {
            let path = std::path::absolute(&path).map_err(Failure::internal)?;
            if !path.exists() {
                return Err(Failure::user(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    path.display()
                ))
                .into());
            }
            MountSource::Bind(path)
        }
        ("bind", None) => return Err(bad("source is required for a bind mount".to_owned())),
        ("volume", source) => MountSource::Volume {
            anonymous: source.is_none(),
            name: match source {
                Some(name) => name,
                None => anonymous_name()?,
            },
            nocopy,
        },
        ("tmpfs", _) => MountSource::Tmpfs { size },
        (other, _) => {
            return Err(bad(format!(
                "mount type '{other}' is not bind, volume or tmpfs"
            )));
        }
    };
    Ok(Mount {
        source,
        target: absolute_target(&target, kind)?,
        read_only,
    })
}

/// The sandbox's mounts for `mounts`: volumes made when missing and, when new, filled with
/// what the image (its unpacked `lowers`) has at the mount point; bind sources of `-v` made
/// when missing.
pub fn sandbox_mounts(
    store: &Store,
    mounts: &[Mount],
    lowers: &[PathBuf],
) -> Result<Vec<bld_sandbox::SandboxMount>, ContainerError> {
    let mut out = Vec::new();
    for mount in mounts {
        let kind = match &mount.source {
            MountSource::Bind(path) => {
                if !path.exists() {
                    fs::create_dir_all(path).map_err(|e| {
                        Failure::user(format!(
                            "cannot make the bind source {}: {e}",
                            path.display()
                        ))
                    })?;
                }
                bld_sandbox::MountKind::Bind {
                    source: path.clone(),
                    read_only: mount.read_only,
                }
            }
            MountSource::Volume { name, nocopy, .. } => {
                let data = volume_data(store, name)?;
                if create_volume(store, name)? && !nocopy {
                    fill_from_image(lowers, &mount.target, &data)?;
                }
                bld_sandbox::MountKind::Bind {
                    source: data,
                    read_only: mount.read_only,
                }
            }
            MountSource::Tmpfs { size } => bld_sandbox::MountKind::Tmpfs { size: *size },
        };
        out.push(bld_sandbox::SandboxMount {
            target: mount.target.clone(),
            kind,
        });
    }
    Ok(out)
}

/// Copies what the image has at `target` (a directory) into the new volume `data`.
fn fill_from_image(lowers: &[PathBuf], target: &str, data: &Path) -> Result<(), ContainerError> {
    let inside = target.trim_matches('/');
    let view = bld_sandbox::LayerStack::new(lowers);
    if inside.is_empty() || !view.metadata(inside).is_some_and(|m| m.is_dir()) {
        return Ok(());
    }
    let filled = data.with_file_name("_data.new");
    let _ = fs::remove_dir_all(&filled);
    super::copy::copy_tree_out(lowers, inside, &filled)?;
    fs::remove_dir(data).map_err(Failure::internal)?;
    fs::rename(&filled, data).map_err(Failure::internal)?;
    Ok(())
}
