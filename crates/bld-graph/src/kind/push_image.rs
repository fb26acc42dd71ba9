//! [`PushImage`]: an image to push (`oci_push`); building it builds the image, and `bld run`
//! of its target pushes it.

use serde::{Deserialize, Serialize};

use crate::{Input, InputIdentity, KeyEncoder, Kind};

/// An image and where `bld run` pushes it. As an action it is the image itself: the push is
/// not a build step (nothing a build does reaches a registry unless asked).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushImage {
    /// The image.
    pub image: Input,
    /// The repository, in full (`registry.example/team/app`).
    pub repository: String,
    /// The tags it is pushed as.
    pub tags: Vec<String>,
}

impl Kind for PushImage {
    fn encode_key(&self, key: &mut KeyEncoder, identity: &dyn Fn(&Input) -> InputIdentity) {
        let PushImage {
            image,
            repository: _,
            tags: _,
        } = self;
        key.tag("push_image");
        key.input(identity(image));
    }

    fn inputs<'a>(&'a self, inputs: &mut Vec<&'a Input>) {
        inputs.push(&self.image);
    }

    fn describe(&self) -> String {
        format!("push to {}:{}", self.repository, self.tags.join(","))
    }
}
