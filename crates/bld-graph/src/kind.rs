//! [`ActionKind`]: what an action does. Each kind lives in one module of `kind/` and
//! implements [`Kind`], which owns everything the graph knows of it: its key encoding, its
//! inputs and its description (how it runs is `bld-exec`'s module of the same name).

mod assemble_image;
mod copy_from_image;
mod fetch_deb_file;
mod pack_layer;
mod probe_destination;
mod pull_image;
mod push_image;
mod run_step;
mod store_image;
mod write_file;

use serde::{Deserialize, Serialize};

pub use assemble_image::AssembleImage;
pub use copy_from_image::CopyFromImage;
pub use fetch_deb_file::FetchDebFile;
pub use pack_layer::{EntryContent, FileMode, LayerEntry, PackLayer};
pub use probe_destination::{Below, ExistingDir, Landing, LandingOf, ProbeDestination};
pub use pull_image::PullImage;
pub use push_image::PushImage;
pub use run_step::{RunMount, RunStep, ViewEntry};
pub use store_image::StoreImage;
pub use write_file::WriteFile;

use crate::{Input, InputIdentity, KeyEncoder};

/// One kind of action: its parameters, and what the graph needs of them.
///
/// `encode_key` destructures the kind's struct exhaustively, so a field added later fails to
/// compile until it is encoded or marked `field: _` (deliberately not part of the key).
pub trait Kind {
    /// Feeds the kind's tag and every parameter that can change its output to the key,
    /// reading each input's identity through `identity`.
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity);

    /// Appends every input this kind reads, in the order its parameters name them.
    fn inputs<'a>(&'a self, inputs: &mut Vec<&'a Input>);

    /// What the action does, in a few words (`RUN make`, `pack 3 entries`).
    fn describe(&self) -> String;
}

/// What an action does. Each kind produces one artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ActionKind {
    /// Writes bytes to a file.
    WriteFile(WriteFile),
    /// Packs files into a deterministic, compressed layer tar.
    PackLayer(PackLayer),
    /// Builds an image (config and manifest) from a base image, layers and configuration.
    AssembleImage(Box<AssembleImage>),
    /// Runs a command in a container over an image; its changes become a layer (`RUN`).
    RunStep(Box<RunStep>),
    /// Copies files out of an image's filesystem into a layer (`COPY --from=<stage>` when the
    /// stage's files are known only once built).
    CopyFromImage(Box<CopyFromImage>),
    /// One file out of a pinned Debian package.
    FetchDebFile(FetchDebFile),
    /// An image already in the store (`FROM` a tagged local image).
    StoreImage(StoreImage),
    /// Where a destination lands in the image below (`COPY`, `WORKDIR` over a built image).
    ProbeDestination(Box<ProbeDestination>),
    /// An image of a registry (`oci_pull`).
    PullImage(PullImage),
    /// An image to push (`oci_push`): the image itself, and where `bld run` pushes it.
    PushImage(PushImage),
}

impl ActionKind {
    /// The kind's name, as `bld aquery` shows it (Bazel's mnemonic).
    pub fn mnemonic(&self) -> &'static str {
        match self {
            ActionKind::WriteFile(_) => "WriteFile",
            ActionKind::PackLayer(_) => "PackLayer",
            ActionKind::AssembleImage(_) => "AssembleImage",
            ActionKind::RunStep(_) => "RunStep",
            ActionKind::CopyFromImage(_) => "CopyFromImage",
            ActionKind::FetchDebFile(_) => "FetchDebFile",
            ActionKind::StoreImage(_) => "StoreImage",
            ActionKind::ProbeDestination(_) => "ProbeDestination",
            ActionKind::PullImage(_) => "PullImage",
            ActionKind::PushImage(_) => "PushImage",
        }
    }

    /// The kind behind the trait every user of the graph goes through.
    pub fn as_kind(&self) -> &dyn Kind {
        match self {
            ActionKind::WriteFile(kind) => kind,
            ActionKind::PackLayer(kind) => kind,
            ActionKind::AssembleImage(kind) => kind.as_ref(),
            ActionKind::RunStep(kind) => kind.as_ref(),
            ActionKind::CopyFromImage(kind) => kind.as_ref(),
            ActionKind::FetchDebFile(kind) => kind,
            ActionKind::StoreImage(kind) => kind,
            ActionKind::ProbeDestination(kind) => kind.as_ref(),
            ActionKind::PullImage(kind) => kind,
            ActionKind::PushImage(kind) => kind,
        }
    }
}
