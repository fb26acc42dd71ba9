//! `COPY`/`ADD` source resolution: which context entries a `COPY <src>... <dest>` writes
//! and where, following BuildKit's Dockerfile frontend and `fsutil` copy.
//!
//! Decisions where Docker's builders differ or where the image state is unknown:
//!
//! - Several sources (after wildcard expansion) with a destination that is not a
//!   directory is an error, as in the classic builder (BuildKit silently lets the last
//!   one win). A destination is a directory if it ends in `/` (or `/.`, `/..`), is `.`
//!   or `..`, or is the image root.
//! - With one file source and a destination not ending in `/`, the destination is the
//!   file's new name. Whether the image below already has a directory there (Docker then
//!   copies into it) is not known here: callers resolve the destination in that image first
//!   and pass it ending in `/` when it is a directory.
//! - A source that does not exist is an error. A wildcard matching nothing is not, as
//!   long as some source matched something ("no source files were specified" otherwise);
//!   BuildKit accepts even that, the classic builder does not.
//! - A top-level source that is a symlink (named or matched by a wildcard) is followed
//!   inside the context, keeping the symlink's name; symlinks inside copied directories
//!   are copied as symlinks.
//! - `--exclude` patterns are relative to each copied directory, and for a top-level
//!   file to the directory its wildcard was expanded in (so `--exclude=*.txt hom*`
//!   skips `homer.txt`).
//! - Destination directories take their metadata from the first entry planned there,
//!   like BuildKit, which never rewrites an existing directory's metadata. A file may
//!   replace a file or symlink; a file/symlink and a directory at the same destination is
//!   an error (BuildKit: "cannot replace to directory ... with file").

use std::collections::BTreeMap;

use super::path::{
    ancestors, base_name, clean_absolute, clean_relative, contains_wildcards, join, strip_dir,
};
use super::pattern::{PathPattern, Token, glob_component, tokens_match};
use super::tree::ResolveError;
use super::{ContextEntry, ContextError, ContextTree, DockerIgnore};

/// Options of one `COPY`/`ADD` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// The stage's working directory, absolute (`/`, `/app`); a relative destination is
    /// resolved against it.
    pub workdir: String,
    /// `--exclude` patterns, `.dockerignore` syntax, relative to each source.
    pub excludes: Vec<String>,
    /// `--parents`: keep each source's path relative to the context root, or to the
    /// `/./` pivot in the source (`a/./b/c.txt` copies to `<dest>/b/c.txt`).
    pub parents: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            workdir: "/".to_string(),
            excludes: Vec::new(),
            parents: false,
        }
    }
}

/// One path the instruction writes into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEntry {
    /// Absolute, normalized path in the image without the leading `/` (`app/x.txt`).
    pub dest: String,
    /// What to put there.
    pub kind: PlannedKind,
    /// Whether this is a source itself (a file source, after wildcard expansion), rather than
    /// something inside a copied directory: only these are unpacked by `ADD` when archives.
    pub top_level: bool,
}

/// What a [`PlannedEntry`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedKind {
    /// A copy of the regular file at `source` (a context path, symlinks already followed);
    /// it keeps that file's mode unless `--chmod` says otherwise.
    File {
        /// The file's path in the [`ContextTree`].
        source: String,
    },
    /// A directory. Create it if the image does not have it yet (an existing directory
    /// keeps its metadata, as in Docker).
    Dir {
        /// The context directory whose metadata a new directory takes, or `None` for one
        /// created implicitly (destination and its parents): give it mode `0755`.
        source: Option<String>,
    },
    /// A symbolic link copied as is (never followed).
    Symlink {
        /// The link's path in the [`ContextTree`].
        source: String,
        /// The link target exactly as in the context.
        target: String,
    },
}

impl PlannedKind {
    fn noun(&self) -> &'static str {
        match self {
            Self::File { .. } => "file",
            Self::Dir { .. } => "directory",
            Self::Symlink { .. } => "symlink",
        }
    }
}

