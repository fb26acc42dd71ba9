//! `--cache-to` and `--cache-from` (buildx's flags): a build's action cache entries exported
//! as an OCI artifact, to a registry (`type=registry,ref=REG/REPO:TAG`) or a directory
//! (`type=local,dest=DIR`, an OCI image layout), and imported from them by a store that lacks
//! them, or held in the built image's config (`type=inline`).
//!
//! The artifact is one OCI image manifest (`artifactType` [`ARTIFACT_TYPE`]). Its config
//! (mediaType [`CONFIG_TYPE`]) is `{"actions": [{"key": "sha256:…", "output": …}, …]}`, the
//! action key and the record the action cache keeps for it, sorted by key: every action of
//! the build. Its layers are the blobs those records name (layers, files, image manifests and
//! configs), so a registry keeps them with it and a push can mount them: with `mode=max`
//! every one, with `mode=min` those of what the build was asked for (the images' layers,
//! configs and manifests). A record without its blobs still lets a store hit every action
//! up to the next whose blobs are there; what a step that runs needs of it is made there. An import reads the manifest and config
//! only; a blob is fetched when a hit needs it, and checked against its digest.
//!
//! With `--cache-to type=inline` the same table (`mode=min`, without the image's own entry)
//! goes into the built image's config at [`INLINE_KEY`]; `--cache-from type=registry,ref=IMAGE`
//! reads it from there, and the image's layers are its blobs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bld_core::{Digest, ImageReference};
use bld_exec::{ActionOutput, CacheEntry, CacheMode, RemoteCache};
use bld_store::Store;
use serde_json::{Value, json};

use crate::Failure;

mod import;
use import::{Imported, descriptors, import};

/// The cache artifact's type.
const ARTIFACT_TYPE: &str = "application/vnd.bld.cache.v1+json";
/// Its config's media type.
const CONFIG_TYPE: &str = "application/vnd.bld.cache.config.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Where an image's config holds its inline cache (the table of the artifact's config).
const INLINE_KEY: &str = "bld.cache.v1";

/// Where a cache goes or comes from.
#[derive(Debug, Clone)]
pub(crate) enum CacheLocation {
    /// A registry's repository and tag.
    Registry(ImageReference),
    /// An OCI image layout directory.
    Local(PathBuf),
    /// The built image's own config (`--cache-to type=inline`; read back with
    /// `--cache-from type=registry,ref=IMAGE`).
    Inline,
}

impl std::fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheLocation::Registry(reference) => write!(f, "{reference}"),
            CacheLocation::Local(dir) => write!(f, "{}", dir.display()),
            CacheLocation::Inline => f.write_str("type=inline"),
        }
    }
}

/// A `--cache-to`.
#[derive(Debug, Clone)]
pub(crate) struct CacheTo {
    pub(crate) location: CacheLocation,
    pub(crate) mode: CacheMode,
}

impl CacheTo {
    /// `type=inline`: the cache goes into the built image.
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self.location, CacheLocation::Inline)
    }
}

/// `type=registry,ref=…` / `type=local,dest=…|src=…` / a bare reference, with `mode=` for
/// `--cache-to`.
fn parse(text: &str, flag: &str) -> Result<(CacheLocation, CacheMode), Failure> {
    let bad = |why: String| Failure::user(format!("invalid {flag} `{text}`: {why}"));
    if !text.contains('=') {
        let reference = ImageReference::parse(text).map_err(|e| bad(e.to_string()))?;
        return Ok((CacheLocation::Registry(reference), CacheMode::Min));
    }
    let mut fields = HashMap::new();
    for field in text.split(',') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| bad(format!("`{field}` is not KEY=VALUE")))?;
        fields.insert(key, value);
    }
    let mode = match fields.get("mode").copied() {
        None | Some("min") => CacheMode::Min,
        Some("max") => CacheMode::Max,
        Some(other) => return Err(bad(format!("mode `{other}` is not min or max"))),
    };
    let location = match fields.get("type").copied() {
        Some("registry") => {
            let reference = fields
                .get("ref")
                .ok_or_else(|| bad("type=registry needs ref=REGISTRY/REPOSITORY:TAG".into()))?;
            CacheLocation::Registry(
                ImageReference::parse(reference).map_err(|e| bad(e.to_string()))?,
            )
        }
        Some("local") => {
            let key = if flag == "--cache-to" { "dest" } else { "src" };
            let dir = fields
                .get(key)
                .ok_or_else(|| bad(format!("type=local needs {key}=DIR")))?;
            CacheLocation::Local(PathBuf::from(dir))
        }
        Some("inline") if flag == "--cache-to" && mode == CacheMode::Max => {
            return Err(bad(
                "type=inline exports mode=min only (the image holds what it is made of): use type=registry for mode=max".into(),
            ));
        }
        Some("inline") if flag == "--cache-to" => CacheLocation::Inline,
        Some("inline") => {
            return Err(bad(
                "an inline cache is read from its image: --cache-from type=registry,ref=IMAGE"
                    .into(),
            ));
        }
        Some(other @ ("gha" | "s3" | "azblob")) => {
            return Err(bad(format!(
                "cache type `{other}` is not supported yet: use type=registry or type=local"
            )));
        }
        Some(other) => return Err(bad(format!("unknown cache type `{other}`"))),
        None => return Err(bad("type= is needed (registry or local)".into())),
    };
    Ok((location, mode))
}

