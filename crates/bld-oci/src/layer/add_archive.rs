//! Unpacking a local tar archive into a layer, as Docker's `ADD` does: every entry keeps its
//! type, mode, owner and mtime (all fixed by the archive, so the result is reproducible) and is
//! placed under a destination directory.
//!
//! The destination is a root the archive cannot leave: `..` in names is refused, and a path
//! through a symlink the archive itself made resolves inside the destination (an absolute
//! target restarts at the destination, `..` stops there), as buildah's extraction does.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::OciError;

/// Symlinks followed while resolving one path, at most (as the kernel's limit).
const MAX_LINK_HOPS: usize = 40;

/// Where entries go, and the symlinks the archive has made so far (relative to the
/// destination).
struct Scope<'a> {
    dest: &'a str,
    links: HashMap<String, String>,
}

fn invalid(archive: &Path, message: String) -> OciError {
    OciError::Source {
        path: archive.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    }
}

/// Applies `path`'s components onto `resolved`, clamping `..` at the root.
fn push_components(resolved: &mut Vec<String>, path: &str) {
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                resolved.pop();
            }
            _ => resolved.push(part.to_owned()),
        }
    }
}

impl Scope<'_> {
    /// The archive path `entry`, relative to the destination, with every parent component
    /// resolved through the archive's symlinks; `None` for the root itself.
    fn resolve(&self, entry: &Path, archive: &Path) -> Result<Option<String>, OciError> {
        let mut names = Vec::new();
        for component in entry.components() {
            match component {
                std::path::Component::Normal(part) => {
                    names.push(part.to_string_lossy().into_owned())
                }
                std::path::Component::CurDir | std::path::Component::RootDir => {}
                _ => {
                    return Err(invalid(
                        archive,
                        format!(
                            "archive entry `{}` escapes the destination",
                            entry.display()
                        ),
                    ));
                }
            }
        }
        let Some(last) = names.pop() else {
            return Ok(None);
        };
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        for name in names {
            resolved.push(name);
            while let Some(target) = self.links.get(&resolved.join("/")) {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(invalid(
                        archive,
                        format!("too many symlinks resolving `{}`", entry.display()),
                    ));
                }
                resolved.pop();
                if target.starts_with('/') {
                    resolved.clear();
                }
                push_components(&mut resolved, target);
            }
        }
        resolved.push(last);
        Ok(Some(resolved.join("/")))
    }

    /// The layer path of a path relative to the destination.
    fn layer_path(&self, relative: &str) -> String {
        if self.dest.is_empty() {
            relative.to_owned()
        } else {
            format!("{}/{relative}", self.dest)
        }
    }
}

/// Appends every entry of the archive at `source` to `tar`, under `dest` (`""`: the root).
/// Directories the archive implies without listing are left to the reader to create.
pub(crate) fn append_archive<W: Write>(
    tar: &mut tar::Builder<W>,
    source: &Path,
    dest: &str,
) -> Result<(), OciError> {
    let bad = |e: io::Error| OciError::Source {
        path: source.to_owned(),
        source: e,
    };
    let mut archive = open_archive(source).map_err(bad)?;
    let mut scope = Scope {
        dest,
        links: HashMap::new(),
    };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let entry_path = entry.path().map_err(bad)?.into_owned();
        let Some(relative) = scope.resolve(&entry_path, source)? else {
            continue;
        };
        let kind = entry.header().entry_type();
        // PAX and GNU extension records describe other entries; the reader has applied them.
        // BuildKit makes nothing of their names (moby's classic builder and buildah create
        // the directory a global header's name lives in, such as `/tmp`).
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        }
        let header = copied_header(entry.header()).map_err(bad)?;
        let xattrs = extended_attributes(&mut entry).map_err(bad)?;
        scope.append_entry(tar, &mut entry, (header, &xattrs), relative, source)?;
    }
    Ok(())
}

/// The archive at `source`, gzip-compressed or plain.
fn open_archive(source: &Path) -> io::Result<tar::Archive<Box<dyn Read>>> {
    let mut reader = BufReader::new(File::open(source)?);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let stream: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    Ok(tar::Archive::new(stream))
}

fn write_error(archive: &Path) -> impl Fn(io::Error) -> OciError {
    move |e| OciError::Write {
        path: archive.to_owned(),
        source: e,
    }
}

/// The `SCHILY.xattr.*` PAX records of `entry` (name without the prefix, value).
fn extended_attributes<R: Read>(
    entry: &mut tar::Entry<'_, R>,
) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut xattrs = Vec::new();
    let Some(extensions) = entry.pax_extensions()? else {
        return Ok(xattrs);
    };
    for extension in extensions {
        let extension = extension?;
        if let Ok(Some(name)) = extension.key().map(|key| key.strip_prefix("SCHILY.xattr.")) {
            xattrs.push((name.to_owned(), extension.value_bytes().to_vec()));
        }
    }
    Ok(xattrs)
}

