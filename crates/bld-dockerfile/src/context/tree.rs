//! The in-memory build context: every entry by its relative path.

use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;
use std::path::Path;

use super::path::{ancestors, clean_relative, join, strip_dir};
use super::{ContextError, DockerIgnore};

/// One entry of the build context (never the root, which is always a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextEntry {
    /// A regular file.
    File {
        /// Permission bits (`0o7777` at most), e.g. `0o644`.
        mode: u32,
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Dir {
        /// Permission bits, e.g. `0o755`.
        mode: u32,
    },
    /// A symbolic link, never followed inside copied directories.
    Symlink {
        /// The link target exactly as stored in the link.
        target: String,
    },
}

impl ContextEntry {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self, Self::Dir { .. })
    }
}

/// A build context after `.dockerignore` filtering: a sorted map from relative,
/// `/`-separated path (`src/main.rs`) to [`ContextEntry`].
///
/// Every entry's parent directories are entries too, so the tree is always consistent.
/// Symlinks are stored, not followed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextTree {
    entries: BTreeMap<String, ContextEntry>,
}

/// Why [`ContextTree::resolve`] failed, with the context path where it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// Nothing at this path.
    NotFound(String),
    /// This path is a file but more components follow.
    NotADirectory(String),
    /// More than [`super::MAX_SYMLINK_HOPS`] symlinks.
    TooManySymlinks,
}

impl ContextTree {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree from `(path, entry)` pairs, in any order; see [`ContextTree::insert`].
    ///
    /// # Errors
    ///
    /// [`ContextError::InvalidPath`] as for [`ContextTree::insert`].
    pub fn from_entries<I, P>(entries: I) -> Result<Self, ContextError>
    where
        I: IntoIterator<Item = (P, ContextEntry)>,
        P: AsRef<str>,
    {
        let mut tree = Self::new();
        for (path, entry) in entries {
            tree.insert(path.as_ref(), entry)?;
        }
        Ok(tree)
    }

    /// Adds or replaces an entry. The path is cleaned (`./a//b/` is `a/b`); missing parent
    /// directories are created with mode `0o755`.
    ///
    /// # Errors
    ///
    /// [`ContextError::InvalidPath`] if the path is the root, climbs out of it with `..`,
    /// goes through an existing non-directory, or would turn a directory that has entries
    /// into something else.
    pub fn insert(&mut self, path: &str, entry: ContextEntry) -> Result<(), ContextError> {
        let invalid = |reason: &str| ContextError::InvalidPath {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let cleaned = clean_relative(path)
            .ok_or_else(|| invalid("expected a path inside the context, without `..` above it"))?;
        if cleaned.is_empty() {
            return Err(invalid(
                "expected an entry below the context root, not the root",
            ));
        }
        for dir in ancestors(&cleaned) {
            match self.entries.get(dir) {
                None => {
                    self.entries
                        .insert(dir.to_string(), ContextEntry::Dir { mode: 0o755 });
                }
                Some(ContextEntry::Dir { .. }) => {}
                Some(_) => {
                    return Err(invalid(&format!(
                        "expected `{dir}` to be a directory, but it is a file or symlink"
                    )));
                }
            }
        }
        if !entry.is_dir() && self.descendants(&cleaned).next().is_some() {
            return Err(invalid(
                "expected a directory: entries already exist below this path",
            ));
        }
        self.entries.insert(cleaned, entry);
        Ok(())
    }

    /// The entry at a cleaned relative path, if any (`None` for the root).
    pub fn get(&self, path: &str) -> Option<&ContextEntry> {
        self.entries.get(path)
    }

    /// How many entries there are (the root not counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the context is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextEntry)> {
        self.entries
            .iter()
            .map(|(path, entry)| (path.as_str(), entry))
    }

