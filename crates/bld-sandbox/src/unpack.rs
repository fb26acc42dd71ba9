//! Unpacking a layer blob into a lower directory for overlayfs.
//!
//! A layer is untrusted input (it may come from any archive or registry), so every write goes
//! through directory descriptors opened beneath the unpack root with no symlink followed
//! ([`bld_core::beneath`]): an entry `sl/.wh.x` after `sl -> /etc` is refused, not applied to
//! the host. An unpacked layer is `<dir>/root` beside `<dir>/record`, built in a staging
//! directory and renamed into place whole; the record holds a fingerprint of every entry's
//! metadata (inode, size, mode, owner, mtime, ctime), which a later use compares against the
//! tree, so a partial or altered directory is noticed and unpacked again.

mod record;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use bld_core::beneath::{RootDir, create_file_at, open_dir_at, remove_at};
use bld_core::{Digest, Sha256Reader};
use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, XattrFlags};

use self::record::{is_intact, remember_verified, write_record};
use crate::{SandboxError, io_error};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// The longest entry path a layer may hold, in bytes (the kernel's `PATH_MAX`).
const MAX_PATH: usize = 4096;
/// A layer blob to unpack, with the digests it must match.
#[derive(Debug, Clone)]
pub struct LayerSource<'a> {
    /// The blob (a gzip-compressed or plain tar).
    pub blob: &'a Path,
    /// The blob's digest (of the bytes as stored).
    pub digest: Digest,
    /// The digest of the uncompressed tar (the config's diff ID).
    pub diff_id: Digest,
}

/// Unpacks `layer` into `dir` (a directory of the store's `unpacked/`) unless a complete,
/// unaltered unpacking is already there, and returns the directory to use as a lower layer
/// (`dir/root`). OCI whiteouts become overlay whiteouts: `.wh.NAME` a 0/0 character device
/// `NAME`, `.wh..wh..opq` the `trusted.overlay.opaque` attribute on its directory. Types,
/// owners, modes, mtimes, device numbers and extended attributes are kept (but
/// `trusted.overlay.*` ones, which only bld may set). The blob is hashed as it is read and
/// refused unless it matches both digests.
pub fn unpack_layer(
    layer: &LayerSource<'_>,
    dir: &Path,
    temp_path: &dyn Fn(&str) -> PathBuf,
) -> Result<PathBuf, SandboxError> {
    let root = dir.join("root");
    if is_intact(dir)? {
        return Ok(root);
    }
    // Something incomplete or altered: move it away whole, then delete it. Checked again
    // first: another thread or process may have just renamed a complete one into place.
    if fs::symlink_metadata(dir).is_ok() && !is_intact(dir)? {
        discard(dir, &temp_path("damaged"))?;
    }
    let staging = temp_path("unpacking");
    fs::create_dir_all(staging.join("root")).map_err(io_error("create", &staging))?;
    let result = unpack_into(layer, &staging.join("root")).and_then(|()| write_record(&staging));
    if let Err(error) = result {
        let _ = discard(&staging, &staging);
        return Err(error);
    }
    match fs::rename(&staging, dir) {
        Ok(()) => {}
        // Another process unpacked the same layer first: theirs is as good as ours.
        Err(_) if is_intact(dir)? => {
            let _ = discard(&staging, &staging);
        }
        Err(e) => {
            let _ = discard(&staging, &staging);
            return Err(io_error("rename into", dir)(e));
        }
    }
    remember_verified(dir);
    Ok(root)
}

/// Writes the completion record of the layer directory `dir` (its tree in `dir/root`).
pub(crate) fn write_record_of(dir: &Path) -> Result<(), SandboxError> {
    write_record(dir)
}

/// Remembers that `dir`, just put in place whole, matches its record.
pub(crate) fn remember_adopted(dir: &Path) {
    remember_verified(dir);
}

