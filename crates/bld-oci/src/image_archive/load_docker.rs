//! Loading a docker-archive (`manifest.json` only): `docker save` before Docker 25,
//! `skopeo copy … docker-archive:`, `podman save`.
//!
//! Configs are kept byte for byte (the IMAGE ID is the config's digest); layers are kept when
//! gzip-compressed and gzipped as bld does when not; bld writes an OCI manifest for each.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bld_core::Digest;
use oci_spec::image::{Descriptor, MediaType};
use serde::Deserialize;

use super::extract::{Extracted, read_document};
use super::load::{
    Compression, Plan, VerifiedLayer, add_names, check_diff_id, digest_mismatch, gzip_layer,
    hash_layer, parse_config, sniff_compression,
};
use super::{LoadedImage, bad_archive};
use crate::image::{oci_digest, oci_manifest};
use crate::{OciError, canonical_json};

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

const REFERRER: &str = "`manifest.json`";

fn read_manifest_json(tree: &Extracted) -> Result<Vec<ManifestEntry>, OciError> {
    let bytes = tree.read_document("manifest.json", "the archive")?;
    serde_json::from_slice(&bytes).map_err(|e| {
        bad_archive(format!(
            "`manifest.json` is not a list of {{\"Config\", \"RepoTags\", \"Layers\"}} \
             entries: {e}"
        ))
    })
}

/// The digest a path names its content by: `blobs/sha256/<hex>`, or `<hex>.json` (a config
/// in a docker-archive).
fn named_digest(path: &str) -> Option<Digest> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    match parts.as_slice() {
        ["blobs", "sha256", hex] => Digest::from_hex(hex).ok(),
        [name] => Digest::from_hex(name.strip_suffix(".json")?).ok(),
        _ => None,
    }
}

/// `manifest.json`'s `RepoTags`, by the digest of each entry's config.
pub(super) fn repo_tags(tree: &Extracted) -> Result<Vec<(Digest, Vec<String>)>, OciError> {
    read_manifest_json(tree)?
        .into_iter()
        .map(|entry| {
            let config = Digest::of(&tree.read_document(&entry.config, REFERRER)?);
            Ok((config, entry.repo_tags.unwrap_or_default()))
        })
        .collect()
}

/// Verifies every image `manifest.json` lists, converts its layers and writes its OCI
/// manifest, all into `plan`.
pub(super) fn plan_images(tree: &Extracted, plan: &mut Plan) -> Result<Vec<LoadedImage>, OciError> {
    // Layer files read so far (several images, or one image twice, may share one).
    let mut layer_files: HashMap<PathBuf, VerifiedLayer> = HashMap::new();
    let mut images: Vec<LoadedImage> = Vec::new();
    for entry in read_manifest_json(tree)? {
        let config_file = tree.locate(&entry.config, REFERRER)?;
        let config_bytes = read_document(&config_file, &entry.config)?;
        let config_digest = Digest::of(&config_bytes);
        if let Some(named) = named_digest(&entry.config)
            && named != config_digest
        {
            return Err(digest_mismatch(
                &entry.config,
                &config_digest,
                &named,
                "its name",
            ));
        }
        let (_, diff_ids) = parse_config(&config_bytes, &entry.config)?;
        if diff_ids.len() != entry.layers.len() {
            return Err(bad_archive(format!(
                "`manifest.json` lists {} layers for config `{}`, which lists {} diff IDs",
                entry.layers.len(),
                entry.config,
                diff_ids.len()
            )));
        }
        let mut layers = Vec::with_capacity(entry.layers.len());
        for (path, diff_id) in entry.layers.iter().zip(&diff_ids) {
            let physical = tree.locate(path, REFERRER)?;
            let verified = match layer_files.get(&physical) {
                Some(verified) => *verified,
                None => {
                    let verified = plan_layer(plan, &physical, path)?;
                    layer_files.insert(physical, verified);
                    verified
                }
            };
            check_diff_id(&verified, diff_id, path, &entry.config)?;
            layers.push(Descriptor::new(
                MediaType::ImageLayerGzip,
                verified.size,
                oci_digest(&verified.digest),
            ));
        }
        plan.add_file(config_digest, config_file);
        let manifest = oci_manifest(config_bytes.len() as u64, &config_digest, layers);
        let (manifest_digest, _) = plan.add_bytes(canonical_json(&manifest));
        let names = entry.repo_tags.unwrap_or_default();
        match images.iter_mut().find(|i| i.manifest == manifest_digest) {
            Some(image) => add_names(&mut image.names, names),
            None => {
                let mut image = LoadedImage {
                    manifest: manifest_digest,
                    config: config_digest,
                    names: Vec::new(),
                };
                add_names(&mut image.names, names);
                images.push(image);
            }
        }
    }
    Ok(images)
}

/// Verifies the layer file `physical` (the archive's `path`) and adds it to `plan`: as it is
/// when gzip-compressed, gzipped as bld does when not.
fn plan_layer(plan: &mut Plan, physical: &Path, path: &str) -> Result<VerifiedLayer, OciError> {
    match sniff_compression(physical, path)? {
        Compression::Gzip => {
            let named = named_digest(path);
            let expected = named.as_ref().map(|named| (named, "its name"));
            let verified = hash_layer(physical, path, Compression::Gzip, expected)?;
            plan.add_file(verified.digest, physical.to_owned());
            Ok(verified)
        }
        Compression::None => {
            let gzipped = plan.new_file();
            let verified = gzip_layer(physical, &gzipped)?;
            check_named(path, &verified.diff_id)?;
            plan.add_file(verified.digest, gzipped);
            Ok(verified)
        }
    }
}

/// Refuses a layer file named `blobs/sha256/<hex>` whose content is not that.
fn check_named(path: &str, content: &Digest) -> Result<(), OciError> {
    match named_digest(path) {
        Some(named) if named != *content => Err(digest_mismatch(path, content, &named, "its name")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addressed_paths_name_their_digest() {
        let hex = "ab".repeat(32);
        let digest = Digest::from_hex(&hex).ok();
        assert_eq!(named_digest(&format!("blobs/sha256/{hex}")), digest);
        assert_eq!(named_digest(&format!("./blobs/sha256/{hex}")), digest);
        assert_eq!(named_digest(&format!("{hex}.json")), digest);
        assert_eq!(named_digest(&format!("{hex}/layer.tar")), None);
        assert_eq!(named_digest("blobs/sha512/ab"), None);
    }
}
