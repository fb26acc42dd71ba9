//! Reading what a step changed from the overlay upper directory, and walking any directory in
//! overlayfs's format (an unpacked layer too).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::{SandboxError, io_error};

/// One change a step made (or, walking an unpacked layer, one entry the layer holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// What it is now.
    pub kind: ChangeKind,
    /// Size in bytes of a regular file (0 for anything else).
    pub size: u64,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Its inode (device and inode number) when it is a regular file with more than one
    /// link, so that the names of one file can be told apart from copies.
    pub shared_inode: Option<(u64, u64)>,
    /// Its extended attributes (name and value, sorted by name) but overlayfs's own
    /// (`trusted.overlay.*`: opaque directories, copy-up origins, redirects).
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// What a changed path is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// A regular file, read from `source`.
    File {
        /// Where its content is.
        source: PathBuf,
    },
    /// A directory; `opaque` when it replaced a lower one whole (its old contents are gone).
    Dir {
        /// Whether it hides everything below it in lower layers.
        opaque: bool,
    },
    /// A symbolic link.
    Symlink {
        /// Its target.
        target: String,
    },
    /// A FIFO (named pipe).
    Fifo,
    /// A character or block device (but a 0/0 character device, which is a whiteout).
    Device {
        /// Whether it is a block device.
        block: bool,
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// Deleted.
    Whiteout,
}