/// Moves `path` (if anything is there) to `trash`, a fresh path on the same filesystem, and
/// deletes it there, so nobody ever sees it half-deleted under its own name.
pub fn discard(path: &Path, trash: &Path) -> Result<(), SandboxError> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    if path != trash {
        fs::rename(path, trash).map_err(io_error("move away", path))?;
    }
    let parent = trash.parent().unwrap_or(Path::new("/"));
    let name = trash.file_name().unwrap_or_default().to_string_lossy();
    let parent_dir = RootDir::open(parent).map_err(io_error("open", parent))?;
    remove_at(parent_dir.fd(), &name).map_err(io_error("remove", trash))
}

/// A layer entry's path as normal components, or why it is refused.
fn entry_components(path: &Path) -> Result<Vec<&OsStr>, String> {
    // Docker's applier cannot create longer paths either (PATH_MAX); the bound also keeps
    // every later walk of the tree shallow.
    if path.as_os_str().len() >= MAX_PATH {
        return Err(format!(
            "entry `{}…` is longer than {MAX_PATH} bytes",
            String::from_utf8_lossy(&path.as_os_str().as_bytes()[..64])
        ));
    }
    let mut components = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => components.push(part),
            Component::CurDir => {}
            Component::RootDir => {
                return Err(format!("entry `{}` is an absolute path", path.display()));
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!("entry `{}` escapes the layer", path.display()));
            }
        }
    }
    Ok(components)
}

/// A layer path's parent directories and last name (UTF-8, the layer's own rules checked by
/// [`entry_components`]); `None` for the root itself.
fn parent_and_name(path: &Path) -> Result<Option<(Vec<&str>, &str)>, String> {
    let parts = entry_components(path)?
        .into_iter()
        .map(|p| {
            p.to_str()
                .ok_or_else(|| format!("entry name `{}` is not UTF-8", p.to_string_lossy()))
        })
        .collect::<Result<Vec<&str>, String>>()?;
    Ok(parts
        .split_last()
        .map(|(name, parents)| (parents.to_vec(), *name)))
}

fn unpack_into(layer: &LayerSource<'_>, root: &Path) -> Result<(), SandboxError> {
    let blob = layer.blob;
    let bad = |reason: String| SandboxError::BadLayer {
        path: blob.to_owned(),
        reason,
    };
    let file = File::open(blob).map_err(io_error("open", blob))?;
    let mut compressed = BufReader::new(Sha256Reader::new(file));
    let gzip = std::io::BufRead::fill_buf(&mut compressed)
        .map_err(io_error("read", blob))?
        .starts_with(&[0x1f, 0x8b]);
    let dir = RootDir::open(root).map_err(io_error("open", root))?;
    let mut dir_times: Vec<(Vec<String>, u64)> = Vec::new();
    let stream: Box<dyn Read + '_> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(&mut compressed))
    } else {
        Box::new(&mut compressed)
    };
    let mut archive = tar::Archive::new(Sha256Reader::new(stream));
    apply_entries(&mut archive, &dir, &mut dir_times, &bad)?;
    let (_, tar_digest, _) = archive
        .into_inner()
        .finish_all()
        .map_err(|e| bad(e.to_string()))?;
    let (_, blob_digest, _) = compressed
        .into_inner()
        .finish_all()
        .map_err(io_error("read", blob))?;
    check_digest(blob, "blob", layer.digest, blob_digest)?;
    check_digest(
        blob,
        "uncompressed content (diff ID)",
        layer.diff_id,
        tar_digest,
    )?;
    set_dir_times(&dir, root, dir_times, &bad)
}

/// Unpacks the plain tar `input` (no digest to check, its own whiteout names applied as a
/// layer's would be) into the existing directory `root`, every write beneath it: what
/// `bld build -o type=local` writes the merged filesystem with. `what` names the input.
pub fn unpack_tar(input: &mut dyn Read, root: &Path, what: &Path) -> Result<(), SandboxError> {
    let bad = |reason: String| SandboxError::BadLayer {
        path: what.to_owned(),
        reason,
    };
    let dir = RootDir::open(root).map_err(io_error("open", root))?;
    let mut dir_times = Vec::new();
    apply_entries(&mut tar::Archive::new(input), &dir, &mut dir_times, &bad)?;
    set_dir_times(&dir, root, dir_times, &bad)
}

