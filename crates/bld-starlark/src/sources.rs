//! [`Sources`]: every question the front-end asks of the workspace goes through here and is
//! recorded, so a cached analysis can be reused exactly when every answer is still the same
//! (a small version of Bazel's Skyframe dependency tracking).

use std::cell::RefCell;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bld_core::Digest;
use serde::{Deserialize, Serialize};

/// The kind of a directory entry (symlinks are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// Anything else: a file, a symlink, a device.
    Other,
}

/// One question asked of the file system and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observation {
    /// A file's content was read (`None`: it could not be).
    File {
        /// The path.
        path: PathBuf,
        /// The content's digest.
        digest: Option<Digest>,
    },
    /// A directory was listed (`None`: it could not be), sorted by name.
    Dir {
        /// The path.
        path: PathBuf,
        /// Its entries.
        listing: Option<Vec<(String, EntryKind)>>,
        /// Whether [`OUTPUT_DIR`] was left out (at the workspace root).
        skips_outputs: bool,
    },
    /// Whether a path is a regular file (following symlinks).
    IsFile {
        /// The path.
        path: PathBuf,
        /// The answer.
        is_file: bool,
    },
    /// Whether a file is a tar archive `ADD` unpacks (`None`: it could not be read).
    TarArchive {
        /// The path.
        path: PathBuf,
        /// The answer.
        is_archive: Option<bool>,
    },
    /// A path's canonical form (`None`: it does not resolve).
    Canonical {
        /// The path.
        path: PathBuf,
        /// The answer.
        resolved: Option<PathBuf>,
    },
}

impl Observation {
    /// Asks the question again and compares the answer.
    pub fn still_holds(&self) -> bool {
        match self {
            Observation::File { path, digest } => read(path).map(|(_, d)| d).ok() == *digest,
            Observation::Dir {
                path,
                listing,
                skips_outputs,
            } => list(path, *skips_outputs).ok() == *listing,
            Observation::IsFile { path, is_file } => path.is_file() == *is_file,
            Observation::TarArchive { path, is_archive } => {
                bld_core::is_tar_archive(path).ok() == *is_archive
            }
            Observation::Canonical { path, resolved } => path.canonicalize().ok() == *resolved,
        }
    }
}

fn read(path: &Path) -> io::Result<(String, Digest)> {
    let text = fs::read_to_string(path)?;
    let digest = Digest::of(text.as_bytes());
    Ok((text, digest))
}

fn list(path: &Path, skip_outputs: bool) -> io::Result<Vec<(String, EntryKind)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        if skip_outputs && entry.file_name() == OUTPUT_DIR {
            continue;
        }
        let kind = if entry.file_type()?.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::Other
        };
        entries.push((entry.file_name().to_string_lossy().into_owned(), kind));
    }
    entries.sort();
    Ok(entries)
}

/// The directory at the workspace root that holds outputs: never a source, never listed.
pub const OUTPUT_DIR: &str = "bld-out";

/// A recording view of the file system (cheap to clone; clones share the record).
#[derive(Clone, Default)]
pub struct Sources {
    observations: Rc<RefCell<Vec<Observation>>>,
    /// Directory listings of this directory leave out [`OUTPUT_DIR`].
    root: Rc<PathBuf>,
}

impl Sources {
    /// A view of the workspace at `root`.
    pub fn new(root: &Path) -> Sources {
        Sources {
            observations: Rc::default(),
            root: Rc::new(root.to_owned()),
        }
    }

    fn record(&self, observation: Observation) {
        self.observations.borrow_mut().push(observation);
    }

    /// Reads a UTF-8 file.
    pub fn read_to_string(&self, path: &Path) -> io::Result<String> {
        let result = read(path);
        self.record(Observation::File {
            path: path.to_owned(),
            digest: result.as_ref().ok().map(|(_, d)| *d),
        });
        result.map(|(text, _)| text)
    }

    /// Lists a directory, sorted by name (the workspace root without `bld-out`).
    pub fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, EntryKind)>> {
        let skips_outputs = path == self.root.as_path();
        let result = list(path, skips_outputs);
        self.record(Observation::Dir {
            path: path.to_owned(),
            listing: result.as_ref().ok().cloned(),
            skips_outputs,
        });
        result
    }

    /// Whether `path` is a regular file (following symlinks).
    pub fn is_file(&self, path: &Path) -> bool {
        let is_file = path.is_file();
        self.record(Observation::IsFile {
            path: path.to_owned(),
            is_file,
        });
        is_file
    }

    /// Whether `path` is a tar archive `ADD` unpacks (it reads the file's first block).
    pub fn is_tar_archive(&self, path: &Path) -> io::Result<bool> {
        let result = bld_core::is_tar_archive(path);
        self.record(Observation::TarArchive {
            path: path.to_owned(),
            is_archive: result.as_ref().ok().copied(),
        });
        result
    }

    /// The canonical form of `path`.
    pub fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let result = path.canonicalize();
        self.record(Observation::Canonical {
            path: path.to_owned(),
            resolved: result.as_ref().ok().cloned(),
        });
        result
    }

    /// Everything asked so far, each question once.
    pub fn observations(&self) -> Vec<Observation> {
        let mut seen = std::collections::HashSet::new();
        self.observations
            .borrow()
            .iter()
            .filter(|o| seen.insert(*o))
            .cloned()
            .collect()
    }
}

impl std::hash::Hash for Observation {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Observation::File { path, .. }
            | Observation::Dir { path, .. }
            | Observation::IsFile { path, .. }
            | Observation::TarArchive { path, .. }
            | Observation::Canonical { path, .. } => path.hash(state),
        }
    }
}

impl bld_dockerfile_lower::ContextFiles for Sources {
    fn is_tar_archive(&self, path: &Path) -> io::Result<bool> {
        Sources::is_tar_archive(self, path)
    }
}
