//! [`PullImage`]: an image of a registry, from the store when it holds it, else pulled by its
//! pinned digest (an index resolved to the platform), every blob checked on the way in.

use bld_core::ImageReference;
use bld_graph::PullImage;

use super::{Execute, Run, image_output};
use crate::{ActionOutput, Failure};

impl Execute for PullImage {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let Some(digest) = self.digest else {
            return Err(Failure::internal(format!(
                "{}:{} was not resolved to a digest before the build",
                self.image,
                self.tag.as_deref().unwrap_or("latest")
            )));
        };
        let store = run.store();
        let platform = bld_registry::Platform::parse(&self.platform).map_err(Failure::of)?;
        let mut reference = ImageReference::parse(&self.image).map_err(Failure::of)?;
        reference.tag = None;
        reference.digest = Some(digest);
        let pulled =
            bld_registry::pull(store, &reference, Some(&platform), &()).map_err(Failure::of)?;
        store.add_image(&pulled.manifest).map_err(Failure::of)?;
        image_output(store, &pulled.manifest)
    }
}