/// Every change recorded in `upper`, sorted by path (parents before children).
pub fn upper_changes(upper: &Path) -> Result<Vec<Change>, SandboxError> {
    let mut changes = OverlayWalk::new(upper).collect::<Result<Vec<_>, _>>()?;
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// The entries of a directory in overlayfs's format — an upper directory, or a layer unpacked
/// for overlayfs — each read as a [`Change`] (whiteouts are 0/0 character devices, opaque
/// directories carry `trusted.overlay.opaque`); sockets are passed over, as Docker's layer
/// writer passes them over. A directory comes before what it holds.
///
/// The tree may be an image's or a step's making: no symlink is followed or `stat`ed through
/// (only the root may be one), and the walk keeps its own stack, so no depth of tree exhausts
/// bld's.
pub struct OverlayWalk {
    root: PathBuf,
    entries: walkdir::IntoIter,
}

impl OverlayWalk {
    /// Walks the directory `root`.
    pub fn new(root: &Path) -> OverlayWalk {
        OverlayWalk {
            root: root.to_owned(),
            entries: WalkDir::new(root)
                .min_depth(1)
                .follow_links(false)
                .into_iter(),
        }
    }

    /// Does not walk into the directory yielded last (call it only after a directory).
    pub fn skip_contents(&mut self) {
        self.entries.skip_current_dir();
    }

    /// `entry` as a change, `None` for a socket.
    fn read(&self, entry: &walkdir::DirEntry) -> Result<Option<Change>, SandboxError> {
        let full = entry.path();
        let meta = entry
            .metadata()
            .map_err(|e| io_error("stat", full)(e.into()))?;
        let file_type = meta.file_type();
        let kind = if file_type.is_char_device() && meta.rdev() == 0 {
            ChangeKind::Whiteout
        } else if file_type.is_char_device() || file_type.is_block_device() {
            ChangeKind::Device {
                block: file_type.is_block_device(),
                major: rustix::fs::major(meta.rdev()),
                minor: rustix::fs::minor(meta.rdev()),
            }
        } else if file_type.is_fifo() {
            ChangeKind::Fifo
        } else if file_type.is_dir() {
            let opaque = rustix::fs::lgetxattr(full, "trusted.overlay.opaque", &mut [0u8; 4])
                .is_ok_and(|n| n > 0);
            ChangeKind::Dir { opaque }
        } else if file_type.is_symlink() {
            let target = fs::read_link(full).map_err(io_error("read link", full))?;
            ChangeKind::Symlink {
                target: target.to_string_lossy().into_owned(),
            }
        } else if file_type.is_file() {
            ChangeKind::File {
                source: full.to_owned(),
            }
        } else {
            return Ok(None);
        };
        let xattrs = match kind {
            ChangeKind::Whiteout => Vec::new(),
            _ => extended_attributes(full)?,
        };
        let relative = full.strip_prefix(&self.root).unwrap_or(full);
        Ok(Some(Change {
            path: relative.to_string_lossy().into_owned(),
            kind,
            size: if file_type.is_file() { meta.len() } else { 0 },
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            shared_inode: (file_type.is_file() && meta.nlink() > 1)
                .then(|| (meta.dev(), meta.ino())),
            xattrs,
        }))
    }
}

/// The extended attributes of `path` (not followed if a symlink), sorted by name, but
/// `trusted.overlay.*`; none where the filesystem has no extended attributes.
fn extended_attributes(path: &Path) -> Result<Vec<(String, Vec<u8>)>, SandboxError> {
    let unreadable =
        |e: rustix::io::Errno| io_error("read the extended attributes of", path)(e.into());
    let mut names = [0u8; 1024];
    let listed = match rustix::fs::llistxattr(path, &mut names) {
        Ok(0) | Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Ok(len) => names[..len].to_vec(),
        Err(rustix::io::Errno::RANGE) => {
            let mut names = vec![0u8; rustix::fs::llistxattr_query(path).map_err(unreadable)?];
            let len = rustix::fs::llistxattr(path, &mut names).map_err(unreadable)?;
            names.truncate(len);
            names
        }
        Err(e) => return Err(unreadable(e)),
    };
    let mut xattrs = Vec::new();
    // A name that is not UTF-8 cannot be a PAX record's: passed over.
    let names = listed
        .split(|b| *b == 0)
        .filter_map(|n| std::str::from_utf8(n).ok());
    for name in names.filter(|n| !n.is_empty() && !n.starts_with("trusted.overlay.")) {
        let mut value = vec![0u8; rustix::fs::lgetxattr_query(path, name).map_err(unreadable)?];
        let len = rustix::fs::lgetxattr(path, name, &mut value).map_err(unreadable)?;
        value.truncate(len);
        xattrs.push((name.to_owned(), value));
    }
    xattrs.sort();
    Ok(xattrs)
}

impl Iterator for OverlayWalk {
    type Item = Result<Change, SandboxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.entries.next()? {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e.path().unwrap_or(&self.root).to_owned();
                    return Some(Err(io_error("list", &path)(e.into())));
                }
            };
            if let Some(change) = self.read(&entry).transpose() {
                return Some(change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn overlay_walks_read_every_kind_and_never_follow_a_symlink() {
        let outside = tempfile::tempdir().expect("tempdir");
        fs::write(outside.path().join("secret"), "host").expect("write");
        let root = tempfile::tempdir().expect("tempdir");
        let upper = root.path();
        fs::create_dir_all(upper.join("a/b")).expect("mkdir");
        fs::write(upper.join("a/b/file"), "12345").expect("write");
        symlink(outside.path(), upper.join("a/link")).expect("symlink");
        crate::make_whiteout(&upper.join("gone"));
        let changes = upper_changes(upper).expect("changes");
        let file = changes.iter().find(|c| c.path == "a/b/file").expect("file");
        assert_eq!(file.size, 5);
        let kinds: Vec<(String, ChangeKind)> =
            changes.into_iter().map(|c| (c.path, c.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("a".to_owned(), ChangeKind::Dir { opaque: false }),
                ("a/b".to_owned(), ChangeKind::Dir { opaque: false }),
                (
                    "a/b/file".to_owned(),
                    ChangeKind::File {
                        source: upper.join("a/b/file")
                    }
                ),
                (
                    "a/link".to_owned(),
                    ChangeKind::Symlink {
                        target: outside.path().display().to_string()
                    }
                ),
                ("gone".to_owned(), ChangeKind::Whiteout),
            ]
        );
    }

    #[test]
    fn special_files_hard_links_and_extended_attributes_are_read() {
        use rustix::fs::{FileType, Mode, XattrFlags, makedev};
        let root = tempfile::tempdir().expect("tempdir");
        let upper = root.path();
        let at = |name: &str| upper.join(name);
        let mknod = |name: &str, kind, device| {
            rustix::fs::mknodat(rustix::fs::CWD, at(name), kind, Mode::empty(), device)
                .expect("mknod");
        };
        fs::write(at("h1"), "x").expect("write");
        fs::hard_link(at("h1"), at("h2")).expect("link");
        fs::write(at("single"), "y").expect("write");
        mknod("p", FileType::Fifo, 0);
        let sticky = std::os::unix::fs::PermissionsExt::from_mode(0o1640);
        fs::set_permissions(at("p"), sticky).expect("chmod");
        mknod("c", FileType::CharacterDevice, makedev(1, 3));
        mknod("b", FileType::BlockDevice, makedev(7, 2));
        let _socket = std::os::unix::net::UnixListener::bind(at("sock")).expect("socket");
        let capability = b"\x01\0\0\x02\0\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        for (name, value) in [
            ("user.k", b"v".as_slice()),
            ("security.capability", capability),
            ("trusted.overlay.origin", b"o"),
        ] {
            rustix::fs::lsetxattr(at("h1"), name, value, XattrFlags::empty()).expect("xattr");
        }
        let changes = upper_changes(upper).expect("changes");
        let found = |path: &str| changes.iter().find(|c| c.path == path).expect(path);
        assert_eq!(
            (&found("p").kind, found("p").mode),
            (&ChangeKind::Fifo, 0o1640)
        );
        let device = |block, major, minor| ChangeKind::Device {
            block,
            major,
            minor,
        };
        assert_eq!(found("c").kind, device(false, 1, 3));
        assert_eq!(found("b").kind, device(true, 7, 2));
        assert!(
            changes.iter().all(|c| c.path != "sock"),
            "sockets: {changes:?}"
        );
        let (h1, h2) = (found("h1"), found("h2"));
        assert!(h1.shared_inode.is_some());
        assert_eq!(h1.shared_inode, h2.shared_inode);
        assert_eq!(found("single").shared_inode, None);
        let names: Vec<&str> = h1.xattrs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["security.capability", "user.k"],
            "never overlay's own"
        );
        assert_eq!(h2.xattrs, h1.xattrs, "one file, two names");
    }

    #[test]
    fn a_skipped_directory_is_not_walked_into() {
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(root.path().join("skip/deep")).expect("mkdir");
        fs::create_dir_all(root.path().join("keep/deep")).expect("mkdir");
        let mut walk = OverlayWalk::new(root.path());
        let mut seen = Vec::new();
        while let Some(change) = walk.next() {
            let change = change.expect("walk");
            if change.path == "skip" {
                walk.skip_contents();
            }
            seen.push(change.path);
        }
        seen.sort();
        assert_eq!(seen, ["keep", "keep/deep", "skip"]);
    }
}
