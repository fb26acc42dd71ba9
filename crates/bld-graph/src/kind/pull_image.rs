//! [`PullImage`]: an image of a registry (`oci_pull`), by the digest it was pinned to.

use bld_core::Digest;
use serde::{Deserialize, Serialize};

use crate::{Input, InputIdentity, KeyEncoder, Kind};

/// An image of a registry for one platform. Analysis leaves `digest` unset when only a tag is
/// given; the build resolves it (from the lock file, else the registry) before anything runs,
/// and the digest and platform are the whole key: the same image from any name is the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullImage {
    /// The repository, in full (`docker.io/library/busybox`).
    pub image: String,
    /// The tag it was named by, if any.
    pub tag: Option<String>,
    /// The manifest (or index) digest it is pinned to.
    pub digest: Option<Digest>,
    /// `OS/ARCH[/VARIANT]`.
    pub platform: String,
}

impl Kind for PullImage {
    fn encode_key(&self, key: &mut KeyEncoder, _: &dyn Fn(&Input) -> InputIdentity) {
        let PullImage {
            image,
            tag,
            digest,
            platform,
        } = self;
        key.tag("pull_image");
        match digest {
            Some(digest) => {
                key.bool(true);
                key.digest(digest);
            }
            // Never executed so (the build resolves it first); keyed apart all the same.
            None => {
                key.bool(false);
                key.str(image);
                key.str(tag.as_deref().unwrap_or("latest"));
            }
        }
        key.str(platform);
    }

    fn inputs<'a>(&'a self, _: &mut Vec<&'a Input>) {}

    fn describe(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("pull {}@{digest} ({})", self.image, self.platform),
            (None, tag) => format!(
                "pull {}:{} ({})",
                self.image,
                tag.as_deref().unwrap_or("latest"),
                self.platform
            ),
        }
    }
}
