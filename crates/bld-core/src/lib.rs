//! bld's vocabulary, shared by every other crate: [`Label`], [`TargetPattern`], [`Digest`],
//! workspace discovery and the user-error / internal-fault split that decides exit codes.

pub mod beneath;
mod digest;
mod image_config;
mod label;
mod location;
mod owner;
mod reference;
mod tar_sniff;
mod time;
mod workspace;

pub use digest::{Digest, DigestParseError, Sha256Reader, Sha256Writer};
pub use image_config::{Healthcheck, HistoryStep, ImageConfigSpec, host_platform};
pub use label::{Label, LabelError, TargetPattern};
pub use location::Location;
pub use owner::{current_owner, is_running, owner_of};
pub use reference::{ImageReference, ReferenceError, split_tag};
pub use tar_sniff::is_tar_archive;
pub use time::{rfc3339, rfc3339_nanos};
pub use workspace::{BUILD_FILE, WORKSPACE_FILE, Workspace, WorkspaceError};

/// Whether an error is the user's to fix (exit 1) or a fault of bld or the machine (exit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: a BUILD file, a label, a missing source. Exit code 1.
    User,
    /// Anything else: I/O failures in the store, broken invariants. Exit code 2.
    Internal,
}

/// Implemented by every library crate's error enum so the CLI can choose the exit code.
pub trait Classify {
    /// Which side must act on this error.
    fn kind(&self) -> ErrorKind;

    /// Where in a file the error is, when it is about a place in one (the CLI shows the line).
    fn location(&self) -> Option<&Location> {
        None
    }
}
