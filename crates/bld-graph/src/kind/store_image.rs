//! [`StoreImage`]: an image already in the store (`FROM` a tagged local image).

use bld_core::Digest;
use serde::{Deserialize, Serialize};

use crate::{Input, InputIdentity, KeyEncoder, Kind};

/// An image of the local store, by manifest digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreImage {
    /// The manifest's digest.
    pub manifest: Digest,
}

impl Kind for StoreImage {
    fn encode_key(&self, key: &mut KeyEncoder, _: &dyn Fn(&Input) -> InputIdentity) {
        let StoreImage { manifest } = self;
        key.tag("store_image");
        key.digest(manifest);
    }

    fn inputs<'a>(&'a self, _: &mut Vec<&'a Input>) {}

    fn describe(&self) -> String {
        format!("image {}", self.manifest)
    }
}