/// Plans `COPY <sources>... <dest>` over the context `tree`.
///
/// Sources are relative to the context root (a leading `/` too), cleaned, may not climb
/// out of it, and may contain wildcards (Go `filepath.Match` per path component). A
/// directory source copies its contents, recursively, including empty directories and
/// symlinks. See the module documentation for the exact rules.
///
/// The result is sorted by destination, without duplicates, and contains the implicit
/// parent directories of every entry (the image root `""` is never listed).
///
/// URLs, Git sources and heredocs are the caller's business; so is `ADD`'s archive
/// extraction.
///
/// # Errors
///
/// [`ContextError::RelativeWorkdir`], [`ContextError::NoSources`],
/// [`ContextError::SourceOutsideContext`], [`ContextError::SourceNotFound`],
/// [`ContextError::NotADirectory`], [`ContextError::SymlinkLoop`],
/// [`ContextError::InvalidPattern`], [`ContextError::NoSourceFiles`],
/// [`ContextError::DestinationNotDirectory`] and [`ContextError::DestinationConflict`].
pub fn plan_copy(
    tree: &ContextTree,
    sources: &[String],
    dest: &str,
    options: &CopyOptions,
) -> Result<Vec<PlannedEntry>, ContextError> {
    if !options.workdir.starts_with('/') {
        return Err(ContextError::RelativeWorkdir {
            workdir: options.workdir.clone(),
        });
    }
    if sources.is_empty() {
        return Err(ContextError::NoSources);
    }
    let excludes = DockerIgnore::from_patterns(&options.excludes, "COPY --exclude")?;
    let target = Destination::new(&options.workdir, dest);
    let mut plan = Plan::default();
    let found = if options.parents {
        plan_parents(tree, sources, &target, &excludes, &mut plan)?
    } else {
        plan_sources(tree, sources, dest, &target, &excludes, &mut plan)?
    };
    if !found {
        return Err(ContextError::NoSourceFiles {
            sources: sources.to_vec(),
        });
    }
    Ok(plan
        .entries
        .into_iter()
        .map(|(dest, kind)| {
            let top_level = plan.top_level.contains(&dest);
            PlannedEntry {
                dest,
                kind,
                top_level,
            }
        })
        .collect())
}

/// A `COPY` destination resolved against the working directory `workdir`: the image path
/// without the leading `/` (`""` is the root), and whether it is written as a directory
/// (ends in `/`, `/.`, `/..`, is `.`, `..` or the root).
pub fn destination_path(workdir: &str, dest: &str) -> (String, bool) {
    let target = Destination::new(workdir, dest);
    (target.path, target.is_dir)
}

/// The destination after resolving it against the working directory.
struct Destination {
    /// Image path without the leading `/` (`""` is the root).
    path: String,
    /// Whether sources go *inside* it rather than becoming it.
    is_dir: bool,
}

impl Destination {
    fn new(workdir: &str, dest: &str) -> Self {
        let dir_syntax = dest.is_empty()
            || dest == "."
            || dest == ".."
            || dest.ends_with('/')
            || dest.ends_with("/.")
            || dest.ends_with("/..");
        let absolute = if dest.starts_with('/') {
            dest.to_string()
        } else {
            format!("{workdir}/{dest}")
        };
        let path = clean_absolute(&absolute);
        let is_dir = dir_syntax || path.is_empty();
        Self { path, is_dir }
    }
}

/// A top-level source after wildcard expansion and symlink resolution.
struct Source {
    /// Its own name, used under a directory destination.
    name: String,
    /// The resolved context path (`""` for the root).
    resolved: String,
    /// Whether it resolved to a directory.
    is_dir: bool,
    /// Path matched against `--exclude` when it is a file.
    exclude_path: String,
}

/// Plans the sources without `--parents`; returns whether any source matched.
fn plan_sources(
    tree: &ContextTree,
    sources: &[String],
    dest: &str,
    target: &Destination,
    excludes: &DockerIgnore,
    plan: &mut Plan,
) -> Result<bool, ContextError> {
    let mut expanded = Vec::new();
    for source in sources {
        expand(tree, source, &mut expanded)?;
    }
    if expanded.len() > 1 && !target.is_dir {
        return Err(ContextError::DestinationNotDirectory {
            dest: dest.to_string(),
            count: expanded.len(),
        });
    }
    for source in &expanded {
        if source.is_dir {
            if target.is_dir {
                plan.ensure_dir(&target.path)?;
            } else {
                plan.ensure_parents(&target.path)?;
                // The destination is created afresh (0755, root), as buildah does, rather than
                // taking the source directory's metadata.
                plan.put(&target.path, PlannedKind::Dir { source: None })?;
            }
            copy_contents(tree, &source.resolved, &target.path, excludes, None, plan)?;
            continue;
        }
        let dest = if target.is_dir {
            plan.ensure_dir(&target.path)?;
            join(&target.path, &source.name)
        } else {
            plan.ensure_parents(&target.path)?;
            target.path.clone()
        };
        if !excludes.is_excluded(&source.exclude_path) {
            let kind = PlannedKind::File {
                source: source.resolved.clone(),
            };
            plan.put(&dest, kind)?;
            plan.top_level.insert(dest);
        }
    }
    Ok(!expanded.is_empty())
}

