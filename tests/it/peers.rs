//! What the peer comparisons share: an image unpacked into a listing of its filesystem
//! (path, type, mode, owner, content, link target), its config, and the difference of two
//! listings.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::Value;

use crate::support::tool;

/// A build context in `scratch` for the busybox base the peer comparisons build on: the
/// host's /bin/busybox (busybox-static) and a Dockerfile installing its links.
pub fn busybox_context(scratch: &Path) -> std::path::PathBuf {
    let base = scratch.join("busybox-ctx");
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::copy("/bin/busybox", base.join("busybox")).expect("/bin/busybox (busybox-static)");
    std::fs::write(
        base.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .expect("write");
    base
}

/// Whether `path` is one a peer's runtime leaves in RUN layers as a mount point (`/dev`,
/// `/proc`, `/sys`, the network files, and the directories of `also`): bld's layers hold only
/// what the step changed, a documented difference.
pub fn runtime_leftover(path: &str, also: &[&str]) -> bool {
    ["dev", "proc", "sys"]
        .iter()
        .chain(also)
        .any(|d| path == *d || path.starts_with(&format!("{d}/")))
        || ["etc/hosts", "etc/resolv.conf", "etc/hostname", "etc"].contains(&path)
}

/// `path → "type mode uid:gid content"` for everything under `root`.
pub fn listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let relative = path
                .strip_prefix(root)
                .expect("prefix")
                .display()
                .to_string();
            let file_type = meta.file_type();
            let what = if meta.is_dir() {
                pending.push(path.clone());
                "dir".to_owned()
            } else if file_type.is_symlink() {
                format!(
                    "symlink -> {}",
                    std::fs::read_link(&path).expect("readlink").display()
                )
            } else if meta.is_file() {
                let content = std::fs::read(&path).expect("read");
                format!(
                    "file {} bytes {}",
                    content.len(),
                    bld_core::Digest::of(&content).hex()
                )
            } else if file_type.is_fifo() {
                "fifo".to_owned()
            } else if file_type.is_char_device() || file_type.is_block_device() {
                format!("device {:x}", meta.rdev())
            } else {
                "other".to_owned()
            };
            out.insert(
                relative,
                format!(
                    "{what} {:o} {}:{}",
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid()
                ),
            );
        }
    }
    out
}

/// The config of the image in the OCI layout `layout` (its only or `latest` tag).
pub fn image_config(layout: &Path) -> Value {
    serde_json::from_str(&tool(
        "skopeo",
        &["inspect", "--config", &format!("oci:{}", layout.display())],
    ))
    .expect("json")
}

/// The `config` object of the image in the OCI layout `layout` (its only or `latest` tag).
pub fn runtime_config(layout: &Path) -> Value {
    image_config(layout)["config"].clone()
}

/// Unpacks the image `reference` (`DIR:TAG`) with umoci and lists its root filesystem.
pub fn unpacked_listing(reference: &str, bundle: &Path) -> BTreeMap<String, String> {
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            reference,
            &bundle.display().to_string(),
        ],
    );
    listing(&bundle.join("rootfs"))
}

/// One line per path whose entry differs between `ours` and `theirs` (absent: `None`).
pub fn differences(
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
    peer: &str,
) -> Vec<String> {
    let paths: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    paths
        .into_iter()
        .filter(|path| ours.get(*path) != theirs.get(*path))
        .map(|path| {
            format!(
                "    {path}: bld {:?} {peer} {:?}",
                ours.get(path),
                theirs.get(path)
            )
        })
        .collect()
}
