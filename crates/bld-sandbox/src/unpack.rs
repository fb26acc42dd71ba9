//! Unpacking a layer blob into a lower directory for overlayfs.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::BufReader;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{FileType, Mode, XattrFlags};

use crate::{SandboxError, io_error};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Unpacks the (gzip or plain) layer tar at `blob` into `dest`, unless `dest` already exists.
/// The directory appears whole or not at all (built beside it and renamed). OCI whiteouts
/// become overlay whiteouts: `.wh.NAME` a 0/0 character device `NAME`, `.wh..wh..opq` the
/// `trusted.overlay.opaque` attribute on its directory. Owners, modes and mtimes are kept.
pub fn unpack_layer(blob: &Path, dest: &Path) -> Result<(), SandboxError> {
    if dest.is_dir() {
        return Ok(());
    }
    // Unique per call: two actions of one build may unpack the same layer at once.
    static STAGINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STAGINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = dest.with_extension(format!("unpacking-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io_error("create", &staging))?;
    let result = unpack_into(blob, &staging);
    if let Err(error) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(error);
    }
    match fs::rename(&staging, dest) {
        Ok(()) => Ok(()),
        // Another process unpacked the same layer first: theirs is as good as ours.
        Err(_) if dest.is_dir() => {
            let _ = fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => Err(io_error("rename into", dest)(e)),
    }
}

fn unpack_into(blob: &Path, root: &Path) -> Result<(), SandboxError> {
    let bad = |reason: String| SandboxError::BadLayer {
        path: blob.to_owned(),
        reason,
    };
    let file = File::open(blob).map_err(io_error("open", blob))?;
    let mut reader = BufReader::new(file);
    let gzip = std::io::BufRead::fill_buf(&mut reader)
        .map_err(io_error("read", blob))?
        .starts_with(&[0x1f, 0x8b]);
    let stream: Box<dyn std::io::Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(stream);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(bad(format!("entry `{}` escapes the layer", path.display())));
        }
        let name = path.file_name().map(OsStr::as_bytes).unwrap_or_default();
        let parent = root.join(path.parent().unwrap_or(Path::new("")));
        if name == OPAQUE.as_bytes() {
            fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
            rustix::fs::setxattr(&parent, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(|e| io_error("mark opaque", &parent)(e.into()))?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
            let target = parent.join(OsStr::from_bytes(hidden));
            let _ = fs::remove_file(&target);
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &target,
                FileType::CharacterDevice,
                Mode::empty(),
                0,
            )
            .map_err(|e| io_error("write whiteout", &target)(e.into()))?;
            continue;
        }
        entry.unpack_in(root).map_err(|e| {
            // tar's message names the path; the cause is inside it.
            let cause = e
                .get_ref()
                .and_then(|inner| inner.source())
                .map(|c| format!(": {c}"));
            bad(format!(
                "`{}`: {e}{}",
                path.display(),
                cause.unwrap_or_default()
            ))
        })?;
    }
    Ok(())
}