/// Sets the directories' mtimes once everything is in place, deepest first: creating entries
/// inside changed them.
fn set_dir_times(
    dir: &RootDir,
    root: &Path,
    mut dir_times: Vec<(Vec<String>, u64)>,
    bad: &dyn Fn(String) -> SandboxError,
) -> Result<(), SandboxError> {
    dir_times.sort_by_key(|(parts, _)| std::cmp::Reverse(parts.len()));
    for (parts, mtime) in dir_times {
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let fd = dir
            .open_dir(&parts, false)
            .map_err(|e| bad(format!("`{}`: {e}", parts.join("/"))))?;
        set_times(fd.as_fd(), None::<&str>, mtime)
            .map_err(io_error("set the mtime of", &root.join(parts.join("/"))))?;
    }
    Ok(())
}

/// Refuses the layer `blob` when `what` of it hashes to `actual`, not `expected`.
fn check_digest(
    blob: &Path,
    what: &'static str,
    expected: Digest,
    actual: Digest,
) -> Result<(), SandboxError> {
    if actual == expected {
        return Ok(());
    }
    Err(SandboxError::CorruptLayer {
        path: blob.to_owned(),
        expected,
        actual,
        what,
    })
}

/// Sets the mtime (and atime) of `fd` itself, or of `name` in the directory `fd` (not
/// followed).
pub(crate) fn set_times<P: rustix::path::Arg>(
    fd: BorrowedFd<'_>,
    name: Option<P>,
    mtime: u64,
) -> io::Result<()> {
    let time = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    match name {
        None => rustix::fs::futimens(fd, &times)?,
        Some(name) => rustix::fs::utimensat(fd, name, &times, AtFlags::SYMLINK_NOFOLLOW)?,
    }
    Ok(())
}

/// Names the entry being applied in an error.
type AtEntry<'a> = &'a dyn Fn(&dyn std::fmt::Display) -> SandboxError;

/// What every kind of entry is given: owner, permission bits, mtime, extended attributes.
struct EntryMeta {
    mode: Mode,
    mtime: u64,
    uid: Option<rustix::fs::Uid>,
    gid: Option<rustix::fs::Gid>,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl EntryMeta {
    fn read<R: Read>(entry: &mut tar::Entry<'_, R>, at: AtEntry<'_>) -> Result<Self, SandboxError> {
        let xattrs = extended_attributes(entry).map_err(|e| at(&e))?;
        let header = entry.header();
        let mode = Mode::from_raw_mode(header.mode().map_err(|e| at(&e))? & 0o7777);
        let mtime = header.mtime().map_err(|e| at(&e))?;
        let id = |n: io::Result<u64>| {
            u32::try_from(n.map_err(|e| at(&e))?).map_err(|_| at(&"owner out of range"))
        };
        Ok(EntryMeta {
            mode,
            mtime,
            uid: Some(rustix::fs::Uid::from_raw(id(header.uid())?)),
            gid: Some(rustix::fs::Gid::from_raw(id(header.gid())?)),
            xattrs,
        })
    }
}

/// Applies every entry of `archive` beneath `root`, noting each directory's mtime in
/// `dir_times` (set once everything is in place).
fn apply_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    root: &RootDir,
    dir_times: &mut Vec<(Vec<String>, u64)>,
    bad: &dyn Fn(String) -> SandboxError,
) -> Result<(), SandboxError> {
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let Some((parents, name)) = parent_and_name(&path).map_err(bad)? else {
            continue; // the root itself
        };
        // Every failure names the entry.
        let at = |what: &dyn std::fmt::Display| bad(format!("entry `{}`: {what}", path.display()));
        let parent = root.open_dir(&parents, true).map_err(|e| at(&e))?;
        if apply_whiteout_marker(parent.as_fd(), name, &at)? {
            continue;
        }
        let meta = EntryMeta::read(&mut entry, &at)?;
        let keep_dir = clear_the_way(parent.as_fd(), name, kind, &at)?;
        match kind {
            tar::EntryType::Directory => {
                make_dir(parent.as_fd(), name, keep_dir, &meta, &at)?;
                let mut all: Vec<String> = parents.iter().map(|p| (*p).to_owned()).collect();
                all.push(name.to_owned());
                dir_times.push((all, meta.mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                write_file(parent.as_fd(), name, &mut entry, &meta, &at)?;
            }
            tar::EntryType::Symlink => make_symlink(parent.as_fd(), name, &entry, &meta, &at)?,
            tar::EntryType::Link => make_hard_link(root, parent.as_fd(), name, &entry, &at)?,
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                make_node(parent.as_fd(), name, entry.header(), &meta, &at)?;
            }
            // Other types (sockets, vendor extensions) have no place in a filesystem layer.
            _ => {}
        }
    }
    Ok(())
}

