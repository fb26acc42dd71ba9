//! How each kind of action runs: one module per kind of [`ActionKind`] (named as in
//! `bld-graph`, which owns the kind's parameters, key and inputs), each implementing
//! [`Execute`]. The scheduler knows only the trait.

mod assemble_image;
mod copy_from_image;
mod fetch_deb_file;
mod pack_layer;
mod probe_destination;
mod pull_image;
mod push_image;
pub(crate) mod run_step;
mod store_image;
mod write_file;

use std::collections::HashMap;
use std::path::PathBuf;

use bld_core::Digest;
use bld_graph::{ActionId, ActionKind, Input, InputIdentity};
use bld_oci::LayerBlob;
use bld_store::Store;

use crate::{ActionOutput, ExecContext, Failure};

/// Running one kind of action.
pub(crate) trait Execute {
    /// Produces the action's output from its inputs (a cache miss).
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure>;
}

/// The kind's execution, behind the trait.
pub(crate) fn executor(kind: &ActionKind) -> &dyn Execute {
    match kind {
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

/// The output of an action whose image is the store's `manifest` (checked readable).
pub(crate) fn image_output(store: &Store, manifest: &Digest) -> Result<ActionOutput, Failure> {
    let (parsed, _) = bld_oci::read_image(store, manifest).map_err(Failure::of)?;
    let manifest_size = std::fs::metadata(store.blob_path(manifest))
        .map_err(Failure::internal)?
        .len();
    let config = parsed
        .config()
        .digest()
        .to_string()
        .parse()
        .map_err(Failure::internal)?;
    Ok(ActionOutput::Image {
        manifest: *manifest,
        manifest_size,
        config,
    })
}

/// What an action's execution reads: the executor's context, the identity of each input, the
/// outputs of the actions it reads, and where its command's output lines go.
pub(crate) struct Run<'a> {
    pub(crate) context: &'a ExecContext<'a>,
    pub(crate) identities: &'a HashMap<&'a Input, InputIdentity>,
    pub(crate) output_of: &'a dyn Fn(ActionId) -> Option<ActionOutput>,
    pub(crate) on_output: &'a dyn Fn(&str),
}

impl Run<'_> {
    pub(crate) fn store(&self) -> &Store {
        self.context.store
    }

    /// The identity the key was computed with.
    pub(crate) fn identity(&self, input: &Input) -> InputIdentity {
        self.identities[input]
    }

    /// Where an input's bytes are: a source in the workspace, an output in the store.
    pub(crate) fn path_of(&self, input: &Input) -> PathBuf {
        match input {
            Input::Source(path) => self.context.workspace_root.join(path),
            Input::Output(_) => self.store().blob_path(&self.identity(input).digest),
        }
    }

    fn output(&self, input: &Input, what: &str) -> Result<ActionOutput, Failure> {
        match input {
            Input::Output(dep) => (self.output_of)(*dep).ok_or_else(|| {
                Failure::internal(format!("{what}: input action {dep:?} has no output"))
            }),
            Input::Source(path) => Err(Failure::internal(format!(
                "{what} is the source file `{path}`"
            ))),
        }
    }

    /// The manifest of an input that must be another action's image.
    pub(crate) fn image(&self, input: &Input, what: &str) -> Result<Digest, Failure> {
        match self.output(input, what)? {
            ActionOutput::Image { manifest, .. } => Ok(manifest),
            other => Err(Failure::internal(format!(
                "{what} is not an image: {other:?}"
            ))),
        }
    }

    /// The blob of an input that must be another action's layer.
    pub(crate) fn layer(&self, input: &Input) -> Result<LayerBlob, Failure> {
        match self.output(input, "a layer")? {
            ActionOutput::Layer {
                digest,
                size,
                diff_id,
            } => Ok(LayerBlob {
                digest,
                size,
                diff_id,
            }),
            other => Err(Failure::internal(format!(
                "a layer is not a layer: {other:?}"
            ))),
        }
    }
}
