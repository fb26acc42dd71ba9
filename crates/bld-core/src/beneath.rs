//! Paths that stay inside a root.
//!
//! Two tools, for the two ways bld meets a tree it does not trust:
//!
//! - [`RootDir`] opens directories beneath a real directory with the kernel doing the walk
//!   (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), so a write made through the
//!   descriptor it returns can never land outside, whatever symlinks or `..` the tree holds.
//!   [`remove_at`] deletes through descriptors too, never following a symlink.
//! - [`resolve_in_root`] resolves a path inside a tree that is only described (a build
//!   context, an image's layers), following symlinks as if the tree's root were `/`: an
//!   absolute target starts again at the root and `..` stops there, as BuildKit's
//!   `fs.RootPath` and `openat2(RESOLVE_IN_ROOT)` do.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Symlinks followed while resolving one path, at most (BuildKit's limit in `fs.RootPath`).
pub const MAX_SYMLINK_HOPS: usize = 255;

/// No symlink, no magic link, nothing above the starting directory.
const STAY_BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// A directory that every path given to it stays beneath.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl RootDir {
    /// Opens the directory at `path` (a path bld chose, so it is followed as given).
    pub fn open(path: &Path) -> io::Result<RootDir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(RootDir {
            fd,
            path: path.to_owned(),
        })
    }

    /// The root's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory `components` names below the root (none: the root itself),
    /// creating missing ones (mode 0755) when `create`. A component that is a symlink or not
    /// a directory is an [`io::ErrorKind::InvalidInput`] error naming it.
    pub fn open_dir(&self, components: &[&str], create: bool) -> io::Result<OwnedFd> {
        let mut current = rustix::io::dup(&self.fd)?;
        for (i, name) in components.iter().enumerate() {
            let blocked = || {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "`{}` is a symlink or not a directory",
                        components[..=i].join("/")
                    ),
                )
            };
            current = match open_dir_at(current.as_fd(), name) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&current, *name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    open_dir_at(current.as_fd(), name).map_err(|e| match e {
                        Errno::LOOP | Errno::NOTDIR | Errno::XDEV => blocked(),
                        e => e.into(),
                    })?
                }
                Err(Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => return Err(blocked()),
                Err(e) => return Err(e.into()),
            };
        }
        Ok(current)
    }
}

impl RootDir {
    /// Opens the file at `path` (`/`-separated, below the root) for reading, never through a
    /// symlink nor out of the root.
    pub fn open_file(&self, path: &str) -> io::Result<std::fs::File> {
        let fd = rustix::fs::openat2(
            &self.fd,
            path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            STAY_BENEATH,
        )
        .map_err(|e| io::Error::new(e.kind(), format!("`{path}`: {e}")))?;
        Ok(std::fs::File::from(fd))
    }

    /// The directory holding `path` (`/`-separated, below the root; created when `create`)
    /// and `path`'s last name, as [`RootDir::open_dir`] opens it.
    pub fn open_parent<'p>(&self, path: &'p str, create: bool) -> io::Result<(OwnedFd, &'p str)> {
        let (parents, name) = path.rsplit_once('/').unwrap_or(("", path));
        let parents: Vec<&str> = parents.split('/').filter(|p| !p.is_empty()).collect();
        Ok((self.open_dir(&parents, create)?, name))
    }
}

/// Opens the directory `name` in `dir`, refusing symlinks and anything outside `dir`.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        STAY_BENEATH,
    )
}

/// Creates the new file `name` in `dir` (mode 0600 until the caller sets one), refusing to
/// follow or replace anything already there.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<std::fs::File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(std::fs::File::from(fd))
}

/// Removes `name` in `dir` whatever it is (a directory with everything in it), never
/// following a symlink; nothing there is not an error. Iterative, so no depth of tree can
/// exhaust the stack.
pub fn remove_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    let stat = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
    }
    // Each frame: an open directory, its name in the frame below, and its subdirectories
    // still to remove (found when it was listed, after its other entries were unlinked).
    struct Frame {
        fd: OwnedFd,
        name: String,
        subdirs: Vec<String>,
    }
    let open = |parent: BorrowedFd<'_>, name: String| -> io::Result<Frame> {
        let fd = open_dir_at(parent, &name)?;
        let mut subdirs = Vec::new();
        for entry in Dir::read_from(&fd)? {
            let entry = entry?;
            let Ok(child) = entry.file_name().to_str() else {
                // Not UTF-8: remove it by its raw name.
                let raw = entry.file_name().to_owned();
                remove_raw(fd.as_fd(), &raw)?;
                continue;
            };
            if child == "." || child == ".." {
                continue;
            }
            let child = child.to_owned();
            let is_dir = match entry.file_type() {
                FileType::Directory => true,
                FileType::Unknown => rustix::fs::statat(&fd, &child, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory),
                _ => false,
            };
            if is_dir {
                subdirs.push(child);
            } else {
                rustix::fs::unlinkat(&fd, &child, AtFlags::empty())?;
            }
        }
        Ok(Frame { fd, name, subdirs })
    };
    let mut frames = vec![open(dir, name.to_owned())?];
    while let Some(top) = frames.last_mut() {
        if let Some(child) = top.subdirs.pop() {
            let frame = open(top.fd.as_fd(), child)?;
            frames.push(frame);
            continue;
        }
        let done = frames.pop().expect("invariant: a frame is on the stack");
        let parent = frames.last().map_or(dir, |f| f.fd.as_fd());
        rustix::fs::unlinkat(parent, done.name.as_str(), AtFlags::REMOVEDIR)?;
    }
    Ok(())
}

