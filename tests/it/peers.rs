//! What the peer comparisons share: an image unpacked into a listing of its filesystem
//! (path, type, mode, owner, content, link target, device numbers, which names are hard links
//! of one file, extended attributes), its runtime config, and the difference of two listings.

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

/// A Dockerfile whose steps make what a layer holds beyond regular files: a FIFO, devices,
/// hard links, setuid/setgid/sticky bits, and a file capability and `user.*` attribute (on a
/// file copied up from `caps.tar`, [`caps_archive`]: busybox has no setcap); then `COPY
/// --from` of them, and a later `RUN` that lists what it sees in `/seen`.
pub const SPECIAL_FILES_DOCKERFILE: &str = "FROM busybox AS made\nADD caps.tar /x/\n\
    RUN mkdir /s && cd /s && mkfifo p && echo x > h1 && ln h1 h2 && ln h1 h0 && mknod c c 1 3 && mknod b b 7 0 && chmod 4755 h1 && echo y > sg && chmod 2755 sg && mkdir st && chmod 1777 st && chmod 0750 /x/capfile /x/userfile && ln /x/capfile /x/caplink\n\
    FROM made\nCOPY --from=made /s /copied\nCOPY --from=made /x /copiedx\nCOPY --from=made /s/h1 /s/h2 /two/\n\
    RUN stat -c '%n %F %h %a %t,%T' /s/p /s/c /s/b /s/h0 /s/h1 /s/sg /s/st /x/caplink /copied/c /copied/h1 /two/h1 > /seen\n";

/// The value of `security.capability` for `cap_net_bind_service=ep`, as setcap writes it.
pub const NET_BIND_SERVICE: &[u8] = b"\x01\0\0\x02\0\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// A tar of `capfile`, with the capability [`NET_BIND_SERVICE`] and a `user.k` attribute,
/// and `userfile`, with `user.k` only.
pub fn caps_archive() -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    let user = ("SCHILY.xattr.user.k", b"v".as_slice());
    let capability = ("SCHILY.xattr.security.capability", NET_BIND_SERVICE);
    for (name, records) in [
        ("capfile", vec![capability, user]),
        ("userfile", vec![user]),
    ] {
        archive.append_pax_extensions(records).expect("pax");
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o755);
        header.set_size(5);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        archive
            .append_data(&mut header, name, b"data\n".as_slice())
            .expect("append");
    }
    archive.into_inner().expect("tar")
}

/// Builds [`busybox_context`] with bld into `store`, tagged `busybox`; returns the context.
pub fn bld_busybox_base(scratch: &Path, store: &Path) -> std::path::PathBuf {
    let base = busybox_context(scratch);
    crate::support::run_bld(
        scratch,
        store,
        &["build", "-t", "busybox", &base.display().to_string()],
    )
    .ok();
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

/// `path → "type mode uid:gid content"` for everything under `root`, then the first name (in
/// sorted order) of the file when it has several (`link-of NAME`) and its extended attributes
/// (`xattr NAME=HEX`).
pub fn listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut names: BTreeMap<(u64, u64), BTreeSet<String>> = BTreeMap::new();
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
            if meta.is_file() && meta.nlink() > 1 {
                let inode = (meta.dev(), meta.ino());
                names.entry(inode).or_default().insert(relative.clone());
            }
            if meta.is_dir() {
                pending.push(path.clone());
            }
            out.insert(relative, describe(&path, &meta));
        }
    }
    for group in names.values().filter(|names| names.len() > 1) {
        let first = group.first().expect("a group has names").clone();
        for name in group {
            if let Some(line) = out.get_mut(name) {
                line.push_str(&format!(" link-of {first}"));
            }
        }
    }
    out
}

/// `"type mode uid:gid"` of `path`, with its extended attributes.
fn describe(path: &Path, meta: &std::fs::Metadata) -> String {
    let file_type = meta.file_type();
    let what = if meta.is_dir() {
        "dir".to_owned()
    } else if file_type.is_symlink() {
        format!(
            "symlink -> {}",
            std::fs::read_link(path).expect("readlink").display()
        )
    } else if meta.is_file() {
        let content = std::fs::read(path).expect("read");
        format!(
            "file {} bytes {}",
            content.len(),
            bld_core::Digest::of(&content).hex()
        )
    } else if file_type.is_fifo() {
        "fifo".to_owned()
    } else if file_type.is_char_device() || file_type.is_block_device() {
        let kind = if file_type.is_block_device() {
            "block"
        } else {
            "char"
        };
        format!("{kind} device {:x}", meta.rdev())
    } else {
        "other".to_owned()
    };
    let mut line = format!(
        "{what} {:o} {}:{}",
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid()
    );
    for (name, value) in extended_attributes(path) {
        let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
        line.push_str(&format!(" xattr {name}={hex}"));
    }
    line
}

/// The extended attributes of `path` (not followed), sorted by name.
fn extended_attributes(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut list = vec![0u8; 65536];
    let len = rustix::fs::llistxattr(path, &mut list).expect("llistxattr");
    let mut xattrs: Vec<(String, Vec<u8>)> = list[..len]
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| {
            let name = String::from_utf8_lossy(name).into_owned();
            let mut value = vec![0u8; 65536];
            let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value).expect("lgetxattr");
            value.truncate(len);
            (name, value)
        })
        .collect();
    xattrs.sort();
    xattrs
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