    /// Every entry strictly inside the directory `dir` (`""` for the root), sorted by path.
    pub fn descendants<'a>(
        &'a self,
        dir: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a ContextEntry)> + 'a {
        let start = if dir.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(format!("{dir}/"))
        };
        self.entries
            .range::<String, _>((start, Bound::Unbounded))
            .map(|(path, entry)| (path.as_str(), entry))
            .take_while(move |(path, _)| strip_dir(path, dir).is_some())
    }

    /// The entries directly inside the directory `dir` (`""` for the root), by name.
    pub fn children<'a>(
        &'a self,
        dir: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a ContextEntry)> + 'a {
        self.descendants(dir)
            .filter(move |(path, _)| strip_dir(path, dir).is_some_and(|rest| !rest.contains('/')))
    }

    /// Resolves a cleaned path, following symlinks in every component (and in the last
    /// one too with `follow_last`) without ever leaving the context: absolute targets
    /// start again at the context root and `..` stops there, like BuildKit's scoped
    /// `fs.RootPath`. Returns the resolved path (`""` for the root).
    pub(crate) fn resolve(&self, path: &str, follow_last: bool) -> Result<String, ResolveError> {
        self.resolve_in_root(path, follow_last)
            .map_err(|e| match e {
                bld_core::beneath::ResolveError::NotFound(p) => ResolveError::NotFound(p),
                bld_core::beneath::ResolveError::NotADirectory(p) => ResolveError::NotADirectory(p),
                bld_core::beneath::ResolveError::TooManySymlinks => ResolveError::TooManySymlinks,
            })
    }

    /// Resolves `path` (as a Dockerfile gives it: absolute or relative, `..` allowed) inside
    /// the context as if its root were `/`, following every symlink (the last one too with
    /// `follow_last`); returns the resolved path, `""` for the root.
    ///
    /// # Errors
    ///
    /// What does not resolve, with the context path where it failed.
    pub fn resolve_in_root(
        &self,
        path: &str,
        follow_last: bool,
    ) -> Result<String, bld_core::beneath::ResolveError> {
        bld_core::beneath::resolve_in_root(path, follow_last, false, |p| {
            self.entries.get(p).map(|entry| match entry {
                ContextEntry::Dir { .. } => bld_core::beneath::Node::Dir,
                ContextEntry::File { .. } => bld_core::beneath::Node::Other,
                ContextEntry::Symlink { target } => {
                    bld_core::beneath::Node::Symlink(target.clone())
                }
            })
        })
    }

    /// Walks a real directory into a tree, without following symlinks, leaving out what
    /// `ignore` excludes.
    ///
    /// A directory the ignore file excludes is skipped entirely when
    /// [`DockerIgnore::excludes_dir_entirely`] allows it; otherwise it is walked and kept
    /// (as BuildKit sends it) only if something inside is re-included. Sockets, FIFOs and
    /// device nodes are left out. Modes are the permission bits on Unix; elsewhere files
    /// get `0o644` (`0o444` if read-only) and directories `0o755`.
    ///
    /// # Errors
    ///
    /// Any I/O error, and [`io::ErrorKind::InvalidData`] for a name or symlink target that
    /// is not UTF-8.
    pub fn from_dir(root: impl AsRef<Path>, ignore: &DockerIgnore) -> io::Result<Self> {
        let mut entries = Vec::new();
        walk(root.as_ref(), "", ignore, &mut entries)?;
        let mut tree = Self::new();
        tree.entries = entries.into_iter().collect();
        Ok(tree)
    }
}

/// Adds the entries under `dir` (context path `rel`) to `entries`, in no particular order;
/// returns whether it added any. Subdirectories are walked in parallel: a large context is
/// mostly `stat`s, and each core can make them.
fn walk(
    dir: &Path,
    rel: &str,
    ignore: &DockerIgnore,
    entries: &mut Vec<(String, ContextEntry)>,
) -> io::Result<bool> {
    use rayon::prelude::*;
    let mut subdirs = Vec::new();
    let mut added = false;
    for child in std::fs::read_dir(dir)? {
        let child = child?;
        let name = child.file_name().into_string().map_err(|name| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file name {name:?} in {} is not UTF-8", dir.display()),
            )
        })?;
        let child_rel = join(rel, &name);
        // The entry's own `fstatat` beside its directory: no path lookup from the root.
        let metadata = child.metadata()?;
        let kind = metadata.file_type();
        let excluded = ignore.is_excluded(&child_rel);
        if kind.is_dir() {
            if !(excluded && ignore.excludes_dir_entirely(&child_rel)) {
                subdirs.push((child.path(), child_rel, metadata, excluded));
            }
            continue;
        }
        if excluded {
            continue;
        }
        let entry = if kind.is_symlink() {
            let path = child.path();
            let target = std::fs::read_link(&path)?;
            let target = target.to_str().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("symlink target of {} is not UTF-8", path.display()),
                )
            })?;
            ContextEntry::Symlink {
                target: target.to_string(),
            }
        } else if kind.is_file() {
            ContextEntry::File {
                mode: mode_of(&metadata, 0o644),
                size: metadata.len(),
            }
        } else {
            continue;
        };
        entries.push((child_rel, entry));
        added = true;
    }
    let walked = subdirs
        .into_par_iter()
        .map(|(path, child_rel, metadata, excluded)| {
            let mut inside = Vec::new();
            let inner = walk(&path, &child_rel, ignore, &mut inside)?;
            if !excluded || inner {
                // An excluded directory kept for what it holds keeps its own mode, as
                // BuildKit sends it (buildah makes it 0755).
                let mode = mode_of(&metadata, 0o755);
                inside.push((child_rel, ContextEntry::Dir { mode }));
            }
            Ok(inside)
        })
        .collect::<io::Result<Vec<_>>>()?;
    for inside in walked {
        added |= !inside.is_empty();
        entries.extend(inside);
    }
    Ok(added)
}

#[cfg(unix)]
fn mode_of(metadata: &std::fs::Metadata, _default: u32) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(metadata: &std::fs::Metadata, default: u32) -> u32 {
    if !metadata.is_dir() && metadata.permissions().readonly() {
        0o444
    } else {
        default
    }
}

#[cfg(test)]
mod tests;
