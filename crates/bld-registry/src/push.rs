//! Pushing an image of the store: each blob the repository lacks (checked with `HEAD`) mounted
//! from another repository of the registry that holds it, else uploaded whole, several at once;
//! the config after the layers, and the manifest last, so that an interrupted push never
//! leaves a manifest naming a blob the registry does not hold.

use bld_core::{Digest, ImageReference};
use bld_store::Store;
use serde_json::Value;

use crate::http::Sent;
use crate::{Endpoint, RegistryError, config, sources};

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

/// How one layer reached the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerPushed {
    /// The repository held it (`Layer already exists`).
    AlreadyExists,
    /// Its bytes were uploaded (`Pushed`).
    Pushed,
    /// The registry mounted it from this repository of its own (`Mounted from …`).
    MountedFrom(String),
}

/// What a push reports as it goes.
pub trait PushProgress: Sync {
    /// A layer is done, as `pushed` says.
    fn layer_done(&self, digest: &Digest, pushed: &LayerPushed);
    /// `done` of a layer's `total` bytes have been sent.
    fn layer_bytes(&self, _digest: &Digest, _done: u64, _total: u64) {}
}

impl<F: Fn(&Digest, &LayerPushed) + Sync> PushProgress for F {
    fn layer_done(&self, digest: &Digest, pushed: &LayerPushed) {
        self(digest, pushed);
    }
}

/// Pushes the image the store tags as `reference` (which names a tag) to its registry;
/// `progress` hears of each layer.
pub fn push(
    store: &Store,
    reference: &ImageReference,
    progress: &dyn PushProgress,
) -> Result<Pushed, RegistryError> {
    let name = reference.to_string();
    let manifest = store.get_tag(&name)?.ok_or_else(|| {
        RegistryError::Unsupported(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar()
        ))
    })?;
    push_manifest(store, &manifest, reference, progress)
}

/// Pushes the store's image `manifest` as `reference` (which names a tag); `progress` hears
/// of each layer.
pub fn push_manifest(
    store: &Store,
    manifest: &Digest,
    reference: &ImageReference,
    progress: &dyn PushProgress,
) -> Result<Pushed, RegistryError> {
    send(store, manifest, reference, progress, true)
}

/// Pushes the store's manifest `manifest` of an artifact that is not an image (a build cache)
/// as `reference`, its config and every blob it lists; not recorded as an image of the store.
pub fn push_artifact(
    store: &Store,
    manifest: &Digest,
    reference: &ImageReference,
) -> Result<Pushed, RegistryError> {
    send(
        store,
        manifest,
        reference,
        &|_: &Digest, _: &LayerPushed| {},
        false,
    )
}

/// Pushes `manifest` as `reference`; with `record_repo_digest`, records what the registry now
/// serves for the name.
fn send(
    store: &Store,
    manifest: &Digest,
    reference: &ImageReference,
    progress: &dyn PushProgress,
    record_repo_digest: bool,
) -> Result<Pushed, RegistryError> {
    use rayon::prelude::*;
    let manifest = *manifest;
    let name = reference.to_string();
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
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config::config()?.uploads)
        .build()
        .map_err(|e| RegistryError::Unsupported(format!("cannot start uploads: {e}")))?;
    pool.install(|| {
        layers.par_iter().try_for_each(|layer| {
            let pushed = put_blob(store, &endpoint, layer, progress)?;
            progress.layer_done(layer, &pushed);
            Ok::<_, RegistryError>(())
        })
    })?;
    put_blob(store, &endpoint, &config, &|_: &Digest, _: &LayerPushed| {})?;
    let media_type = value
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(OCI_MANIFEST);
    endpoint.put_manifest(&tag, &bytes, media_type)?;
    let mut blobs = layers;
    blobs.push(config);
    sources::record(store, &blobs, &endpoint.host, &endpoint.repository);
    if record_repo_digest {
        // What the registry now serves for the name, as Docker records it (`RepoDigests`).
        let _lock = store.lock_index()?;
        store.put_tag(&format!("{}@{manifest}", reference.name), &manifest)?;
    }
    Ok(Pushed {
        digest: manifest,
        size: bytes.len(),
    })
}

/// Sends the store's blob `digest` unless the repository holds it: mounted from a repository
/// of the same registry the store knows holds it, else uploaded.
fn put_blob(
    store: &Store,
    endpoint: &Endpoint,
    digest: &Digest,
    progress: &dyn PushProgress,
) -> Result<LayerPushed, RegistryError> {
    if endpoint.has_blob(digest)? {
        return Ok(LayerPushed::AlreadyExists);
    }
    let path = store.blob_path(digest);
    if !path.is_file() {
        return Err(RegistryError::Unsupported(format!(
            "the store lacks the blob {digest} of this image (it may have been removed by `bld gc`)"
        )));
    }
    let from = sources::on_host(store, digest, &endpoint.host)
        .into_iter()
        .find(|repository| *repository != endpoint.repository);
    let total = std::fs::metadata(&path).map_or(0, |m| m.len());
    let on_bytes = |done| progress.layer_bytes(digest, done, total);
    match endpoint.upload_blob(digest, &path, from.as_deref(), &on_bytes)? {
        Sent::Mounted => Ok(LayerPushed::MountedFrom(from.unwrap_or_default())),
        Sent::Uploaded => Ok(LayerPushed::Pushed),
    }
}
