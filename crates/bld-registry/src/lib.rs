//! Pulling from and pushing to registries that speak the OCI distribution API (Docker's
//! registry, `distribution`, and the registries built on it), over blocking HTTP(S) (`ureq`).
//!
//! A pull fetches the manifest a reference names (an index or manifest list resolved to a
//! platform), its config and its layers, each checked against its digest and size while it
//! streams to a private directory; the directory is then an OCI image layout that `bld-oci`
//! adds to the store as `bld load` adds an archive (the layers' diff IDs, the config's claim,
//! are checked whenever a layer is unpacked, as containerd checks them). Nothing reaches the
//! store until everything is checked, so a registry that lies, or dies halfway, leaves the
//! store as it was. Layers the store already holds are not downloaded. A push sends what the
//! repository lacks and the manifest last (`push`); `lock` is the lock file's format.
//!
//! HTTPS with the system's roots and Docker's `certs.d` CAs and client certificates (`tls`);
//! plain HTTP only for registries on the loopback interface or listed as insecure, when they do
//! not speak TLS. Anonymous, basic credentials from Docker's `config.json` or its credential
//! helpers, or the bearer token a registry's challenge names. Requests that fail on the way or
//! with 429/5xx are sent again with backoff; a download cut short resumes where it stopped.
//! Mirrors and the rest of the settings: `config`.

mod config;
mod credentials;
mod http;
mod lock;
mod platform;
mod push;
mod search;
mod sources;
mod tls;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use bld_core::{Classify, Digest, ErrorKind, ImageReference, Sha256Writer};
use bld_oci::{LayerBlob, OciError};
use bld_store::{Store, StoreError};
use serde_json::{Value, json};

pub use config::{Config, config, config_file};
pub use credentials::{
    Credentials, config_path, lookup as lookup_credentials, remove as forget_credentials,
    store as store_credentials,
};
pub use http::Endpoint;
pub use lock::{Change, Lock, Locked};
pub use platform::Platform;
pub use push::{LayerPushed, PushProgress, Pushed, push, push_artifact, push_manifest};
pub use search::{Found, search};

/// Records that `endpoint`'s repository holds each of `digests` (fetched from it other than by
/// a pull: a build cache's blobs), so a push to another repository of its registry mounts them
/// instead of uploading.
pub fn record_holder(store: &Store, digests: &[Digest], endpoint: &Endpoint) {
    sources::record(store, digests, &endpoint.host, &endpoint.repository);
}

/// What a pull or push reports as it goes; `()` reports nothing.
pub trait Progress: Sync {
    /// A layer is done: `held` when the store (or, for a push, the repository) already had it.
    fn layer_done(&self, digest: &Digest, held: bool);
    /// `done` of a layer's `total` bytes have been sent or received.
    fn layer_bytes(&self, _digest: &Digest, _done: u64, _total: u64) {}
}

impl<F: Fn(&Digest, bool) + Sync> Progress for F {
    fn layer_done(&self, digest: &Digest, held: bool) {
        self(digest, held);
    }
}

impl Progress for () {
    fn layer_done(&self, _: &Digest, _: bool) {}
}

/// The manifest media types a pull accepts, most wanted first.
const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// The largest manifest or index read.
const MAX_MANIFEST: u64 = 4 << 20;

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry refused, failed or is not reachable.
    #[error("{registry}: {message}")]
    Registry {
        /// The registry's host (and port).
        registry: String,
        /// What happened, naming the repository or blob.
        message: String,
    },
    /// What the registry served is not what it claimed.
    #[error("{registry} served {what} that does not match: {detail}")]
    Mismatch {
        /// The registry's host (and port).
        registry: String,
        /// The blob or manifest.
        what: String,
        /// Expected and actual digest or size.
        detail: String,
    },
    /// A kind of registry or image not supported yet.
    #[error("{0}")]
    Unsupported(String),
    /// The layout of what was fetched was refused.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Oci(e) => e.kind(),
            RegistryError::Store(e) => e.kind(),
            _ => ErrorKind::User,
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The digest of what the registry serves for the reference (an index, or the manifest):
    /// Docker's `RepoDigests` entry.
    pub repo_digest: Digest,
    /// The image's manifest, now in the store.
    pub manifest: Digest,
    /// The image's config (its IMAGE ID).
    pub config: Digest,
    /// Each layer, and whether the store already held it.
    pub layers: Vec<(Digest, bool)>,
    /// Whether the store already held the whole image.
    pub up_to_date: bool,
}

