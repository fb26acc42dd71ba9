//! bld's sandbox for `RUN` steps.
//!
//! - [`unpack_layer`] turns a layer blob into a directory overlayfs can use as a lower layer
//!   (OCI whiteouts become overlay whiteouts), once per layer.
//! - [`run`] starts a command in a fresh container over those layers: an overlay mount with a
//!   new upper directory, inside a private mount namespace (so nothing leaks if bld dies), and an
//!   OCI runtime (`runc`) started from a generated bundle with Docker's default capabilities and
//!   no network unless asked.
//! - [`upper_changes`] reads what the step changed from the upper directory, overlay whiteouts
//!   and opaque directories included, for the executor to pack into a layer.
//!
//! Not wired into Dockerfile lowering yet (issue 4): this is the mechanism it will use.

mod run;
mod unpack;
mod upper;

use std::path::PathBuf;

use bld_core::{Classify, ErrorKind};

pub use run::{BindOverlay, MountKind, RunOutcome, RunSpec, SandboxMount, run};
pub use unpack::unpack_layer;
pub use upper::{Change, ChangeKind, upper_changes};

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
    /// The OCI runtime (or `unshare`) is not installed.
    #[error(
        "the OCI runtime `{runtime}` is not installed: install it (Debian: `apt-get install {runtime}`) or choose another with BLD_RUNTIME"
    )]
    MissingRuntime {
        /// The runtime's name.
        runtime: String,
    },
    /// A layer is not a valid tar archive.
    #[error("layer `{path}` cannot be unpacked: {reason}")]
    BadLayer {
        /// The blob.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Classify for SandboxError {
    fn kind(&self) -> ErrorKind {
        match self {
            SandboxError::MissingRuntime { .. } => ErrorKind::User,
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