/// Applies `name` as an OCI whiteout marker in `parent` if it is one (`.wh..wh..opq` marks the
/// directory opaque, `.wh.NAME` replaces `NAME` with an overlay whiteout); whether it was.
fn apply_whiteout_marker(
    parent: BorrowedFd<'_>,
    name: &str,
    at: AtEntry<'_>,
) -> Result<bool, SandboxError> {
    if name == OPAQUE {
        rustix::fs::fsetxattr(parent, "trusted.overlay.opaque", b"y", XattrFlags::empty())
            .map_err(|e| at(&format!("cannot mark its directory opaque: {e}")))?;
        return Ok(true);
    }
    let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) else {
        return Ok(false);
    };
    if hidden.is_empty() || hidden == "." || hidden == ".." {
        return Err(at(&"a whiteout without a name"));
    }
    remove_at(parent, hidden).map_err(|e| at(&e))?;
    rustix::fs::mknodat(parent, hidden, FileType::CharacterDevice, Mode::empty(), 0)
        .map_err(|e| at(&format!("cannot write the whiteout: {e}")))?;
    Ok(true)
}

/// Removes what is at `name` in `parent`, but a directory a directory entry describes again;
/// whether that directory is kept.
fn clear_the_way(
    parent: BorrowedFd<'_>,
    name: &str,
    kind: tar::EntryType,
    at: AtEntry<'_>,
) -> Result<bool, SandboxError> {
    let existing = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).ok();
    let keep_dir = kind == tar::EntryType::Directory
        && existing.is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
    if existing.is_some() && !keep_dir {
        remove_at(parent, name).map_err(|e| at(&e))?;
    }
    Ok(keep_dir)
}

fn make_dir(
    parent: BorrowedFd<'_>,
    name: &str,
    exists: bool,
    meta: &EntryMeta,
    at: AtEntry<'_>,
) -> Result<(), SandboxError> {
    if !exists {
        rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)).map_err(|e| at(&e))?;
    }
    let fd = open_dir_at(parent, name).map_err(|e| at(&e))?;
    rustix::fs::fchown(&fd, meta.uid, meta.gid).map_err(|e| at(&e))?;
    rustix::fs::fchmod(&fd, meta.mode).map_err(|e| at(&e))?;
    set_xattrs(fd.as_fd(), &meta.xattrs);
    Ok(())
}

fn write_file<R: Read>(
    parent: BorrowedFd<'_>,
    name: &str,
    entry: &mut tar::Entry<'_, R>,
    meta: &EntryMeta,
    at: AtEntry<'_>,
) -> Result<(), SandboxError> {
    let mut file = create_file_at(parent, name).map_err(|e| at(&e))?;
    io::copy(entry, &mut file).map_err(|e| at(&e))?;
    rustix::fs::fchown(&file, meta.uid, meta.gid).map_err(|e| at(&e))?;
    rustix::fs::fchmod(&file, meta.mode).map_err(|e| at(&e))?;
    set_xattrs(file.as_fd(), &meta.xattrs);
    set_times(file.as_fd(), None::<&str>, meta.mtime).map_err(|e| at(&e))
}

