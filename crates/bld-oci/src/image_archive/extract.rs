//! Extracting an untrusted archive into a private directory.
//!
//! Only directories and regular files are created (hard links become hard links to files
//! already extracted). Symlinks are recorded by name and resolved here, by name, whenever a
//! path is looked up, so no path can leave the directory through the filesystem; a link whose
//! target lies outside the archive, an absolute or `..` entry path, and device or fifo entries
//! are refused.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{bad_archive, unsupported_compression, work_read_error};
use crate::OciError;

/// Symlinks followed while resolving one path, at most (as the kernel's limit).
const MAX_LINK_HOPS: usize = 40;
/// The largest JSON document (index, manifest, config) read from an archive.
const MAX_DOCUMENT: u64 = 64 << 20;

/// An archive extracted into a directory.
pub(super) struct Extracted {
    root: PathBuf,
    /// Symlinks: the link's path → its target as a path from the archive root.
    links: HashMap<String, String>,
}

/// Why a path does not resolve inside the archive.
enum Unresolvable {
    /// It climbs above the archive root.
    Escapes,
    /// Too many symlinks (a loop).
    Loop,
}

impl Unresolvable {
    fn describe(&self) -> &'static str {
        match self {
            Unresolvable::Escapes => "outside the archive",
            Unresolvable::Loop => "through too many symlinks (a loop)",
        }
    }
}

impl Extracted {
    /// `path`'s components from the archive root, every symlink the archive made resolved
    /// (the last component only when `follow_last`).
    fn resolve(&self, path: &str, follow_last: bool) -> Result<Vec<String>, Unresolvable> {
        let mut pending: Vec<&str> = path.split('/').rev().collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part {
                "" | "." => {}
                ".." => {
                    resolved.pop().ok_or(Unresolvable::Escapes)?;
                }
                name => {
                    resolved.push(name.to_owned());
                    if (!pending.is_empty() || follow_last)
                        && let Some(target) = self.links.get(&resolved.join("/"))
                    {
                        hops += 1;
                        if hops > MAX_LINK_HOPS {
                            return Err(Unresolvable::Loop);
                        }
                        resolved.clear();
                        pending.extend(target.split('/').rev());
                    }
                }
            }
        }
        Ok(resolved)
    }

    /// The extracted file at `path`, a path from the archive root (an absolute one escapes
    /// it), every symlink resolved; `Err(None)` when it resolves to something else or nothing.
    fn find_file(&self, path: &str) -> Result<PathBuf, Option<Unresolvable>> {
        let resolved = if path.starts_with('/') {
            Err(Unresolvable::Escapes)
        } else {
            self.resolve(path, true)
        }?;
        let physical = self.root.join(resolved.join("/"));
        if resolved.is_empty() || !fs::symlink_metadata(&physical).is_ok_and(|m| m.is_file()) {
            return Err(None);
        }
        Ok(physical)
    }

    /// The extracted file at `path` (symlinks resolved), which `referrer` names.
    pub(super) fn locate(&self, path: &str, referrer: &str) -> Result<PathBuf, OciError> {
        self.find_file(path).map_err(|why| match why {
            Some(why) => bad_archive(format!(
                "{referrer} refers to `{path}`, which resolves {}",
                why.describe()
            )),
            None => bad_archive(format!(
                "{referrer} refers to `{path}`, which is not a file in the archive"
            )),
        })
    }

    /// Whether the archive has a file at `path`.
    pub(super) fn has_file(&self, path: &str) -> bool {
        self.locate(path, "").is_ok()
    }

    /// Reads the JSON document at `path` (at most [`MAX_DOCUMENT`] bytes).
    pub(super) fn read_document(&self, path: &str, referrer: &str) -> Result<Vec<u8>, OciError> {
        read_document(&self.locate(path, referrer)?, path)
    }
}

/// Reads the document at `physical` (the archive's `path`), at most [`MAX_DOCUMENT`] bytes.
pub(super) fn read_document(physical: &Path, path: &str) -> Result<Vec<u8>, OciError> {
    let mut bytes = Vec::new();
    File::open(physical)
        .and_then(|file| file.take(MAX_DOCUMENT + 1).read_to_end(&mut bytes))
        .map_err(work_read_error(physical))?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(bad_archive(format!(
            "`{path}` is over {} MiB; it is not an image document",
            MAX_DOCUMENT >> 20
        )));
    }
    Ok(bytes)
}

/// Remembers whether the stream ended, so an archive that stops at an entry boundary without
/// its end-of-archive blocks is seen as truncated.
struct EndTracking<R> {
    inner: R,
    ended: bool,
    read: u64,
}

impl<R: Read> Read for EndTracking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended = true;
        }
        self.read += n as u64;
        Ok(n)
    }
}

fn truncated(detail: impl std::fmt::Display) -> OciError {
    bad_archive(format!(
        "the archive is truncated or not a tar file: {detail}"
    ))
}