/// `--cache-to` values.
pub(crate) fn parse_cache_to(texts: &[String]) -> Result<Vec<CacheTo>, Failure> {
    texts
        .iter()
        .map(|text| parse(text, "--cache-to").map(|(location, mode)| CacheTo { location, mode }))
        .collect()
}

/// Refuses `type=inline` for a workspace build: the inline cache goes into a Dockerfile
/// build's one image.
pub(crate) fn workspace_exports(to: &[CacheTo]) -> Result<(), Failure> {
    if to.iter().any(CacheTo::is_inline) {
        return Err(Failure::user(
            "--cache-to type=inline puts the cache in a Dockerfile build's image (`bld build -t REF --push --cache-to type=inline DIR`); a workspace build exports with type=registry or type=local",
        ));
    }
    Ok(())
}

/// `--cache-from` values.
pub(crate) fn parse_cache_from(texts: &[String]) -> Result<Vec<CacheLocation>, Failure> {
    texts
        .iter()
        .map(|text| parse(text, "--cache-from").map(|(location, _)| location))
        .collect()
}

/// The media type a blob of `output` is listed with.
fn media_type(output: &ActionOutput, digest: &Digest) -> &'static str {
    match output {
        ActionOutput::Layer { .. } => "application/vnd.oci.image.layer.v1.tar+gzip",
        ActionOutput::Image { manifest, .. } if manifest == digest => OCI_MANIFEST,
        ActionOutput::Image { .. } => "application/vnd.oci.image.config.v1+json",
        ActionOutput::File { .. } => "application/octet-stream",
    }
}

/// `{"actions": [{"key": …, "output": …}, …]}`: a cache's table of `entries`.
fn table(entries: &[CacheEntry]) -> Value {
    let actions: Vec<Value> = entries
        .iter()
        .map(|entry| json!({"key": entry.key.to_string(), "output": entry.output}))
        .collect();
    json!({ "actions": actions })
}

/// The manifest and config of the image the action `image` made; with `--cache-to
/// type=inline` among `to`, of that image with its `mode=min` cache entries in its config at
/// [`INLINE_KEY`] (the records of the actions that led to it; the layers it holds are their
/// blobs), written to the store. Its own entry is left out: an image cannot hold its own
/// digest, and assembling it is quick.
pub(crate) fn with_inline_cache(
    store: &Store,
    graph: &bld_graph::ActionGraph,
    report: &bld_exec::ExecReport,
    image: bld_graph::ActionId,
    to: &[CacheTo],
) -> Result<(Digest, Digest), Failure> {
    let own = report.outputs[image.index()];
    let Some(ActionOutput::Image {
        manifest, config, ..
    }) = own
    else {
        return Err(Failure::internal("internal: the build made no image"));
    };
    if !to.iter().any(CacheTo::is_inline) {
        return Ok((manifest, config));
    }
    let mut entries = bld_exec::cache_entries(store, graph, report, &[image], CacheMode::Min);
    entries.retain(|entry| Some(entry.output) != own);
    let blobs = bld_oci::with_config_entry(store, &manifest, INLINE_KEY, table(&entries))?;
    Ok((blobs.manifest, blobs.config))
}

/// Writes the cache artifact of `entries` into the store; its manifest's digest.
fn write_artifact(store: &Store, entries: &[CacheEntry]) -> Result<Digest, Failure> {
    let config =
        serde_json::to_vec(&table(entries)).map_err(|e| Failure::internal(e.to_string()))?;
    let (config_digest, config_size) = store.put_bytes(&config)?;
    let mut layers: Vec<(Digest, Value)> = Vec::new();
    for CacheEntry { output, .. } in entries.iter().filter(|entry| entry.with_blobs) {
        for digest in output.owned_blobs() {
            let size = std::fs::metadata(store.blob_path(&digest))
                .map_err(|e| Failure::internal(format!("the cache's blob {digest}: {e}")))?
                .len();
            layers.push((
                digest,
                json!({"mediaType": media_type(output, &digest), "digest": digest.to_string(), "size": size}),
            ));
        }
    }
    layers.sort_by_key(|(digest, _)| *digest);
    layers.dedup_by_key(|(digest, _)| *digest);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest.to_string(), "size": config_size},
        "layers": layers.into_iter().map(|(_, layer)| layer).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Failure::internal(e.to_string()))?;
    Ok(store.put_bytes(&bytes)?.0)
}

