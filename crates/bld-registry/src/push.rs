//! Pushing an image of the store: each blob the repository lacks (checked with `HEAD`) uploaded
//! whole, the config after the layers, and the manifest last, so that an interrupted push never
//! leaves a manifest naming a blob the registry does not hold.

use bld_core::{Digest, ImageReference};
use bld_store::Store;
use serde_json::Value;

use crate::{Endpoint, RegistryError};

/// The media type of a manifest that names none.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: usize,
}

/// Pushes the image the store tags as `reference` (which names a tag) to its registry;
/// `on_blob` hears of each layer (its digest, and whether the repository already held it).
pub fn push(
    store: &Store,
    reference: &ImageReference,
    on_blob: &dyn Fn(&Digest, bool),
) -> Result<Pushed, RegistryError> {
    let name = reference.to_string();
    let manifest = store.get_tag(&name)?.ok_or_else(|| {
        RegistryError::Unsupported(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar()
        ))
    })?;
    let tag = reference.tag.clone().unwrap_or_else(|| "latest".to_owned());
    let endpoint = Endpoint::of(reference)?;
    let bytes = store.read_blob(&manifest)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        RegistryError::Unsupported(format!("the manifest of {name} is not JSON: {e}"))
    })?;
    let digest_of = |d: &Value| d.get("digest")?.as_str()?.parse::<Digest>().ok();
    let layers: Vec<Digest> = value
        .get("layers")
        .and_then(Value::as_array)
        .map(|layers| layers.iter().filter_map(digest_of).collect())
        .unwrap_or_default();
    let config = value.get("config").and_then(digest_of).ok_or_else(|| {
        RegistryError::Unsupported(format!("the manifest of {name} names no config"))
    })?;
    for layer in &layers {
        let held = put_blob(store, &endpoint, layer)?;
        on_blob(layer, held);
    }
    put_blob(store, &endpoint, &config)?;
    let media_type = value
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(OCI_MANIFEST);
    endpoint.put_manifest(&tag, &bytes, media_type)?;
    // What the registry now serves for the name, as Docker records it (`RepoDigests`).
    let _lock = store.lock_index()?;
    store.put_tag(&format!("{}@{manifest}", reference.name), &manifest)?;
    Ok(Pushed {
        digest: manifest,
        size: bytes.len(),
    })
}

/// Uploads the store's blob `digest` unless the repository holds it; returns whether it did.
fn put_blob(store: &Store, endpoint: &Endpoint, digest: &Digest) -> Result<bool, RegistryError> {
    if endpoint.has_blob(digest)? {
        return Ok(true);
    }
    let path = store.blob_path(digest);
    if !path.is_file() {
        return Err(RegistryError::Unsupported(format!(
            "the store lacks the blob {digest} of this image (it may have been removed by `bld gc`)"
        )));
    }
    endpoint.upload_blob(digest, &path)?;
    Ok(false)
}
