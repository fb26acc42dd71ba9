//! Finding the workspace root and the package a directory belongs to.

use std::path::{Path, PathBuf};

use crate::{Classify, ErrorKind};

/// The file that marks a workspace root.
pub const WORKSPACE_FILE: &str = "WORKSPACE.star";
/// The file that makes a directory a package.
pub const BUILD_FILE: &str = "BUILD.star";

/// A workspace: the directory holding `WORKSPACE.star`.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

/// Failure to locate a workspace.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// No `WORKSPACE.star` in the directory or any parent.
    #[error(
        "no `WORKSPACE.star` in `{0}` or any directory above it: run bld inside a workspace, or use `bld build -f Dockerfile CONTEXT`"
    )]
    NotFound(PathBuf),
    /// The starting directory cannot be resolved.
    #[error("cannot resolve `{path}`")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Classify for WorkspaceError {
    fn kind(&self) -> ErrorKind {
        match self {
            WorkspaceError::NotFound(_) => ErrorKind::User,
            WorkspaceError::Io { .. } => ErrorKind::Internal,
        }
    }
}

impl Workspace {
    /// The workspace containing `dir` (searching upward).
    pub fn discover(dir: &Path) -> Result<Workspace, WorkspaceError> {
        let start = dir.canonicalize().map_err(|source| WorkspaceError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let mut current = start.as_path();
        loop {
            if current.join(WORKSPACE_FILE).is_file() {
                return Ok(Workspace {
                    root: current.to_owned(),
                });
            }
            match current.parent() {
                Some(parent) => current = parent,
                None => return Err(WorkspaceError::NotFound(start)),
            }
        }
    }

    /// A workspace rooted at `root` (already canonical), without checking for the marker file.
    pub fn at(root: PathBuf) -> Workspace {
        Workspace { root }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `dir` relative to the root, `/`-separated (`""` for the root): the package
    /// that relative labels on the command line resolve against, as in Bazel. `dir` must be
    /// inside the workspace.
    pub fn package_of(&self, dir: &Path) -> String {
        let Ok(dir) = dir.canonicalize() else {
            return String::new();
        };
        let Ok(relative) = dir.strip_prefix(&self.root) else {
            return String::new();
        };
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        parts.join("/")
    }

    /// The directory of `package`.
    pub fn package_dir(&self, package: &str) -> PathBuf {
        if package.is_empty() {
            self.root.clone()
        } else {
            self.root.join(package)
        }
    }
}
