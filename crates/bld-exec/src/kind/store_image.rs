//! [`StoreImage`]: an image already in the store, checked readable.

use bld_graph::StoreImage;

use super::{Execute, Run, image_output};
use crate::{ActionOutput, Failure};

impl Execute for StoreImage {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        image_output(run.store(), &self.manifest)
    }
}