/// Pulls `reference` into `store` (for `platform`, when it names an index; the host's by
/// default), from the first of its registry's mirrors that serves it, else the registry;
/// `progress` hears of each layer's bytes as they arrive and of the layer when it is done.
pub fn pull(
    store: &Store,
    reference: &ImageReference,
    platform: Option<&Platform>,
    progress: &dyn Progress,
) -> Result<Pulled, RegistryError> {
    let host = Platform::host();
    let platform = platform.unwrap_or(&host);
    first_answer(reference, |endpoint| {
        pull_from(store, endpoint, reference, platform, progress)
    })
}

/// `ask` of each mirror of `reference`'s registry in turn, then of the registry: the first
/// answer, or the registry's failure (a mirror that fails is passed over, as Docker does).
fn first_answer<T>(
    reference: &ImageReference,
    ask: impl Fn(&Endpoint) -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    let mut endpoints = Endpoint::with_mirrors(reference)?;
    let last = endpoints.pop().ok_or_else(|| {
        RegistryError::Unsupported(format!("`{}` names no registry", reference.name))
    })?;
    endpoints
        .iter()
        .find_map(|mirror| ask(mirror).ok())
        .map_or_else(|| ask(&last), Ok)
}

/// What `reference` (a tag) names now for `platform`, without fetching any blob: the image's
/// manifest digest, and the digest of what the registry served (an index, or that manifest).
///
/// # Errors
///
/// As [`pull`]'s, up to the manifest.
pub fn resolve(
    reference: &ImageReference,
    platform: &Platform,
) -> Result<(Digest, Digest), RegistryError> {
    first_answer(reference, |endpoint| {
        resolve_at(endpoint, reference, platform)
    })
}

fn resolve_at(
    endpoint: &Endpoint,
    reference: &ImageReference,
    platform: &Platform,
) -> Result<(Digest, Digest), RegistryError> {
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let (top, top_type) = endpoint.manifest(tag)?;
    let repo_digest = Digest::of(&top);
    if is_index(&top_type, &top) {
        Ok((platform_manifest(endpoint, &top, platform)?, repo_digest))
    } else {
        Ok((repo_digest, repo_digest))
    }
}

fn pull_from(
    store: &Store,
    endpoint: &Endpoint,
    reference: &ImageReference,
    platform: &Platform,
    progress: &dyn Progress,
) -> Result<Pulled, RegistryError> {
    let target = match (&reference.digest, &reference.tag) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.clone(),
        (None, None) => "latest".to_owned(),
    };
    let (top, top_type) = endpoint.manifest(&target)?;
    let repo_digest = Digest::of(&top);
    if let Some(wanted) = &reference.digest
        && *wanted != repo_digest
    {
        return Err(endpoint.mismatch(
            format!("the manifest {target}"),
            format!("its digest is {repo_digest}"),
        ));
    }
    let (manifest, manifest_type) = if is_index(&top_type, &top) {
        let child = platform_manifest(endpoint, &top, platform)?;
        let (bytes, media_type) = endpoint.manifest(&child.to_string())?;
        if Digest::of(&bytes) != child {
            return Err(endpoint.mismatch(
                format!("the manifest {child}"),
                format!("its digest is {}", Digest::of(&bytes)),
            ));
        }
        (bytes, media_type)
    } else {
        (top, top_type)
    };
    let described = descriptors(endpoint, &manifest)?;
    let mut blobs: Vec<Digest> = described.1.iter().map(|(d, _)| *d).collect();
    blobs.push(described.0.0);
    if let Some((config, layers)) = held_image(store, &manifest, &described, progress) {
        sources::record(store, &blobs, &endpoint.host, &endpoint.repository);
        return Ok(Pulled {
            repo_digest,
            manifest: Digest::of(&manifest),
            config,
            layers,
            up_to_date: true,
        });
    }
    let work = store.temp_path("pull");
    let layout = Layout {
        dir: &work,
        manifest: &manifest,
        manifest_type: &manifest_type,
        described: &described,
    };
    let result = fetch_into_layout(store, endpoint, &layout, progress).and_then(
        |(config, layers, known)| {
            let up_to_date = store.blob_path(&Digest::of(&manifest)).is_file();
            let loaded = bld_oci::load_layout_dir(store, &work, &known)?;
            let image = loaded.first().ok_or_else(|| {
                RegistryError::Unsupported("the pulled layout holds no image".to_owned())
            })?;
            Ok(Pulled {
                repo_digest,
                manifest: image.manifest,
                config,
                layers,
                up_to_date,
            })
        },
    );
    let _ = fs::remove_dir_all(&work);
    if result.is_ok() {
        sources::record(store, &blobs, &endpoint.host, &endpoint.repository);
    }
    result
}

