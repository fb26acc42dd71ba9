//! bld's sandbox for `RUN` steps.
//!
//! - [`unpack_layer`] turns a layer blob into a directory overlayfs can use as a lower layer
//!   (OCI whiteouts become overlay whiteouts), once per layer, never writing outside it, and
//!   checks an earlier unpacking against its completion record before reusing it.
//! - [`LayerStack`] looks paths up in a stack of such layers as overlayfs would show them,
//!   resolving symlinks inside the stack's root (mount sources, `/etc/passwd`, the workdir).
//! - [`run`] starts a command in a fresh container over those layers: an overlay mount with a
//!   new upper directory, inside a private mount namespace (so nothing leaks if bld dies), and an
//!   OCI runtime (`runc`) started from a generated bundle with Docker's default capabilities and
//!   no network unless asked.
//! - [`upper_changes`] reads what the step changed from the upper directory, overlay whiteouts
//!   and opaque directories included, for the executor to pack into a layer; [`OverlayWalk`]
//!   walks any directory in that format (an unpacked layer too) without following a symlink.

mod adopt;
pub mod attach;
mod container;
mod etc;
mod layers;
mod merged;
pub mod network;
mod reap;
mod unpack;
mod upper;

use std::path::PathBuf;

use bld_core::{Classify, ErrorKind};

pub use adopt::{adopt_upper, unpacked_dir};
pub use container::capability;
pub use container::{
    Attachments, BindOverlay, MountKind, NotStarted, RunOutcome, RunSpec, SandboxMount, Terminal,
    run,
};
pub use etc::{BUILD_STEP_HOSTNAME, Identity, etc_files};
pub use layers::LayerStack;
pub use merged::write_merged_tar;
pub use reap::{reap_abandoned, reap_containers};
pub use unpack::{LayerSource, discard, unpack_layer, unpack_tar};
pub use upper::{Change, ChangeKind, OverlayWalk, upper_changes};

/// A failure of the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A file operation failed.
    #[error("sandbox: cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The OCI runtime is not installed.
    #[error(
        "the OCI runtime `{runtime}` is not installed: install it (Debian: `apt-get install {runtime}`) or choose another with BLD_RUNTIME"
    )]
    MissingRuntime {
        /// The runtime's name.
        runtime: String,
    },
    /// A layer is not a valid tar archive, or holds an entry bld refuses (a path that leaves
    /// the layer or goes through a symlink, a link to outside it).
    #[error("layer `{path}` cannot be unpacked: {reason}")]
    BadLayer {
        /// The blob.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A layer blob does not match its digest.
    #[error(
        "layer `{path}` is corrupt: its {what} hashes to {actual}, not {expected}; remove the image that holds it (`bld rmi`) and build or load it again"
    )]
    CorruptLayer {
        /// The blob.
        path: PathBuf,
        /// What it should hash to.
        expected: bld_core::Digest,
        /// What it hashes to.
        actual: bld_core::Digest,
        /// Which digest failed.
        what: &'static str,
    },
    /// A path does not resolve inside an image.
    #[error("{0}")]
    NotInImage(String),
}

impl Classify for SandboxError {
    fn kind(&self) -> ErrorKind {
        match self {
            SandboxError::MissingRuntime { .. }
            | SandboxError::BadLayer { .. }
            | SandboxError::NotInImage(_) => ErrorKind::User,
            _ => ErrorKind::Internal,
        }
    }
}

pub(crate) fn io_error(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> SandboxError {
    let path = path.to_owned();
    move |source| SandboxError::Io {
        action,
        path,
        source,
    }
}

/// Makes an overlay whiteout (a 0/0 character device) at `path`; needs root, as the tests do.
#[cfg(test)]
pub(crate) fn make_whiteout(path: &std::path::Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .expect("a whiteout (needs root)");
}
