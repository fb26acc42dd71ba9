//! What the action cache remembers of an action: its output, as canonical JSON.

use bld_core::Digest;
use serde::{Deserialize, Serialize};

/// The artifact an action produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionOutput {
    /// A file in the store.
    File {
        /// Its content digest (its name in the store).
        digest: Digest,
        /// Its size.
        size: u64,
        /// Whether it is executable.
        executable: bool,
    },
    /// A compressed layer in the store.
    Layer {
        /// Digest of the compressed blob.
        digest: Digest,
        /// Size of the compressed blob.
        size: u64,
        /// Digest of the uncompressed tar.
        diff_id: Digest,
    },
    /// An image: a manifest and config in the store (its layers belong to other actions).
    Image {
        /// The manifest's digest.
        manifest: Digest,
        /// The manifest's size.
        manifest_size: u64,
        /// The config's digest.
        config: Digest,
    },
}

impl ActionOutput {
    /// The blobs this output owns, which a cache hit must find intact.
    pub fn owned_blobs(&self) -> Vec<Digest> {
        match self {
            ActionOutput::File { digest, .. } | ActionOutput::Layer { digest, .. } => vec![*digest],
            ActionOutput::Image {
                manifest, config, ..
            } => vec![*manifest, *config],
        }
    }

    /// The digest that identifies this output to the actions reading it.
    pub fn identity_digest(&self) -> Digest {
        match self {
            ActionOutput::File { digest, .. } | ActionOutput::Layer { digest, .. } => *digest,
            ActionOutput::Image { manifest, .. } => *manifest,
        }
    }
}

impl From<bld_oci::LayerBlob> for ActionOutput {
    fn from(blob: bld_oci::LayerBlob) -> Self {
        ActionOutput::Layer {
            digest: blob.digest,
            size: blob.size,
            diff_id: blob.diff_id,
        }
    }
}
