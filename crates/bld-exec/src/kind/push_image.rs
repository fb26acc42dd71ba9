//! [`PushImage`]: the image it names, as it is (the push itself is `bld run`'s).

use bld_graph::PushImage;

use super::{Execute, Run, image_output};
use crate::{ActionOutput, Failure};

impl Execute for PushImage {
    fn execute(&self, run: &Run<'_>) -> Result<ActionOutput, Failure> {
        let manifest = run.image(&self.image, "the image to push")?;
        image_output(run.store(), &manifest)
    }
}