/// A new header with the type, mode, owner, mtime and device numbers of `original`.
fn copied_header(original: &tar::Header) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(original.entry_type());
    header.set_mode(original.mode()?);
    header.set_uid(original.uid()?);
    header.set_gid(original.gid()?);
    header.set_mtime(original.mtime()?);
    if let (Ok(major), Ok(minor)) = (original.device_major(), original.device_minor()) {
        let _ = header.set_device_major(major.unwrap_or(0));
        let _ = header.set_device_minor(minor.unwrap_or(0));
    }
    Ok(header)
}

impl Scope<'_> {
    /// Appends `entry` (at `relative`, resolved) with `header`, after the extended attributes
    /// of `xattrs` a layer carries, and records what it makes: a symlink later paths resolve
    /// through, a directory, or neither (replacing either).
    fn append_entry<W: Write, R: Read>(
        &mut self,
        tar: &mut tar::Builder<W>,
        entry: &mut tar::Entry<'_, R>,
        (mut header, xattrs): (tar::Header, &[(String, Vec<u8>)]),
        relative: String,
        source: &Path,
    ) -> Result<(), OciError> {
        let bad = |e: io::Error| OciError::Source {
            path: source.to_owned(),
            source: e,
        };
        let write_error = write_error(source);
        let path = self.layer_path(&relative);
        let link_target = match header.entry_type() {
            tar::EntryType::Link => {
                let target = entry.link_name().map_err(bad)?.unwrap_or_default();
                match self.resolve(&target, source)? {
                    Some(target) => Some(target),
                    None => return Ok(()),
                }
            }
            _ => None,
        };
        let carried = xattrs.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        super::special_entries::append_xattrs(tar, carried).map_err(&write_error)?;
        match header.entry_type() {
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                header.set_size(0);
                tar.append_link(&mut header, &path, &target)
                    .map_err(write_error)?;
                self.links.insert(relative, target);
            }
            tar::EntryType::Link => {
                let target = link_target.unwrap_or_default();
                header.set_size(0);
                tar.append_link(&mut header, &path, self.layer_path(&target))
                    .map_err(write_error)?;
            }
            tar::EntryType::Directory => {
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), io::empty())
                    .map_err(write_error)?;
                self.links.remove(&relative);
            }
            _ => {
                header.set_size(entry.size());
                tar.append_data(&mut header, &path, entry)
                    .map_err(write_error)?;
                self.links.remove(&relative);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_through_archive_symlinks_stay_inside_the_destination() {
        let mut scope = Scope {
            dest: "dest",
            links: HashMap::new(),
        };
        scope.links.insert("up".into(), "..".into());
        scope.links.insert("abs".into(), "/etc".into());
        let archive = Path::new("a.tar");
        let resolve =
            |scope: &Scope<'_>, p: &str| scope.resolve(Path::new(p), archive).expect("resolve");
        assert_eq!(resolve(&scope, "up/etc/file").as_deref(), Some("etc/file"));
        assert_eq!(resolve(&scope, "abs/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(resolve(&scope, "./x/y").as_deref(), Some("x/y"));
        assert_eq!(
            resolve(&scope, "up").as_deref(),
            Some("up"),
            "the last component is not followed"
        );
        assert!(scope.resolve(Path::new("../evil"), archive).is_err());
        scope.links.insert("loop".into(), "loop".into());
        assert!(scope.resolve(Path::new("loop/x"), archive).is_err());
    }

    #[test]
    fn entries_keep_the_capability_but_no_other_extended_attribute() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = dir.path().join("caps.tar");
        let mut builder = tar::Builder::new(File::create(&archive).expect("create"));
        builder
            .append_pax_extensions([
                ("SCHILY.xattr.security.capability", b"cap".as_slice()),
                ("SCHILY.xattr.user.k", b"v".as_slice()),
            ])
            .expect("pax");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o755);
        header.set_size(5);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder
            .append_data(&mut header, "capfile", b"data\n".as_slice())
            .expect("append");
        builder.into_inner().expect("finish");
        let mut layer = tar::Builder::new(Vec::new());
        append_archive(&mut layer, &archive, "x").expect("append archive");
        let bytes = layer.into_inner().expect("finish");
        let mut unpacked = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in unpacked.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").display().to_string();
            for record in entry.pax_extensions().expect("pax").into_iter().flatten() {
                let record = record.expect("record");
                let value = String::from_utf8_lossy(record.value_bytes()).into_owned();
                seen.push(format!("{path} {}={value}", record.key().expect("key")));
            }
        }
        assert_eq!(seen, ["x/capfile SCHILY.xattr.security.capability=cap"]);
    }
}