/// The archive stream, decompressed if it is gzip; other compressions are refused.
fn decompressed<'a>(input: &'a mut dyn Read) -> Result<Box<dyn Read + 'a>, OciError> {
    let mut head = Vec::with_capacity(512);
    (&mut *input)
        .take(512)
        .read_to_end(&mut head)
        .map_err(truncated)?;
    if let Some(name) = unsupported_compression(&head) {
        return Err(bad_archive(format!(
            "the archive is {name}-compressed, which is not supported; decompress it, or give \
             a tar or a gzip-compressed tar"
        )));
    }
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let stream = io::Cursor::new(head).chain(input);
    Ok(if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(stream))
    } else {
        Box::new(stream)
    })
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> OciError {
    let path = path.to_owned();
    move |source| OciError::Write { path, source }
}

/// A directory bld wrote itself (an OCI layout of blobs fetched and checked by digest) read
/// as an extracted archive: it holds no symlink.
pub(super) fn written_dir(root: &Path) -> Extracted {
    Extracted {
        root: root.to_owned(),
        links: HashMap::new(),
    }
}

/// Extracts the tar (or gzip-compressed tar) `input` into the empty directory `root`.
pub(super) fn extract(input: &mut dyn Read, root: &Path) -> Result<Extracted, OciError> {
    let stream = decompressed(input)?;
    let mut archive = tar::Archive::new(EndTracking {
        inner: stream,
        ended: false,
        read: 0,
    });
    let mut extracted = Extracted {
        root: root.to_owned(),
        links: HashMap::new(),
    };
    for entry in archive.entries().map_err(truncated)? {
        let mut entry = entry.map_err(truncated)?;
        extracted.add_entry(&mut entry)?;
    }
    let mut stream = archive.into_inner();
    if stream.ended {
        return Err(truncated(if stream.read == 0 {
            "it is empty"
        } else {
            "it ends without the end-of-archive blocks"
        }));
    }
    // Read what follows the end-of-archive blocks, so a damaged gzip trailer is noticed.
    io::copy(&mut stream, &mut io::sink()).map_err(truncated)?;
    Ok(extracted)
}

/// An entry's name, refused unless it is UTF-8, relative and free of `..`.
fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, OciError> {
    let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
        bad_archive(format!(
            "entry `{}` has a name that is not UTF-8",
            String::from_utf8_lossy(e.as_bytes())
        ))
    })?;
    if name.starts_with('/') {
        return Err(bad_archive(format!(
            "entry `{name}` has an absolute path; archive paths are relative"
        )));
    }
    if name.split('/').any(|part| part == "..") {
        return Err(bad_archive(format!(
            "entry `{name}` has a `..` component, which would leave the archive"
        )));
    }
    Ok(name)
}

