//! Unpacking a local tar archive into a layer, as Docker's `ADD` does: every entry keeps its
//! type, mode, owner and mtime (all fixed by the archive, so the result is reproducible) and is
//! placed under a destination directory. Paths that would escape it are refused.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::OciError;

/// Whether the file at `path` is an archive `ADD` unpacks: gzip-compressed or plain tar.
pub fn is_tar_archive(path: &Path) -> io::Result<bool> {
    let mut head = [0u8; 512];
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read(&mut head[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    let head = &head[..filled];
    Ok(head.starts_with(&[0x1f, 0x8b]) || (head.len() >= 262 && &head[257..262] == b"ustar"))
}

/// `dest/entry`, normalized; `None` for the archive's root entry; an error for `..`.
fn rebase(dest: &str, entry: &Path, archive: &Path) -> Result<Option<String>, OciError> {
    let mut parts: Vec<String> = Vec::new();
    for component in entry.components() {
        match component {
            std::path::Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            std::path::Component::CurDir | std::path::Component::RootDir => {}
            _ => {
                return Err(OciError::Source {
                    path: archive.to_owned(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "archive entry `{}` escapes the destination",
                            entry.display()
                        ),
                    ),
                });
            }
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let relative = parts.join("/");
    Ok(Some(if dest.is_empty() {
        relative
    } else {
        format!("{dest}/{relative}")
    }))
}

/// Appends every entry of the archive at `source` to `tar`, under `dest` (`""`: the root).
pub(crate) fn append_archive<W: Write>(
    tar: &mut tar::Builder<W>,
    source: &Path,
    dest: &str,
) -> Result<(), OciError> {
    let bad = |e: io::Error| OciError::Source {
        path: source.to_owned(),
        source: e,
    };
    let mut reader = BufReader::new(File::open(source).map_err(bad)?);
    let gzip = reader.fill_buf().map_err(bad)?.starts_with(&[0x1f, 0x8b]);
    let stream: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(stream);
    let write_error = |e: io::Error| OciError::Write {
        path: source.to_owned(),
        source: e,
    };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let entry_path = entry.path().map_err(bad)?.into_owned();
        let Some(path) = rebase(dest, &entry_path, source)? else {
            continue;
        };
        let original = entry.header();
        let kind = original.entry_type();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(original.mode().map_err(bad)?);
        header.set_uid(original.uid().map_err(bad)?);
        header.set_gid(original.gid().map_err(bad)?);
        header.set_mtime(original.mtime().map_err(bad)?);
        if let (Ok(major), Ok(minor)) = (original.device_major(), original.device_minor()) {
            let _ = header.set_device_major(major.unwrap_or(0));
            let _ = header.set_device_minor(minor.unwrap_or(0));
        }
        match kind {
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .unwrap_or_default()
                    .into_owned();
                header.set_size(0);
                tar.append_link(&mut header, &path, &target)
                    .map_err(write_error)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .unwrap_or_default()
                    .into_owned();
                let Some(target) = rebase(dest, &target, source)? else {
                    continue;
                };
                header.set_size(0);
                tar.append_link(&mut header, &path, &target)
                    .map_err(write_error)?;
            }
            tar::EntryType::Directory => {
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), io::empty())
                    .map_err(write_error)?;
            }
            _ => {
                let size = entry.size();
                header.set_size(size);
                tar.append_data(&mut header, &path, &mut entry)
                    .map_err(write_error)?;
            }
        }
    }
    Ok(())
}
