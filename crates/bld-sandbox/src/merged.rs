//! An image's merged filesystem (its unpacked layers seen as overlayfs shows them) written out
//! as one tar archive: what `bld build -o type=tar` and `type=local` produce, as BuildKit's tar
//! and local exporters do.
//!
//! The walk reads the lower directories as [`crate::LayerStack`] looks paths up: an overlay
//! whiteout (a 0/0 character device) hides its name in the layers below, an opaque directory
//! everything below it, a non-directory everything below its path. Whiteouts themselves and
//! overlay attributes never appear in the archive. Every entry is `lstat`ed, never followed.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{SandboxError, io_error};

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut [0u8; 4]).is_ok_and(|n| n > 0)
}

/// Writes the merged tree of `lowers` (unpacked layer directories, bottom first) to `out` as a
/// tar archive: entries sorted by name, parents first, with their owners, modes, mtimes,
/// link targets and device numbers; files with several links in one layer as hard links.
pub fn write_merged_tar(lowers: &[PathBuf], out: &mut dyn Write) -> Result<(), SandboxError> {
    let mut writer = MergedTar {
        builder: tar::Builder::new(out),
        links: HashMap::new(),
    };
    writer.builder.follow_symlinks(false);
    let all: Vec<&Path> = lowers.iter().rev().map(PathBuf::as_path).collect();
    writer.directory("", &all)?;
    writer
        .builder
        .into_inner()
        .and_then(|out| out.flush())
        .map_err(io_error("write", Path::new("the merged filesystem")))
}

/// The archive being written, and the first path of each multiply-linked file written.
struct MergedTar<'a> {
    builder: tar::Builder<&'a mut dyn Write>,
    links: HashMap<(u64, u64), String>,
}

impl MergedTar<'_> {
    /// Writes the directory `rel` (`""` for the root, else `a/b`) as `layers` (its copies that
    /// show through, topmost first) hold it.
    fn directory(&mut self, rel: &str, layers: &[&Path]) -> Result<(), SandboxError> {
        // Each name: the index of the topmost layer holding it, its metadata (None: whiteout).
        let mut names: BTreeMap<String, Option<(usize, fs::Metadata)>> = BTreeMap::new();
        for (index, layer) in layers.iter().enumerate() {
            let dir = layer.join(rel);
            for entry in fs::read_dir(&dir).map_err(io_error("read", &dir))? {
                let entry = entry.map_err(io_error("read", &dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if names.contains_key(&name) {
                    continue;
                }
                let meta = entry.metadata().map_err(io_error("stat", &entry.path()))?;
                names.insert(name, (!is_whiteout(&meta)).then_some((index, meta)));
            }
        }
        for (name, found) in names {
            let Some((index, meta)) = found else {
                continue;
            };
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let host = layers[index].join(&path);
            self.entry(&path, &host, &meta)?;
            if meta.is_dir() {
                let below = dir_copies(&path, &layers[index..]);
                self.directory(&path, &below)?;
            }
        }
        Ok(())
    }

    /// Writes one entry, `path` in the image, read from `host`.
    fn entry(&mut self, path: &str, host: &Path, meta: &fs::Metadata) -> Result<(), SandboxError> {
        let failed = io_error("write", host);
        let mut header = tar::Header::new_gnu();
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(meta.uid().into());
        header.set_gid(meta.gid().into());
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        header.set_size(0);
        let kind = meta.file_type();
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            return self
                .builder
                .append_data(&mut header, format!("{path}/"), io::empty())
                .map_err(failed);
        }
        if kind.is_symlink() {
            let target = fs::read_link(host).map_err(io_error("read", host))?;
            header.set_entry_type(tar::EntryType::Symlink);
            return self
                .builder
                .append_link(&mut header, path, target)
                .map_err(failed);
        }
        if kind.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.links.get(&key) {
                    header.set_entry_type(tar::EntryType::Link);
                    return self
                        .builder
                        .append_link(&mut header, path, first)
                        .map_err(failed);
                }
                self.links.insert(key, path.to_owned());
            }
            let file = rustix::fs::open(
                host,
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::NOFOLLOW
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| io_error("open", host)(e.into()))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            return self
                .builder
                .append_data(&mut header, path, fs::File::from(file))
                .map_err(failed);
        }
        let entry_type = if kind.is_char_device() {
            tar::EntryType::Char
        } else if kind.is_block_device() {
            tar::EntryType::Block
        } else if kind.is_fifo() {
            tar::EntryType::Fifo
        } else {
            return Ok(()); // a socket has no place in an image
        };
        header.set_entry_type(entry_type);
        let device = meta.rdev();
        header
            .set_device_major(rustix::fs::major(device))
            .and_then(|()| header.set_device_minor(rustix::fs::minor(device)))
            .map_err(io_error("write", host))?;
        self.builder
            .append_data(&mut header, path, io::empty())
            .map_err(failed)
    }
}

/// The copies of directory `path` that show through, topmost first, given `layers` (topmost
/// first, the first one holding it as a directory): down to an opaque copy, or to a layer
/// where something else (a file, a whiteout) hides the rest.
fn dir_copies<'a>(path: &str, layers: &[&'a Path]) -> Vec<&'a Path> {
    let mut copies = Vec::new();
    for layer in layers {
        let host = layer.join(path);
        match fs::symlink_metadata(&host) {
            Ok(meta) if meta.is_dir() => {
                copies.push(*layer);
                if is_opaque(&host) {
                    break;
                }
            }
            Ok(_) => break,
            Err(_) => {}
        }
    }
    copies
}
