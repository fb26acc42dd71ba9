//! [`StoreImage`]: an image already in the store, checked readable.

use bld_graph::StoreImage;

use super::{Execute, Run};
use crate::{ActionOutput, Failure};

impl Execute for StoreImage {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let store = run.store();
        let (parsed, _) = bld_oci::read_image(store, &self.manifest).map_err(Failure::of)?;
        let manifest_size = std::fs::metadata(store.blob_path(&self.manifest))
            .map_err(Failure::internal)?
            .len();
        let config = parsed
            .config()
            .digest()
            .to_string()
            .parse()
            .map_err(Failure::internal)?;
        Ok(ActionOutput::Image {
            manifest: self.manifest,
            manifest_size,
            config,
        })
    }
}
