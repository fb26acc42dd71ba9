//! bld's OCI output: deterministic layer tars, image configs and manifests, and OCI image
//! layouts on disk.
//!
//! Manifests, indexes and descriptors are built with `oci-spec`. Image configs are handled as
//! JSON objects rather than `oci_spec::image::ImageConfiguration`, because a base image's config
//! may carry fields that type drops (Docker's `Healthcheck`, `OnBuild`, `Shell`, …) and an
//! image must keep them. Every JSON document is written with sorted keys and no whitespace, so
//! the same inputs give the same bytes and digests.

mod chunked;
mod gzip;
mod image;
mod image_archive;
mod layer;
mod layout;

use std::path::PathBuf;

use bld_core::{Classify, Digest, ErrorKind};
use bld_store::StoreError;

pub use bld_core::rfc3339;
pub use image::{ImageBlobs, assemble_image, read_image, with_config_entry};
pub use image_archive::{
    ArchiveFormat, LoadedImage, SavedImage, load_archive, load_layout_dir, save_archive,
};
pub use layer::{ItemKind, LayerBlob, LayerItem, carries_xattr, content_size, pack_layer};
pub use layout::write_layout;

/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip-compressed layer.
pub const LAYER_GZIP_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A failure while producing OCI content.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A layer source could not be read.
    #[error("cannot read `{path}` for the layer")]
    Source {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing a layout or a layer failed.
    #[error("cannot write `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An OCI layout cannot be written where the user asked for it (`-o DIR`, `bld-out/`).
    #[error("cannot write the image layout to `{path}`")]
    Destination {
        /// The layout's directory, as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A stored manifest or config is not what bld expects.
    #[error("image {digest}: {reason}")]
    BadImage {
        /// The manifest or config.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// An image archive given to `load_archive` is refused: malformed, truncated, hostile, or
    /// not what its own index says.
    #[error("cannot load the image archive: {reason}")]
    BadArchive {
        /// What is wrong, naming the archive entry.
        reason: String,
    },
    /// A layer item the caller made is inconsistent (an internal fault): a hard link to
    /// something that is not a file written before it.
    #[error("layer entry `{path}`: {reason}")]
    BadItem {
        /// The entry's path in the layer.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing an image archive to its destination failed.
    #[error("cannot write the image archive")]
    WriteArchive {
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Classify for OciError {
    fn kind(&self) -> ErrorKind {
        match self {
            OciError::Source { .. }
            | OciError::BadArchive { .. }
            | OciError::Destination { .. } => ErrorKind::User,
            _ => ErrorKind::Internal,
        }
    }
}

/// Serializes `value` as canonical JSON: object keys sorted, no insignificant whitespace.
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut value = serde_json::to_value(value).expect("invariant: OCI documents serialize");
    sort_keys(&mut value);
    serde_json::to_vec(&value).expect("invariant: JSON values serialize")
}

fn sort_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}
