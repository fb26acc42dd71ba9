//! Looking paths up in a stack of unpacked layers, as overlayfs shows them, without ever
//! following a symlink on the host: a symlink in the image resolves inside the image.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use bld_core::beneath::{Node, ResolveError, resolve_in_root};

/// The largest file [`LayerStack::read_file`] reads (`/etc/passwd` and the like).
const MAX_READ: u64 = 64 << 20;

/// Unpacked layer directories, bottom first, seen as one merged tree.
#[derive(Debug, Clone)]
pub struct LayerStack<'a> {
    lowers: &'a [PathBuf],
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &std::path::Path) -> bool {
    rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut [0u8; 4]).is_ok_and(|n| n > 0)
}

impl<'a> LayerStack<'a> {
    /// The stack of `lowers` (bottom first).
    pub fn new(lowers: &'a [PathBuf]) -> Self {
        LayerStack { lowers }
    }

    /// The topmost visible entry at `path` (relative, no symlink in it as the merged tree
    /// shows it), with the host path of its copy. Every prefix is `lstat`ed before a longer
    /// path is, so no host symlink is ever followed.
    fn lookup(&self, path: &str) -> Option<(PathBuf, fs::Metadata)> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            return None;
        }
        for lower in self.lowers.iter().rev() {
            let mut current = lower.clone();
            let mut hides_below = false;
            for (i, part) in parts.iter().enumerate() {
                current.push(part);
                match fs::symlink_metadata(&current) {
                    Err(_) => break,
                    Ok(meta) if is_whiteout(&meta) => return None,
                    Ok(meta) if i + 1 == parts.len() => return Some((current, meta)),
                    Ok(meta) if meta.is_dir() => hides_below |= is_opaque(&current),
                    // A file (or symlink) here hides everything below it in lower layers.
                    Ok(_) => return None,
                }
            }
            if hides_below {
                return None;
            }
        }
        None
    }

    fn node(&self, path: &str) -> Option<Node> {
        let (host, meta) = self.lookup(path)?;
        Some(if meta.is_dir() {
            Node::Dir
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&host).ok()?;
            Node::Symlink(target.to_string_lossy().into_owned())
        } else {
            Node::Other
        })
    }

    /// `path` resolved inside the image (symlinks followed as if its root were `/`, the last
    /// one too with `follow_last`), relative to the root: `""` is the root itself.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<String, ResolveError> {
        resolve_in_root(path, follow_last, false, |p| self.node(p))
    }

    /// `path` resolved inside the image for `mkdir -p`: the part that exists resolved, the
    /// rest appended.
    pub fn resolve_for_create(&self, path: &str) -> Result<String, ResolveError> {
        resolve_in_root(path, true, true, |p| self.node(p))
    }

    /// The metadata of what `path` (resolved, relative; not the root) is in the image: of the
    /// topmost layer's copy, as overlayfs shows it.
    pub fn metadata(&self, path: &str) -> Option<fs::Metadata> {
        self.lookup(path).map(|(_, meta)| meta)
    }

    /// Whether `path` (resolved, relative) exists in the image.
    pub fn exists(&self, path: &str) -> bool {
        path.is_empty() || self.lookup(path).is_some()
    }

    /// The content of the regular file at `path` in the image (symlinks resolved inside it),
    /// if there is one of at most 64 MiB.
    pub fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        let resolved = self.resolve(path, true).ok()?;
        let (host, meta) = self.lookup(&resolved)?;
        if !meta.is_file() || meta.len() > MAX_READ {
            return None;
        }
        let fd = rustix::fs::open(
            &host,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()?;
        let mut bytes = Vec::new();
        fs::File::from(fd)
            .take(MAX_READ)
            .read_to_end(&mut bytes)
            .ok()?;
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_overlay_rules_and_image_symlinks_stay_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (bottom, top) = (dir.path().join("bottom"), dir.path().join("top"));
        fs::create_dir_all(bottom.join("etc")).expect("mkdir");
        fs::write(bottom.join("etc/passwd"), "root:x:0:0::/:/bin/sh\n").expect("write");
        fs::create_dir_all(bottom.join("gone")).expect("mkdir");
        fs::write(bottom.join("gone/file"), "x").expect("write");
        fs::create_dir_all(&top).expect("mkdir");
        // An absolute symlink in the image points at the host's /etc: it must resolve to the
        // image's /etc.
        std::os::unix::fs::symlink("/etc", top.join("hostetc")).expect("symlink");
        std::os::unix::fs::symlink("../../../../../etc", top.join("up")).expect("symlink");
        crate::make_whiteout(&top.join("gone"));
        let lowers = vec![bottom, top];
        let stack = LayerStack::new(&lowers);
        assert_eq!(
            stack.resolve("hostetc/passwd", true).as_deref(),
            Ok("etc/passwd")
        );
        assert_eq!(stack.resolve("up", true).as_deref(), Ok("etc"));
        assert_eq!(
            stack.read_file("/hostetc/passwd").as_deref(),
            Some(&b"root:x:0:0::/:/bin/sh\n"[..])
        );
        assert!(stack.resolve("gone/file", true).is_err(), "deleted above");
        assert_eq!(
            stack.resolve_for_create("/hostetc/new/dir").as_deref(),
            Ok("etc/new/dir")
        );
    }
}