/// [`pull`], then records the image in the store, under its name unless `reference` names a
/// digest, and as `name@digest` of what the registry served (its `RepoDigests`); also returns whether that makes the name (or, by digest, the store) hold an image
/// it did not before (Docker's "Downloaded newer image").
pub fn pull_and_record(
    store: &Store,
    reference: &ImageReference,
    platform: Option<&Platform>,
    progress: &dyn Progress,
) -> Result<(Pulled, bool), RegistryError> {
    let pulled = pull(store, reference, platform, progress)?;
    let _lock = store.lock_index()?;
    store.add_image(&pulled.manifest)?;
    store.put_tag(
        &format!("{}@{}", reference.name, pulled.repo_digest),
        &pulled.manifest,
    )?;
    let newer = if reference.digest.is_some() {
        !pulled.up_to_date
    } else {
        let name = reference.to_string();
        let newer = store.get_tag(&name)? != Some(pulled.manifest);
        store.put_tag(&name, &pulled.manifest)?;
        newer
    };
    Ok((pulled, newer))
}

/// What the store records the registry served for the image `manifest` under `name` (a full
/// name without tag), if it was pulled or pushed: its `RepoDigests` entry's digest.
pub fn repo_digest(
    store: &Store,
    name: &str,
    manifest: &Digest,
) -> Result<Option<Digest>, RegistryError> {
    let prefix = format!("{name}@");
    Ok(store.tags()?.into_iter().find_map(|(reference, target)| {
        let digest = reference.strip_prefix(&prefix)?;
        (target == *manifest).then(|| digest.parse().ok()).flatten()
    }))
}

/// Whether a document served as `media_type` is an index (manifest list).
fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    media_type.contains("index") || media_type.contains("manifest.list") || {
        let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        value.get("manifests").is_some() && value.get("layers").is_none()
    }
}

/// The digest of the index's manifest for `platform`: its OS and architecture, and its
/// variant when `platform` names one (else the first of any variant, as containerd picks).
fn platform_manifest(
    endpoint: &Endpoint,
    index: &[u8],
    platform: &Platform,
) -> Result<Digest, RegistryError> {
    let value: Value = serde_json::from_slice(index)
        .map_err(|e| endpoint.mismatch("an index".to_owned(), format!("it is not JSON: {e}")))?;
    let manifests = value
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    manifests
        .iter()
        .find(|m| {
            let field = |k: &str| {
                m.get("platform")
                    .and_then(|p| p.get(k))
                    .and_then(Value::as_str)
            };
            field("os") == Some(&platform.os)
                && field("architecture") == Some(&platform.architecture)
                && platform
                    .variant
                    .as_deref()
                    .is_none_or(|v| field("variant") == Some(v))
        })
        .and_then(|m| m.get("digest").and_then(Value::as_str))
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| RegistryError::Registry {
            registry: endpoint.host.clone(),
            message: format!(
                "no matching manifest for {platform} in the manifest list entries of {}",
                endpoint.repository
            ),
        })
}

/// The config's and the layers' descriptors (digest, size) of `manifest`.
type Descriptors = ((Digest, u64), Vec<(Digest, u64)>);
/// An image's config, and each layer with whether the store already held it.
type Fetched = (Digest, Vec<(Digest, bool)>);
/// What a fetch wrote: [`Fetched`], and the layers downloaded (each checked against the
/// manifest as it streamed in) with the diff IDs the config claims for them.
type Written = (Digest, Vec<(Digest, bool)>, Vec<LayerBlob>);

fn descriptors(endpoint: &Endpoint, manifest: &[u8]) -> Result<Descriptors, RegistryError> {
    let value: Value = serde_json::from_slice(manifest)
        .map_err(|e| endpoint.mismatch("the manifest".to_owned(), format!("not JSON: {e}")))?;
    let descriptor = |d: &Value| -> Option<(Digest, u64)> {
        Some((
            d.get("digest")?.as_str()?.parse().ok()?,
            d.get("size")?.as_u64()?,
        ))
    };
    let bad = || {
        endpoint.mismatch(
            "the manifest".to_owned(),
            "a descriptor lacks a digest or size".to_owned(),
        )
    };
    let config = value.get("config").and_then(descriptor).ok_or_else(bad)?;
    let layers = value
        .get("layers")
        .and_then(Value::as_array)
        .map(|layers| layers.iter().map(descriptor).collect::<Option<Vec<_>>>())
        .ok_or_else(bad)?
        .ok_or_else(bad)?;
    Ok((config, layers))
}

/// The image `manifest` (whose blobs are `described`) when the store holds it and every blob
/// it names (checked when they were added): nothing to fetch or check again.
fn held_image(
    store: &Store,
    manifest: &[u8],
    described: &Descriptors,
    progress: &dyn Progress,
) -> Option<Fetched> {
    let (config, layers) = described;
    let held = |digest: &Digest| store.blob_path(digest).is_file();
    if !held(&Digest::of(manifest)) || !held(&config.0) || !layers.iter().all(|(d, _)| held(d)) {
        return None;
    }
    for (digest, _) in layers {
        progress.layer_done(digest, true);
    }
    Some((config.0, layers.iter().map(|(d, _)| (*d, true)).collect()))
}