impl Extracted {
    fn add_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), OciError> {
        let name = entry_name(entry)?;
        let kind = entry.header().entry_type();
        let outside = |why: Unresolvable| {
            bad_archive(format!(
                "entry `{name}` is placed through a symlink {}",
                why.describe()
            ))
        };
        let resolved = self.resolve(&name, false).map_err(outside)?;
        let key = resolved.join("/");
        let physical = self.root.join(&key);
        if resolved.is_empty() {
            return match kind {
                tar::EntryType::Directory | tar::EntryType::XGlobalHeader => Ok(()),
                _ => Err(bad_archive(format!(
                    "entry `{name}` names the archive root, but is not a directory"
                ))),
            };
        }
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.links.remove(&key);
                self.prepare(&physical)?;
                let expected = entry.size();
                let written = copy_entry(entry, &name, &physical)?;
                if kind != tar::EntryType::GNUSparse && written != expected {
                    return Err(truncated(format!(
                        "entry `{name}` ends after {written} of its {expected} bytes"
                    )));
                }
            }
            tar::EntryType::Directory => {
                self.links.remove(&key);
                fs::create_dir_all(&physical).map_err(write_error(&physical))?;
            }
            tar::EntryType::Symlink => {
                let target = link_target(entry, &name)?;
                self.add_symlink(&name, key, &physical, &target)?;
            }
            tar::EntryType::Link => {
                let target = link_target(entry, &name)?;
                self.add_hard_link(&name, &key, &physical, &target)?;
            }
            tar::EntryType::XGlobalHeader => {}
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                return Err(bad_archive(format!(
                    "entry `{name}` is a device or fifo; an image archive holds only files, \
                     directories and links"
                )));
            }
            other => {
                return Err(bad_archive(format!(
                    "entry `{name}` has tar entry type `{}`, which an image archive does not use",
                    char::from(other.as_byte())
                )));
            }
        }
        Ok(())
    }

    /// Records the symlink `name` (at `key`, resolved) to `target`, refused unless the target
    /// resolves inside the archive; it replaces a file extracted there before.
    fn add_symlink(
        &mut self,
        name: &str,
        key: String,
        physical: &Path,
        target: &str,
    ) -> Result<(), OciError> {
        let parent = key.rsplit_once('/').map_or("", |(parent, _)| parent);
        let from_root = if target.starts_with('/') {
            None
        } else if parent.is_empty() {
            Some(target.to_owned())
        } else {
            Some(format!("{parent}/{target}"))
        };
        let check = match &from_root {
            Some(path) => self.resolve(path, true).map(drop),
            None => Err(Unresolvable::Escapes),
        };
        if let Err(why) = check {
            return Err(bad_archive(format!(
                "symlink `{name}` points at `{target}`, {}",
                why.describe()
            )));
        }
        if fs::symlink_metadata(physical).is_ok_and(|m| m.is_file()) {
            fs::remove_file(physical).map_err(write_error(physical))?;
        }
        self.links
            .insert(key, from_root.expect("invariant: checked above"));
        Ok(())
    }

    /// Makes `physical` (the hard link `name`, at `key`) the file `target` names, which must be
    /// a file extracted earlier.
    fn add_hard_link(
        &mut self,
        name: &str,
        key: &str,
        physical: &Path,
        target: &str,
    ) -> Result<(), OciError> {
        let source = self.find_file(target).map_err(|why| match why {
            Some(why) => bad_archive(format!(
                "hard link `{name}` points at `{target}`, {}",
                why.describe()
            )),
            None => bad_archive(format!(
                "hard link `{name}` points at `{target}`, which is not a file earlier \
                 in the archive"
            )),
        })?;
        self.links.remove(key);
        if source != physical {
            self.prepare(physical)?;
            fs::hard_link(&source, physical)
                .or_else(|_| fs::copy(&source, physical).map(drop))
                .map_err(write_error(physical))?;
        }
        Ok(())
    }

    /// Makes room for a new file at `physical`: parents created, an older file removed.
    fn prepare(&self, physical: &Path) -> Result<(), OciError> {
        let parent = physical
            .parent()
            .expect("invariant: entries are below the root");
        fs::create_dir_all(parent).map_err(write_error(parent))?;
        if fs::symlink_metadata(physical).is_ok_and(|m| m.is_file()) {
            fs::remove_file(physical).map_err(write_error(physical))?;
        }
        Ok(())
    }
}

/// A link entry's target, as UTF-8.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, name: &str) -> Result<String, OciError> {
    let target = entry
        .link_name_bytes()
        .map(|t| t.into_owned())
        .unwrap_or_default();
    if target.is_empty() {
        return Err(bad_archive(format!("link `{name}` has no target")));
    }
    String::from_utf8(target)
        .map_err(|_| bad_archive(format!("link `{name}` has a target that is not UTF-8")))
}

/// Copies an entry's data to a new file at `physical`; returns the bytes copied.
fn copy_entry(entry: &mut dyn Read, name: &str, physical: &Path) -> Result<u64, OciError> {
    let file = File::create(physical).map_err(write_error(physical))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut buffer = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    loop {
        let n = entry
            .read(&mut buffer)
            .map_err(|e| truncated(format!("entry `{name}`: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n]).map_err(write_error(physical))?;
        written += n as u64;
    }
    out.flush().map_err(write_error(physical))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pairs: &[(&str, &str)]) -> Extracted {
        Extracted {
            root: PathBuf::from("/nonexistent"),
            links: pairs
                .iter()
                .map(|(l, t)| ((*l).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    fn resolved(tree: &Extracted, path: &str) -> Result<String, &'static str> {
        tree.resolve(path, true)
            .map(|parts| parts.join("/"))
            .map_err(|why| why.describe())
    }

    #[test]
    fn links_resolve_by_name_and_never_above_the_root() {
        // As old `docker save` writes: `<id>/layer.tar -> ../<id2>/layer.tar`.
        let tree = links(&[
            ("a/layer.tar", "a/../b/layer.tar"),
            ("here", "."),
            ("up", "here/.."),
        ]);
        assert_eq!(resolved(&tree, "a/layer.tar"), Ok("b/layer.tar".into()));
        assert_eq!(resolved(&tree, "./x/./y"), Ok("x/y".into()));
        assert_eq!(resolved(&tree, "here/a"), Ok("a".into()));
        // `here` is the root, so `here/..` is above it even though it reads as `.`.
        assert_eq!(resolved(&tree, "up"), Err("outside the archive"));
        assert_eq!(resolved(&tree, "x/../.."), Err("outside the archive"));
        let looping = links(&[("l", "m"), ("m", "l")]);
        assert!(resolved(&looping, "l/x").is_err());
        assert_eq!(
            tree.resolve("a/layer.tar", false).map(|p| p.join("/")).ok(),
            Some("a/layer.tar".into()),
            "the last component is followed only when asked"
        );
    }
}