/// Unlinks a non-UTF-8 entry, or removes it as a directory (recursively).
fn remove_raw(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::ISDIR | Errno::PERM) => {
            // Rename it to a UTF-8 name and remove that.
            let temporary = format!(".bld-remove-{}", std::process::id());
            rustix::fs::renameat(dir, name, dir, temporary.as_str())?;
            remove_at(dir, &temporary)
        }
        Err(e) => Err(e.into()),
    }
}

/// What a path names in a described tree, for [`resolve_in_root`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A symbolic link with this target.
    Symlink(String),
    /// Anything else (a file, a device).
    Other,
}

/// Why [`resolve_in_root`] failed, with the path where it did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing at this path (which is resolved, relative to the root).
    #[error("`{0}` does not exist")]
    NotFound(String),
    /// This path is not a directory but more components follow.
    #[error("`{0}` is not a directory")]
    NotADirectory(String),
    /// More than [`MAX_SYMLINK_HOPS`] symlinks.
    #[error("too many levels of symbolic links")]
    TooManySymlinks,
}

/// Resolves `path` in the tree `lookup` describes (it is given resolved, `/`-separated paths
/// relative to the root, never the root itself), following every symlink (the last one too
/// with `follow_last`) without leaving the root. Returns the resolved path (`""`: the root).
/// With `allow_missing_tail`, a path whose last existing component is a directory resolves to
/// that directory joined with the missing rest (cleaned, as a `mkdir -p` would create it).
pub fn resolve_in_root(
    path: &str,
    follow_last: bool,
    allow_missing_tail: bool,
    mut lookup: impl FnMut(&str) -> Option<Node>,
) -> Result<String, ResolveError> {
    let mut pending: Vec<String> = path
        .split('/')
        .rev()
        .filter(|part| !part.is_empty() && *part != ".")
        .map(str::to_owned)
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    let mut missing = false;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        if missing {
            resolved.push(part);
            continue;
        }
        resolved.push(part);
        let candidate = resolved.join("/");
        let more = !pending.is_empty();
        match lookup(&candidate) {
            None if allow_missing_tail => missing = true,
            None => return Err(ResolveError::NotFound(candidate)),
            Some(Node::Dir) => {}
            Some(Node::Other) if more => return Err(ResolveError::NotADirectory(candidate)),
            Some(Node::Other) => {}
            Some(Node::Symlink(_)) if !more && !follow_last => {}
            Some(Node::Symlink(target)) => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(ResolveError::TooManySymlinks);
                }
                resolved.pop();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .rev()
                        .filter(|part| !part.is_empty() && *part != ".")
                        .map(str::to_owned),
                );
            }
        }
    }
    Ok(resolved.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tree(entries: &[(&str, Node)]) -> HashMap<String, Node> {
        entries
            .iter()
            .map(|(p, n)| ((*p).to_owned(), n.clone()))
            .collect()
    }

    #[test]
    fn symlinks_resolve_as_if_the_root_were_slash() {
        let t = tree(&[
            ("etc", Node::Dir),
            ("etc/passwd", Node::Other),
            ("abs", Node::Symlink("/etc".into())),
            ("up", Node::Symlink("../../../..".into())),
            ("loop", Node::Symlink("loop".into())),
            ("file", Node::Other),
        ]);
        let r = |p: &str, follow: bool| resolve_in_root(p, follow, false, |c| t.get(c).cloned());
        assert_eq!(r("abs/passwd", true).as_deref(), Ok("etc/passwd"));
        assert_eq!(r("up/etc", true).as_deref(), Ok("etc"));
        assert_eq!(r("../../etc/passwd", true).as_deref(), Ok("etc/passwd"));
        assert_eq!(r("abs", false).as_deref(), Ok("abs"));
        assert_eq!(r("up", true).as_deref(), Ok(""));
        assert_eq!(r("loop/x", true), Err(ResolveError::TooManySymlinks));
        assert_eq!(
            r("file/x", true),
            Err(ResolveError::NotADirectory("file".into()))
        );
        assert_eq!(
            r("nope/x", true),
            Err(ResolveError::NotFound("nope".into()))
        );
        let missing = resolve_in_root("abs/a/../b/c", true, true, |c| t.get(c).cloned());
        assert_eq!(missing.as_deref(), Ok("etc/b/c"));
    }

    #[test]
    fn writes_through_a_root_dir_never_follow_symlinks_out() {
        let outside = tempfile::tempdir().expect("tempdir");
        let root = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), root.path().join("sl")).expect("symlink");
        let dir = RootDir::open(root.path()).expect("open");
        let error = dir
            .open_dir(&["sl", "x"], true)
            .expect_err("through a symlink");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("`sl`"), "{error}");
        assert!(dir.open_dir(&[".."], false).is_err());
        let made = dir.open_dir(&["a", "b"], true).expect("create");
        rustix::fs::mkdirat(&made, "c", Mode::from_raw_mode(0o755)).expect("mkdir");
        std::fs::write(outside.path().join("keep"), b"x").expect("write");
        remove_at(dir.fd(), "sl").expect("remove the link");
        remove_at(dir.fd(), "a").expect("remove a tree");
        remove_at(dir.fd(), "missing").expect("nothing there");
        assert!(outside.path().join("keep").exists());
        assert_eq!(std::fs::read_dir(root.path()).expect("list").count(), 0);
    }
}