/// Expands one source into `out`: itself, or its wildcard matches in walk order.
fn expand(tree: &ContextTree, raw: &str, out: &mut Vec<Source>) -> Result<(), ContextError> {
    let cleaned = clean_relative(raw).ok_or_else(|| ContextError::SourceOutsideContext {
        src: raw.to_string(),
    })?;
    let parts: Vec<&str> = cleaned.split('/').filter(|part| !part.is_empty()).collect();
    let Some(first_wild) = parts.iter().position(|part| contains_wildcards(part)) else {
        out.push(follow(tree, raw, &cleaned, base_name(&cleaned))?);
        return Ok(());
    };
    let base = tree
        .resolve(&parts[..first_wild].join("/"), true)
        .map_err(|error| resolve_error(raw, error))?;
    if !(base.is_empty() || tree.get(&base).is_some_and(ContextEntry::is_dir)) {
        return Ok(());
    }
    let globs = parts[first_wild..]
        .iter()
        .map(|part| {
            glob_component(part).map_err(|reason| ContextError::InvalidPattern {
                origin: format!("source `{raw}`"),
                pattern: (*part).to_string(),
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut matches = Vec::new();
    walk_glob(tree, &base, &globs, &mut matches);
    for matched in matches {
        let relative = strip_dir(&matched, &base).unwrap_or(&matched);
        out.push(follow(tree, raw, &matched, relative)?);
    }
    Ok(())
}

/// Resolves one (expanded) source path, following a final symlink.
fn follow(
    tree: &ContextTree,
    raw: &str,
    path: &str,
    exclude_path: &str,
) -> Result<Source, ContextError> {
    let resolved = tree
        .resolve(path, true)
        .map_err(|error| resolve_error(raw, error))?;
    let is_dir = resolved.is_empty() || tree.get(&resolved).is_some_and(ContextEntry::is_dir);
    Ok(Source {
        name: base_name(path).to_string(),
        resolved,
        is_dir,
        exclude_path: exclude_path.to_string(),
    })
}

/// Collects the entries under `dir` whose path components match `globs` one by one,
/// in the order Go's `filepath.Walk` visits them; matched directories are not entered
/// and symlinks are not followed.
fn walk_glob(tree: &ContextTree, dir: &str, globs: &[Vec<Token>], out: &mut Vec<String>) {
    let Some((glob, rest)) = globs.split_first() else {
        return;
    };
    for (path, entry) in tree.children(dir) {
        if !tokens_match(glob, base_name(path)) {
            continue;
        }
        if rest.is_empty() {
            out.push(path.to_string());
        } else if entry.is_dir() {
            walk_glob(tree, path, rest, out);
        }
    }
}

fn resolve_error(raw: &str, error: ResolveError) -> ContextError {
    let src = raw.to_string();
    match error {
        ResolveError::NotFound(path) => ContextError::SourceNotFound { src, path },
        ResolveError::NotADirectory(path) => ContextError::NotADirectory { src, path },
        ResolveError::TooManySymlinks => ContextError::SymlinkLoop { src },
    }
}

/// Plans the entries under the context directory `source_dir` into `dest_dir`.
///
/// Paths relative to `source_dir` are checked against `include` (if any, with parent
/// matching) and `excludes`; directories left out are still created, from their source,
/// when something inside them is copied. Returns whether anything was planned.
fn copy_contents(
    tree: &ContextTree,
    source_dir: &str,
    dest_dir: &str,
    excludes: &DockerIgnore,
    include: Option<&PathPattern>,
    plan: &mut Plan,
) -> Result<bool, ContextError> {
    let mut copied = false;
    // Unfiltered, every directory above an entry is an entry of the tree itself, met before
    // it (a tree holds every parent; paths sort parents first): no need to plan them again.
    let filtered = include.is_some() || !excludes.is_empty();
    for (path, entry) in tree.descendants(source_dir) {
        let Some(relative) = strip_dir(path, source_dir) else {
            continue;
        };
        if include.is_some_and(|pattern| !pattern.matches_self_or_parent(relative))
            || excludes.is_excluded(relative)
        {
            continue;
        }
        if filtered {
            for dir in ancestors(relative) {
                let kind = PlannedKind::Dir {
                    source: Some(join(source_dir, dir)),
                };
                plan.put(&join(dest_dir, dir), kind)?;
            }
        }
        let kind = match entry {
            ContextEntry::File { .. } => PlannedKind::File {
                source: path.to_string(),
            },
            ContextEntry::Dir { .. } => PlannedKind::Dir {
                source: Some(path.to_string()),
            },
            ContextEntry::Symlink { target } => PlannedKind::Symlink {
                source: path.to_string(),
                target: target.clone(),
            },
        };
        plan.put(&join(dest_dir, relative), kind)?;
        copied = true;
    }
    Ok(copied)
}

/// Plans the sources with `--parents`; returns whether anything matched.
///
/// Like BuildKit: the part before `/./` (or the context root) is the directory copied
/// from, the rest is an include pattern (patternmatcher syntax, so `**` works) relative
/// to it, and the destination is always a directory. A source without wildcards must
/// exist.
fn plan_parents(
    tree: &ContextTree,
    sources: &[String],
    target: &Destination,
    excludes: &DockerIgnore,
    plan: &mut Plan,
) -> Result<bool, ContextError> {
    let mut found = false;
    for raw in sources {
        let (pivot, pattern) = raw.split_once("/./").unwrap_or(("", raw.as_str()));
        let outside = || ContextError::SourceOutsideContext {
            src: raw.to_string(),
        };
        let pivot_clean = clean_relative(pivot).ok_or_else(outside)?;
        let pattern_clean = clean_relative(pattern).ok_or_else(outside)?;
        let include = if pattern_clean.is_empty() {
            None
        } else {
            let compiled = PathPattern::compile(&pattern_clean).map_err(|reason| {
                ContextError::InvalidPattern {
                    origin: format!("--parents source `{raw}`"),
                    pattern: pattern_clean.clone(),
                    reason,
                }
            })?;
            Some(compiled)
        };
        if !contains_wildcards(pivot) && !contains_wildcards(pattern) {
            tree.resolve(&join(&pivot_clean, &pattern_clean), false)
                .map_err(|error| resolve_error(raw, error))?;
            // It exists, so it counts as found even if `--exclude` drops it.
            found = true;
        }
        let mut pivots = Vec::new();
        expand(tree, &pivot_clean, &mut pivots).map_err(|error| with_source(error, raw))?;
        plan.ensure_dir(&target.path)?;
        for pivot in pivots {
            if !pivot.is_dir {
                let path = pivot.resolved;
                return Err(ContextError::NotADirectory {
                    src: raw.clone(),
                    path,
                });
            }
            let root = &pivot.resolved;
            found |= copy_contents(tree, root, &target.path, excludes, include.as_ref(), plan)?;
        }
    }
    Ok(found)
}

/// Names the whole `--parents` source in an error about its pivot.
fn with_source(error: ContextError, raw: &str) -> ContextError {
    let src = raw.to_string();
    match error {
        ContextError::SourceNotFound { path, .. } => ContextError::SourceNotFound { src, path },
        ContextError::NotADirectory { path, .. } => ContextError::NotADirectory { src, path },
        ContextError::SymlinkLoop { .. } => ContextError::SymlinkLoop { src },
        ContextError::SourceOutsideContext { .. } => ContextError::SourceOutsideContext { src },
        other => other,
    }
}

/// The planned entries by destination.
#[derive(Default)]
struct Plan {
    entries: BTreeMap<String, PlannedKind>,
    /// Destinations of file sources themselves.
    top_level: std::collections::BTreeSet<String>,
}

impl Plan {
    /// Plans `dest` and its parents as implicit directories.
    fn ensure_dir(&mut self, dest: &str) -> Result<(), ContextError> {
        self.ensure_parents(dest)?;
        self.put(dest, PlannedKind::Dir { source: None })
    }

    /// Plans the parents of `dest` as implicit directories.
    fn ensure_parents(&mut self, dest: &str) -> Result<(), ContextError> {
        for dir in ancestors(dest) {
            self.put(dir, PlannedKind::Dir { source: None })?;
        }
        Ok(())
    }

    /// Plans one entry: a directory merges with one already there (which keeps its
    /// metadata), a file or symlink replaces a file or symlink, anything else conflicts.
    fn put(&mut self, dest: &str, kind: PlannedKind) -> Result<(), ContextError> {
        let existing = if dest.is_empty() {
            Some(&PlannedKind::Dir { source: None })
        } else {
            self.entries.get(dest)
        };
        match (existing, &kind) {
            (None, _) => {
                self.entries.insert(dest.to_string(), kind);
            }
            (Some(PlannedKind::Dir { .. }), PlannedKind::Dir { .. }) => {}
            (Some(old), _)
                if matches!(old, PlannedKind::Dir { .. })
                    || matches!(kind, PlannedKind::Dir { .. }) =>
            {
                return Err(ContextError::DestinationConflict {
                    dest: dest.to_string(),
                    existing: old.noun(),
                    incoming: kind.noun(),
                });
            }
            (Some(_), _) => {
                self.entries.insert(dest.to_string(), kind);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