fn make_symlink<R: Read>(
    parent: BorrowedFd<'_>,
    name: &str,
    entry: &tar::Entry<'_, R>,
    meta: &EntryMeta,
    at: AtEntry<'_>,
) -> Result<(), SandboxError> {
    let target = entry
        .link_name_bytes()
        .ok_or_else(|| at(&"a symlink without a target"))?
        .into_owned();
    rustix::fs::symlinkat(target.as_slice(), parent, name).map_err(|e| at(&e))?;
    rustix::fs::chownat(parent, name, meta.uid, meta.gid, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| at(&e))?;
    set_times(parent, Some(name), meta.mtime).map_err(|e| at(&e))
}

/// A hard link to an entry already beneath `root`, found through descriptors like any path.
fn make_hard_link<R: Read>(
    root: &RootDir,
    parent: BorrowedFd<'_>,
    name: &str,
    entry: &tar::Entry<'_, R>,
    at: AtEntry<'_>,
) -> Result<(), SandboxError> {
    let target = entry
        .link_name()
        .map_err(|e| at(&e))?
        .ok_or_else(|| at(&"a hard link without a target"))?
        .into_owned();
    let Some((target_parents, target_name)) =
        parent_and_name(&target).map_err(|e| at(&format!("its hard link target: {e}")))?
    else {
        return Err(at(&"a hard link to the root"));
    };
    let target_dir = root
        .open_dir(&target_parents, false)
        .map_err(|e| at(&format!("its hard link target: {e}")))?;
    rustix::fs::linkat(&target_dir, target_name, parent, name, AtFlags::empty())
        .map_err(|e| at(&format!("cannot link to `{}`: {e}", target.display())))
}

/// A character or block device or a FIFO, as `header` describes it.
fn make_node(
    parent: BorrowedFd<'_>,
    name: &str,
    header: &tar::Header,
    meta: &EntryMeta,
    at: AtEntry<'_>,
) -> Result<(), SandboxError> {
    let file_type = match header.entry_type() {
        tar::EntryType::Char => FileType::CharacterDevice,
        tar::EntryType::Block => FileType::BlockDevice,
        _ => FileType::Fifo,
    };
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    let device = rustix::fs::makedev(major, minor);
    rustix::fs::mknodat(parent, name, file_type, Mode::empty(), device).map_err(|e| at(&e))?;
    rustix::fs::chownat(parent, name, meta.uid, meta.gid, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| at(&e))?;
    rustix::fs::chmodat(parent, name, meta.mode, AtFlags::empty()).map_err(|e| at(&e))?;
    set_times(parent, Some(name), meta.mtime).map_err(|e| at(&e))
}

/// The entry's `SCHILY.xattr.*` PAX records, but the `trusted.overlay.*` ones (an image must
/// not steer overlayfs: opaque directories and whiteouts come from OCI markers only).
fn extended_attributes<R: Read>(
    entry: &mut tar::Entry<'_, R>,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut xattrs = Vec::new();
    let Some(extensions) = entry.pax_extensions().map_err(|e| e.to_string())? else {
        return Ok(xattrs);
    };
    for extension in extensions {
        let extension = extension.map_err(|e| e.to_string())?;
        let Ok(key) = extension.key() else { continue };
        if let Some(name) = key.strip_prefix("SCHILY.xattr.")
            && !name.starts_with("trusted.overlay.")
        {
            xattrs.push((name.to_owned(), extension.value_bytes().to_vec()));
        }
    }
    Ok(xattrs)
}

/// Applies extended attributes where the filesystem takes them (a filesystem without
/// support for one is not a reason to refuse the layer).
fn set_xattrs(fd: BorrowedFd<'_>, xattrs: &[(String, Vec<u8>)]) {
    for (name, value) in xattrs {
        let _ = rustix::fs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty());
    }
}
