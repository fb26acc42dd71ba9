//! An unpacked layer's completion record (`<dir>/record`): a fingerprint of every entry's
//! metadata, written once the unpacking is complete and compared against the tree before it
//! is reused, so a partial or altered directory is noticed.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bld_core::Sha256Writer;
use bld_core::beneath::RootDir;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::{SandboxError, io_error};

/// The first line of a completion record.
const RECORD_VERSION: &str = "bld-unpacked v1";

/// Layer directories this process has checked against their records.
static VERIFIED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Writes the record of the unpacking in `dir` (its tree in `dir/root`).
pub(super) fn write_record(dir: &Path) -> Result<(), SandboxError> {
    let fingerprint = fingerprint(&dir.join("root"))?;
    let record = dir.join("record");
    fs::write(&record, format!("{RECORD_VERSION}\n{fingerprint}\n"))
        .map_err(io_error("write", &record))
}

/// Remembers that `dir` matches its record, for the rest of this process.
pub(super) fn remember_verified(dir: &Path) {
    if let Ok(mut verified) = VERIFIED.lock() {
        verified
            .get_or_insert_with(HashSet::new)
            .insert(dir.to_owned());
    }
}

/// Whether `dir` holds a complete unpacking whose tree still matches its record (checked once
/// per process).
pub(super) fn is_intact(dir: &Path) -> Result<bool, SandboxError> {
    if VERIFIED
        .lock()
        .is_ok_and(|v| v.as_ref().is_some_and(|v| v.contains(dir)))
        && dir.join("record").is_file()
    {
        return Ok(true);
    }
    let Ok(record) = fs::read_to_string(dir.join("record")) else {
        return Ok(false);
    };
    let mut lines = record.lines();
    if lines.next() != Some(RECORD_VERSION) {
        return Ok(false);
    }
    let Some(expected) = lines.next() else {
        return Ok(false);
    };
    let root = dir.join("root");
    if !fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir()) {
        return Ok(false);
    }
    let intact = fingerprint(&root)? == expected;
    if intact {
        remember_verified(dir);
    }
    Ok(intact)
}

/// A digest of every entry's metadata under `root` (path, type, mode, owner, size, inode,
/// mtime, ctime, device), walked through descriptors in name order. Adding, removing,
/// changing or replacing anything changes it (ctime cannot be set back).
fn fingerprint(root: &Path) -> Result<String, SandboxError> {
    let mut hasher = Sha256Writer::new(io::sink());
    let top = RootDir::open(root).map_err(io_error("open", root))?;
    let stat = rustix::fs::fstat(top.fd()).map_err(|e| io_error("stat", root)(e.into()))?;
    write_stat(&mut hasher, b"", &stat);
    let mut pending: Vec<(OwnedFd, Vec<u8>)> = vec![(
        rustix::io::dup(top.fd()).map_err(|e| io_error("open", root)(e.into()))?,
        Vec::new(),
    )];
    while let Some((fd, relative)) = pending.pop() {
        let walk_error =
            |e: Errno| io_error("list", &root.join(OsStr::from_bytes(&relative)))(e.into());
        let mut names: Vec<Vec<u8>> = Vec::new();
        for entry in Dir::read_from(&fd).map_err(walk_error)? {
            let entry = entry.map_err(walk_error)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        names.sort();
        for name in names {
            let stat = rustix::fs::statat(&fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(walk_error)?;
            let mut path = relative.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            write_stat(&mut hasher, &path, &stat);
            if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
                let child = rustix::fs::openat(
                    &fd,
                    name.as_slice(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(walk_error)?;
                pending.push((child, path));
            }
        }
    }
    let (_, digest, _) = hasher.finish();
    Ok(digest.hex().to_owned())
}

fn write_stat(hasher: &mut Sha256Writer<io::Sink>, path: &[u8], stat: &rustix::fs::Stat) {
    let _ = hasher.write_all(&(path.len() as u64).to_le_bytes());
    let _ = hasher.write_all(path);
    #[allow(clippy::unnecessary_cast)]
    for field in [
        stat.st_mode as u64,
        stat.st_uid as u64,
        stat.st_gid as u64,
        stat.st_size as u64,
        stat.st_ino as u64,
        stat.st_rdev as u64,
        stat.st_mtime as u64,
        stat.st_mtime_nsec as u64,
        stat.st_ctime as u64,
        stat.st_ctime_nsec as u64,
    ] {
        let _ = hasher.write_all(&field.to_le_bytes());
    }
}
