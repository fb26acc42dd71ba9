//! [`AssembleImage`]: config and manifest over the base image's and the layers' outputs.

use bld_graph::AssembleImage;

use super::{Execute, Run};
use crate::{ActionOutput, Failure};

impl Execute for AssembleImage {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let base = self
            .base
            .as_ref()
            .map(|base| run.image(base, "the base"))
            .transpose()?;
        let layers = self
            .layers
            .iter()
            .map(|layer| run.layer(layer))
            .collect::<Result<Vec<_>, _>>()?;
        let blobs = bld_oci::assemble_image(
            run.store(),
            base.as_ref(),
            &layers,
            &self.config,
            self.created,
        )
        .map_err(Failure::of)?;
        Ok(ActionOutput::Image {
            manifest: blobs.manifest,
            manifest_size: blobs.manifest_size,
            config: blobs.config,
        })
    }
}