/// The OCI layout a pull writes: its directory, and the manifest with its media type and
/// descriptors.
struct Layout<'a> {
    dir: &'a Path,
    manifest: &'a [u8],
    manifest_type: &'a str,
    described: &'a Descriptors,
}

/// Writes the layout (its manifest, config and layers, fetched or linked from the store when
/// it has them); returns the config and each layer with whether it was already held.
fn fetch_into_layout(
    store: &Store,
    endpoint: &Endpoint,
    layout: &Layout<'_>,
    progress: &dyn Progress,
) -> Result<Written, RegistryError> {
    use rayon::prelude::*;
    let (work, manifest, manifest_type) = (layout.dir, layout.manifest, layout.manifest_type);
    let (config, layers) = layout.described;
    let config = *config;
    let blobs = work.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(|e| write_error(&blobs, e))?;
    fetch_blob(store, endpoint, &blobs, config, &())?;
    // Each downloaded layer's diff ID is the config's claim, checked when the layer is first
    // unpacked (as containerd checks it): its blob was checked against the manifest here.
    let claimed = diff_ids(&blobs.join(config.0.hex()), layers.len());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(crate::config()?.downloads)
        .build()
        .map_err(|e| RegistryError::Unsupported(format!("cannot start downloads: {e}")))?;
    let fetched = pool.install(|| {
        layers
            .par_iter()
            .enumerate()
            .map(|(n, layer)| {
                let held = fetch_blob(store, endpoint, &blobs, *layer, progress)?;
                progress.layer_done(&layer.0, held);
                let known = claimed.as_ref().filter(|_| !held).map(|ids| LayerBlob {
                    digest: layer.0,
                    size: layer.1,
                    diff_id: ids[n],
                });
                Ok(((layer.0, held), known))
            })
            .collect::<Result<Vec<_>, RegistryError>>()
    })?;
    let (held, known): (Vec<_>, Vec<_>) = fetched.into_iter().unzip();
    let known = known.into_iter().flatten().collect();
    let manifest_digest = Digest::of(manifest);
    let path = blobs.join(manifest_digest.hex());
    fs::write(&path, manifest).map_err(|e| write_error(&path, e))?;
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": manifest_type,
            "digest": manifest_digest.to_string(),
            "size": manifest.len(),
        }],
    });
    let path = work.join("index.json");
    fs::write(&path, index.to_string()).map_err(|e| write_error(&path, e))?;
    fs::write(work.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(|e| write_error(work, e))?;
    Ok((config.0, held, known))
}

/// Puts the blob `(digest, size)` in `blobs`: linked from the store when it holds it (returns
/// `true`), else downloaded and checked while it streams.
fn fetch_blob(
    store: &Store,
    endpoint: &Endpoint,
    blobs: &Path,
    (digest, size): (Digest, u64),
    progress: &dyn Progress,
) -> Result<bool, RegistryError> {
    let dest = blobs.join(digest.hex());
    let held = store.blob_path(&digest);
    if held.is_file() && fs::hard_link(&held, &dest).is_ok() {
        return Ok(true);
    }
    let mut out = Sha256Writer::new(fs::File::create(&dest).map_err(|e| write_error(&dest, e))?);
    endpoint.blob(&digest, size, &mut out, &|done| {
        progress.layer_bytes(&digest, done, size);
    })?;
    out.flush().map_err(|e| write_error(&dest, e))?;
    let (_, actual, actual_size) = out.finish();
    if actual_size != size {
        return Err(endpoint.mismatch(
            format!("the blob {digest}"),
            format!("{actual_size} bytes where the manifest says {size}"),
        ));
    }
    if actual != digest {
        return Err(endpoint.mismatch(
            format!("the blob {digest}"),
            format!("its content is {actual}"),
        ));
    }
    Ok(false)
}

/// The diff IDs the config at `path` lists, if it is readable and lists one per layer.
fn diff_ids(path: &Path, layers: usize) -> Option<Vec<Digest>> {
    let config: Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    let ids = config.get("rootfs")?.get("diff_ids")?.as_array()?;
    let ids: Vec<Digest> = ids
        .iter()
        .map(|id| id.as_str()?.parse().ok())
        .collect::<Option<_>>()?;
    (ids.len() == layers).then_some(ids)
}

fn write_error(path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Store(StoreError::Io {
        action: "write",
        path: PathBuf::from(path),
        source,
    })
}
