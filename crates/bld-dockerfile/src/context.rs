//! Build-context semantics: `.dockerignore` matching and `COPY`/`ADD` source resolution.
//!
//! Everything here is a pure function over an in-memory [`ContextTree`]; the only file
//! I/O is [`ContextTree::from_dir`], which walks a real directory.
//!
//! - [`DockerIgnore`] parses a `.dockerignore` file and answers "is this path excluded?"
//!   exactly like Docker/BuildKit (`moby/patternmatcher`): root-anchored patterns, `!`
//!   exceptions, last match wins, `**`, and a matching directory excluding its contents.
//! - [`plan_copy`] turns `COPY <src>... <dest>` into the list of [`PlannedEntry`]s the
//!   instruction writes into the image: wildcard expansion, directory contents instead of
//!   the directory itself, renaming, implicit parent directories, `--exclude` and
//!   `--parents`.
//!
//! ```
//! use bld_dockerfile::context::{plan_copy, ContextEntry, ContextTree, CopyOptions, DockerIgnore};
//!
//! let ignore = DockerIgnore::parse("*.log\n!keep.log\n")?;
//! assert!(ignore.is_excluded("debug.log"));
//! assert!(!ignore.is_excluded("keep.log"));
//!
//! let tree = ContextTree::from_entries([
//!     ("src/main.rs", ContextEntry::File { mode: 0o644, size: 10 }),
//! ])?;
//! let options = CopyOptions { workdir: "/app".into(), ..CopyOptions::default() };
//! let plan = plan_copy(&tree, &["src".to_string()], ".", &options)?;
//! let dests: Vec<&str> = plan.iter().map(|entry| entry.dest.as_str()).collect();
//! assert_eq!(dests, ["app", "app/main.rs"]);
//! # Ok::<(), bld_dockerfile::context::ContextError>(())
//! ```

mod copy;
mod dockerignore;
mod path;
mod pattern;
mod tree;

pub use copy::{CopyOptions, PlannedEntry, PlannedKind, destination_path, plan_copy};
pub use dockerignore::DockerIgnore;
pub use tree::{ContextEntry, ContextTree};

/// Most symlinks followed while resolving one `COPY` source (BuildKit's limit).
pub const MAX_SYMLINK_HOPS: usize = bld_core::beneath::MAX_SYMLINK_HOPS;

/// Errors from parsing ignore patterns, building a [`ContextTree`] or planning a `COPY`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// A `.dockerignore` line or `--exclude` pattern is not valid glob syntax.
    #[error(
        "invalid pattern `{pattern}` in {origin}: {reason}; expected Go filepath.Match \
         syntax (`*`, `?`, `[...]`, `\\` escapes) plus `**`"
    )]
    InvalidPattern {
        /// Where the pattern came from, e.g. `.dockerignore line 3` or `COPY --exclude`.
        origin: String,
        /// The pattern after trimming and cleaning.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A pattern consisting of `!` alone.
    #[error("illegal exclusion pattern \"!\" in {origin}: expected a pattern after `!`")]
    IllegalExclusion {
        /// Where the pattern came from.
        origin: String,
    },
    /// A path given to [`ContextTree::insert`] cannot name an entry of the context.
    #[error("invalid context path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was rejected, phrased as what was expected.
        reason: String,
    },
    /// [`CopyOptions::workdir`] is not absolute.
    #[error(
        "COPY working directory `{workdir}` is relative: expected an absolute path starting with `/`"
    )]
    RelativeWorkdir {
        /// The working directory as given.
        workdir: String,
    },
    /// `plan_copy` was called without sources.
    #[error("COPY needs at least one source: expected `COPY <src>... <dest>`")]
    NoSources,
    /// A source climbs out of the context root with `..`.
    #[error(
        "source `{src}` is outside the build context: expected a path inside the \
         context root (no `..` above it)"
    )]
    SourceOutsideContext {
        /// The source as written.
        src: String,
    },
    /// A source (or the directory part before its first wildcard) does not exist.
    #[error(
        "source `{src}` not found: lstat /{path}: no such file or directory (expected \
         an existing path relative to the context root that .dockerignore does not exclude)"
    )]
    SourceNotFound {
        /// The source as written.
        src: String,
        /// The context path that is missing.
        path: String,
    },
    /// Resolving a source goes through something that is not a directory.
    #[error(
        "source `{src}` cannot be resolved: /{path} is not a directory (expected a directory there)"
    )]
    NotADirectory {
        /// The source as written.
        src: String,
        /// The context path that should have been a directory.
        path: String,
    },
    /// Resolving a source follows too many symlinks (usually a loop).
    #[error(
        "source `{src}`: too many levels of symbolic links (expected at most \
         {MAX_SYMLINK_HOPS} symlinks to follow)"
    )]
    SymlinkLoop {
        /// The source as written.
        src: String,
    },
    /// Every source was a wildcard and none matched anything.
    #[error(
        "no source files were specified: no path in the build context matches {}; \
         expected at least one match", .sources.join(" ")
    )]
    NoSourceFiles {
        /// The sources as written.
        sources: Vec<String>,
    },
    /// Several sources (after wildcard expansion) but a destination that is not a directory.
    #[error(
        "When using COPY with more than one source file, the destination must be a directory \
         and end with a / (got `{dest}` for {count} sources)"
    )]
    DestinationNotDirectory {
        /// The destination as written.
        dest: String,
        /// How many sources there were after wildcard expansion.
        count: usize,
    },
    /// Two sources put incompatible entries at the same destination.
    #[error(
        "cannot copy a {incoming} to /{dest}: this COPY already puts a {existing} there \
         (expected only directories to merge)"
    )]
    DestinationConflict {
        /// The destination path in the image, without the leading `/`.
        dest: String,
        /// What is already planned there: `file`, `directory` or `symlink`.
        existing: &'static str,
        /// What would replace it.
        incoming: &'static str,
    },
}

impl ContextError {
    /// The message when the tree planned over is a stage's or an image's filesystem
    /// (`COPY --from`), not the build context.
    pub fn in_stage(&self) -> String {
        match self {
            ContextError::SourceNotFound { src, path } => format!(
                "source `{src}` not found: lstat /{path}: no such file or directory (expected \
                 an existing path in the stage or image `--from` names)"
            ),
            ContextError::NoSourceFiles { sources } => format!(
                "no source files were specified: no path in the stage or image `--from` names \
                 matches {}; expected at least one match",
                sources.join(" ")
            ),
            other => other.to_string(),
        }
    }

    /// The source as written that the error is about, if it is about one.
    pub fn source_written(&self) -> Option<&str> {
        match self {
            ContextError::SourceOutsideContext { src }
            | ContextError::SourceNotFound { src, .. }
            | ContextError::NotADirectory { src, .. }
            | ContextError::SymlinkLoop { src } => Some(src),
            _ => None,
        }
    }
}