/// Exports the build's cache entries to each `--cache-to`; one that fails is warned of (the
/// build has succeeded). A remote hit's blobs that no step here needed are fetched from
/// `remote` now (so a cache exported from a build that used one holds as much); an entry whose
/// blobs it no longer gives goes as a record only.
pub(crate) fn export(
    store: &Store,
    graph: &bld_graph::ActionGraph,
    report: &bld_exec::ExecReport,
    wanted: &[bld_graph::ActionId],
    to: &[CacheTo],
    remote: Option<&dyn RemoteCache>,
) {
    for target in to.iter().filter(|t| !t.is_inline()) {
        let mut entries = bld_exec::cache_entries(store, graph, report, wanted, target.mode);
        for entry in entries.iter_mut().filter(|entry| entry.with_blobs) {
            entry.with_blobs = entry.output.owned_blobs().iter().all(|digest| {
                store.blob_path(digest).is_file()
                    || remote.is_some_and(|r| bld_exec::fetch_checked(store, r, digest).is_ok())
            });
        }
        let exported =
            write_artifact(store, &entries).and_then(|manifest| match &target.location {
                CacheLocation::Registry(reference) => {
                    bld_registry::push_artifact(store, &manifest, reference)
                        .map(|_| ())
                        .map_err(Failure::from)
                }
                CacheLocation::Local(dir) => write_layout(store, &manifest, dir),
                // Written into the image by `embed_inline`.
                CacheLocation::Inline => Ok(()),
            });
        if let Err(failure) = exported {
            let why = failure.render();
            let why = why.trim().trim_start_matches("error: ");
            eprintln!(
                "warning: --cache-to {}: {why}; the cache was not exported",
                target.location
            );
        }
    }
}

/// Writes the artifact `manifest` and every blob it names as an OCI image layout at `dir`
/// (its `index.json` last, naming it `latest`).
fn write_layout(store: &Store, manifest: &Digest, dir: &Path) -> Result<(), Failure> {
    let failed = |e: std::io::Error| {
        Failure::user(format!("cannot write the cache at {}: {e}", dir.display()))
    };
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(failed)?;
    let bytes = store.read_blob(manifest)?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| Failure::internal(e.to_string()))?;
    let mut digests = vec![*manifest];
    digests.extend(descriptors(&value).into_iter().map(|(digest, _)| digest));
    for digest in digests {
        let dest = blobs.join(digest.hex());
        if dest.is_file() {
            continue;
        }
        let temp = blobs.join(format!(".{}.tmp", digest.hex()));
        std::fs::hard_link(store.blob_path(&digest), &temp)
            .or_else(|_| std::fs::copy(store.blob_path(&digest), &temp).map(|_| ()))
            .map_err(failed)?;
        std::fs::rename(&temp, &dest).map_err(failed)?;
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(failed)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "digest": manifest.to_string(),
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    let temp = dir.join(".index.json.tmp");
    std::fs::write(&temp, index.to_string()).map_err(failed)?;
    std::fs::rename(&temp, dir.join("index.json")).map_err(failed)
}

/// The remote caches of a build: the REAPI server (`--remote-cache`) and the imported caches
/// (`--cache-from`), asked in that order.
pub(crate) struct Remotes {
    reapi: Option<super::reapi::RemoteReapi>,
    imported: Option<Imported>,
}

impl Remotes {
    /// Connects to and reads what the settings name (each that fails is warned of and left out).
    pub(crate) fn open(settings: &super::BuildSettings) -> Remotes {
        Remotes {
            reapi: super::reapi::RemoteReapi::connect(&settings.remote),
            imported: import(&settings.cache_from),
        }
    }

    /// Waits for the uploads, and records where the blobs fetched from registries came from.
    pub(crate) fn finish_build(&self, store: &Store) {
        RemoteCache::finish(self);
        if let Some(imported) = &self.imported {
            imported.record_holders(store);
        }
    }

    /// The executor's remote cache, when there is any.
    pub(crate) fn cache(&self) -> Option<&dyn RemoteCache> {
        (self.reapi.is_some() || self.imported.is_some()).then_some(self as &dyn RemoteCache)
    }
}

impl RemoteCache for Remotes {
    fn lookup(&self, key: &Digest) -> Option<Vec<u8>> {
        self.reapi
            .as_ref()
            .and_then(|r| r.lookup(key))
            .or_else(|| self.imported.as_ref()?.lookup(key))
    }

    fn fetch(&self, digest: &Digest, out: &mut dyn std::io::Write) -> Result<(), String> {
        // Each says it does not have a blob before writing anything of it.
        let caches = [
            self.reapi.as_ref().map(|r| r as &dyn RemoteCache),
            self.imported.as_ref().map(|i| i as &dyn RemoteCache),
        ];
        let mut why = "no remote cache".to_owned();
        for cache in caches.into_iter().flatten() {
            match cache.fetch(digest, out) {
                Ok(()) => return Ok(()),
                Err(e) => why = e,
            }
        }
        Err(why)
    }

    fn carries(&self, digest: &Digest) -> bool {
        // A REAPI server's CAS is asked (it says nothing beforehand).
        self.reapi.is_some() || self.imported.as_ref().is_some_and(|i| i.carries(digest))
    }

    fn store_result(&self, key: &Digest, output: &ActionOutput, store: &Store) {
        if let Some(reapi) = &self.reapi {
            reapi.store_result(key, output, store);
        }
    }

    fn finish(&self) {
        if let Some(reapi) = &self.reapi {
            reapi.finish();
        }
    }
}
