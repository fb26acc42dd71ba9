//! Reading the caches `--cache-from` names: a bld cache artifact (from a registry or an OCI
//! layout directory) or an image holding an inline cache. Only the manifest and config are read
//! up front; a blob is read when a hit needs it.

use std::collections::HashMap;
use std::path::PathBuf;

use bld_core::Digest;
use bld_exec::RemoteCache;
use bld_store::Store;
use serde_json::Value;

use super::{ARTIFACT_TYPE, CONFIG_TYPE, CacheLocation, INLINE_KEY};

/// The config and layer descriptors of a manifest: `(digest, size)` each.
pub(super) fn descriptors(manifest: &Value) -> Vec<(Digest, u64)> {
    let one = |d: &Value| {
        Some((
            d.get("digest")?.as_str()?.parse().ok()?,
            d.get("size")?.as_u64()?,
        ))
    };
    let mut out: Vec<(Digest, u64)> = manifest.get("config").and_then(one).into_iter().collect();
    if let Some(layers) = manifest.get("layers").and_then(Value::as_array) {
        out.extend(layers.iter().filter_map(one));
    }
    out
}

/// Where an imported cache's blobs are read from.
enum BlobSource {
    Registry(Box<bld_registry::Endpoint>),
    Local(PathBuf),
}

impl BlobSource {
    /// Writes the blob `digest` (of `size` bytes; at most one byte more is read) to `out`.
    fn read(&self, digest: &Digest, size: u64, out: &mut dyn std::io::Write) -> Result<(), String> {
        match self {
            BlobSource::Registry(endpoint) => endpoint
                .blob(digest, size, out, &|_| {})
                .map_err(|e| e.to_string()),
            BlobSource::Local(dir) => {
                let path = dir.join("blobs/sha256").join(digest.hex());
                let file =
                    std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                std::io::copy(&mut std::io::Read::take(file, size + 1), out)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The caches `--cache-from` named, read: their entries, and their blobs by digest (with
/// their sizes and which cache has them).
pub(crate) struct Imported {
    entries: HashMap<Digest, Vec<u8>>,
    blobs: HashMap<Digest, (u64, usize)>,
    sources: Vec<BlobSource>,
    /// The blobs fetched, and from which source.
    fetched: std::sync::Mutex<Vec<(Digest, usize)>>,
}

impl Imported {
    /// Records which registry repository each blob fetched from a registry came from, so a
    /// push to that registry mounts it (`bld build --push`, a later `bld push`).
    pub(super) fn record_holders(&self, store: &Store) {
        let fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
        for (index, source) in self.sources.iter().enumerate() {
            if let BlobSource::Registry(endpoint) = source {
                let digests: Vec<Digest> = fetched
                    .iter()
                    .filter(|(_, from)| *from == index)
                    .map(|(digest, _)| *digest)
                    .collect();
                bld_registry::record_holder(store, &digests, endpoint);
            }
        }
    }
}

impl RemoteCache for Imported {
    fn lookup(&self, key: &Digest) -> Option<Vec<u8>> {
        self.entries.get(key).cloned()
    }

    fn fetch(&self, digest: &Digest, out: &mut dyn std::io::Write) -> Result<(), String> {
        let (size, source) = self
            .blobs
            .get(digest)
            .ok_or_else(|| "the cache does not list it".to_owned())?;
        self.sources[*source].read(digest, *size, out)?;
        self.fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((*digest, *source));
        Ok(())
    }

    fn carries(&self, digest: &Digest) -> bool {
        self.blobs.contains_key(digest)
    }
}

/// A cache read from where it is.
struct ReadCache {
    /// Where its blobs are.
    source: BlobSource,
    /// Its entries: action keys and records.
    entries: Vec<(Digest, Vec<u8>)>,
    /// Its manifest's config and layers: `(digest, size)` each.
    blobs: Vec<(Digest, u64)>,
}

/// Reads a cache's manifest and config from `location`.
fn read_cache(location: &CacheLocation) -> Result<ReadCache, String> {
    let (source, manifest) = match location {
        CacheLocation::Registry(reference) => {
            let endpoint = bld_registry::Endpoint::of(reference).map_err(|e| e.to_string())?;
            let tag = reference.tag.clone().unwrap_or_else(|| "latest".to_owned());
            let (bytes, _) = endpoint.manifest(&tag).map_err(|e| e.to_string())?;
            (BlobSource::Registry(Box::new(endpoint)), bytes)
        }
        CacheLocation::Local(dir) => {
            let index: Value = serde_json::from_slice(
                &std::fs::read(dir.join("index.json"))
                    .map_err(|e| format!("{}: {e}", dir.display()))?,
            )
            .map_err(|e| format!("{}/index.json: {e}", dir.display()))?;
            let digest: Digest = index["manifests"][0]["digest"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| format!("{}/index.json names no manifest", dir.display()))?;
            let bytes = std::fs::read(dir.join("blobs/sha256").join(digest.hex()))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            if Digest::of(&bytes) != digest {
                return Err(format!(
                    "{}: the manifest does not match its digest",
                    dir.display()
                ));
            }
            (BlobSource::Local(dir.clone()), bytes)
        }
        CacheLocation::Inline => return Err("an inline cache is read from its image".to_owned()),
    };
    let manifest: Value =
        serde_json::from_slice(&manifest).map_err(|e| format!("the cache manifest: {e}"))?;
    let artifact =
        manifest["artifactType"] == ARTIFACT_TYPE || manifest["config"]["mediaType"] == CONFIG_TYPE;
    let image = [
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    ]
    .iter()
    .any(|t| manifest["config"]["mediaType"] == *t);
    if !artifact && !image {
        return Err("it is neither a bld cache nor an image".to_owned());
    }
    let (config_digest, config_size) = descriptors(&manifest)
        .first()
        .copied()
        .ok_or_else(|| "the cache manifest has no config".to_owned())?;
    let mut config = Vec::new();
    source.read(&config_digest, config_size, &mut config)?;
    if Digest::of(&config) != config_digest {
        return Err("the cache's config does not match its digest".to_owned());
    }
    let mut config: Value =
        serde_json::from_slice(&config).map_err(|e| format!("the cache's config: {e}"))?;
    if !artifact {
        config = config
            .get_mut(INLINE_KEY)
            .map(Value::take)
            .ok_or("the image holds no cache (it was built without --cache-to type=inline)")?;
    }
    let entries = config["actions"]
        .as_array()
        .map(|actions| {
            actions
                .iter()
                .filter_map(|a| {
                    let key: Digest = a["key"].as_str()?.parse().ok()?;
                    Some((key, serde_json::to_vec(&a["output"]).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ReadCache {
        source,
        entries,
        blobs: descriptors(&manifest),
    })
}

/// Reads the caches `from` names; one that cannot be read is passed over with a warning (the
/// build goes on without it). `None` when none could be read.
pub(crate) fn import(from: &[CacheLocation]) -> Option<Imported> {
    let mut imported = Imported {
        entries: HashMap::new(),
        blobs: HashMap::new(),
        sources: Vec::new(),
        fetched: std::sync::Mutex::default(),
    };
    for location in from {
        match read_cache(location) {
            Ok(read) => {
                let index = imported.sources.len();
                imported.sources.push(read.source);
                for (key, record) in read.entries {
                    imported.entries.entry(key).or_insert(record);
                }
                for (digest, size) in read.blobs {
                    imported.blobs.entry(digest).or_insert((size, index));
                }
            }
            Err(why) => {
                eprintln!("warning: --cache-from {location}: {why}; not used");
            }
        }
    }
    (!imported.sources.is_empty()).then_some(imported)
}
