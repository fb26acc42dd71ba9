//! Loading an archive that is an OCI image layout (`index.json`): bld's own saves, Docker 25+
//! `docker save`, `skopeo copy … oci-archive:`, `buildah push … oci-archive:`.
//!
//! Manifests are kept byte for byte, so images keep their manifest digests.

use std::path::PathBuf;

use bld_core::{Digest, host_platform};
use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageManifest, MediaType};

use super::extract::{Extracted, read_document};
use super::load::{
    Compression, Plan, VerifiedLayer, add_names, check_diff_id, hash_layer, parse_config,
    size_mismatch, sniff_compression, unsupported_layer_compression, verify_blob,
};
use super::{CONTAINERD_NAME, LoadedImage, bad_archive, descriptor_digest, layout_blob_path};
use crate::OciError;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Indexes nested in indexes followed, at most.
const MAX_INDEX_DEPTH: usize = 4;

/// What an index entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Manifest,
    Index,
}

fn target(media_type: &MediaType) -> Option<Target> {
    match media_type {
        MediaType::ImageManifest => Some(Target::Manifest),
        MediaType::ImageIndex => Some(Target::Index),
        MediaType::Other(other) if other == DOCKER_MANIFEST => Some(Target::Manifest),
        MediaType::Other(other) if other == DOCKER_MANIFEST_LIST => Some(Target::Index),
        _ => None,
    }
}

/// Verifies every image `index.json` lists and adds its blobs to `plan`.
pub(super) fn plan_images(tree: &Extracted, plan: &mut Plan) -> Result<Vec<LoadedImage>, OciError> {
    let bytes = tree.read_document("index.json", "the archive")?;
    let index = ImageIndex::from_reader(bytes.as_slice())
        .map_err(|e| bad_archive(format!("`index.json` is not an OCI image index: {e}")))?;
    let repo_tags = if tree.has_file("manifest.json") {
        super::load_docker::repo_tags(tree)?
    } else {
        Vec::new()
    };
    let mut images: Vec<LoadedImage> = Vec::new();
    for descriptor in index.manifests() {
        let annotations = descriptor.annotations().as_ref();
        let name = annotations
            .and_then(|a| {
                a.get(CONTAINERD_NAME)
                    .or_else(|| a.get(ANNOTATION_REF_NAME))
            })
            .cloned();
        let (manifest_digest, manifest_file, manifest) =
            select_manifest(tree, descriptor, "`index.json`", 0)?;
        if let Some(image) = images.iter_mut().find(|i| i.manifest == manifest_digest) {
            add_names(&mut image.names, name);
            continue;
        }
        let config = plan_image(tree, plan, &manifest_digest, &manifest)?;
        // Kept byte for byte, after everything it refers to.
        plan.add_file(manifest_digest, manifest_file);
        images.push(LoadedImage {
            manifest: manifest_digest,
            config,
            names: name.into_iter().collect(),
        });
    }
    // manifest.json's RepoTags, where it lists the image's config, win over annotations.
    for image in &mut images {
        let mut listed = repo_tags
            .iter()
            .filter(|(config, _)| *config == image.config)
            .peekable();
        if listed.peek().is_some() {
            image.names.clear();
            add_names(&mut image.names, listed.flat_map(|(_, tags)| tags.clone()));
        }
    }
    Ok(images)
}

/// The image manifest `descriptor` (of `referrer`) stands for: itself, or in an index the
/// entry for the host's platform: its digest, file and content.
fn select_manifest(
    tree: &Extracted,
    descriptor: &Descriptor,
    referrer: &str,
    depth: usize,
) -> Result<(Digest, PathBuf, ImageManifest), OciError> {
    let digest = descriptor_digest(descriptor)
        .map_err(|e| bad_archive(format!("{referrer} lists a manifest whose {e}")))?;
    let path = layout_blob_path(&digest);
    let physical = tree.locate(&path, referrer)?;
    verify_blob(&physical, &path, &digest, descriptor.size(), referrer)?;
    let bytes = read_document(&physical, &path)?;
    match target(descriptor.media_type()) {
        Some(Target::Manifest) => {
            let manifest = ImageManifest::from_reader(bytes.as_slice()).map_err(|e| {
                bad_archive(format!("manifest `{path}` is not an image manifest: {e}"))
            })?;
            Ok((digest, physical, manifest))
        }
        Some(Target::Index) if depth < MAX_INDEX_DEPTH => {
            let index = ImageIndex::from_reader(bytes.as_slice())
                .map_err(|e| bad_archive(format!("index `{path}` is not an image index: {e}")))?;
            let (os, architecture) = host_platform();
            let for_host = index.manifests().iter().find(|d| {
                target(d.media_type()).is_some()
                    && d.platform().as_ref().is_some_and(|p| {
                        p.os().to_string() == os && p.architecture().to_string() == architecture
                    })
            });
            let Some(for_host) = for_host else {
                let platforms: Vec<String> = index
                    .manifests()
                    .iter()
                    .filter_map(|d| d.platform().as_ref())
                    .map(|p| format!("{}/{}", p.os(), p.architecture()))
                    .collect();
                return Err(bad_archive(format!(
                    "index `{path}` has no image for {os}/{architecture} (it has {})",
                    if platforms.is_empty() {
                        "no platform-specific entries".to_owned()
                    } else {
                        platforms.join(", ")
                    }
                )));
            };
            select_manifest(tree, for_host, &format!("index `{path}`"), depth + 1)
        }
        Some(Target::Index) => Err(bad_archive(format!(
            "index `{path}` is nested more than {MAX_INDEX_DEPTH} deep"
        ))),
        None => Err(bad_archive(format!(
            "{referrer} lists `{digest}` with media type `{}`, which is neither an image \
             manifest nor an image index",
            descriptor.media_type()
        ))),
    }
}

/// The compression a layer's media type declares; zstd and unknown types are refused.
fn declared_compression(media_type: &MediaType, path: &str) -> Result<Compression, OciError> {
    let text = media_type.to_string();
    match text.as_str() {
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Ok(Compression::None),
        zstd if zstd.contains("zstd") => Err(unsupported_layer_compression(path, "zstd")),
        other => Err(bad_archive(format!(
            "layer `{path}` has media type `{other}`, which is not an image layer bld can load"
        ))),
    }
}

/// Verifies the config and layers of `manifest` and adds them to `plan`; returns the config's
/// digest.
fn plan_image(
    tree: &Extracted,
    plan: &mut Plan,
    manifest_digest: &Digest,
    manifest: &ImageManifest,
) -> Result<Digest, OciError> {
    let manifest_path = layout_blob_path(manifest_digest);
    let referrer = format!("manifest `{manifest_path}`");
    let config_digest = descriptor_digest(manifest.config())
        .map_err(|e| bad_archive(format!("{referrer} has a config whose {e}")))?;
    let config_path = layout_blob_path(&config_digest);
    let config_file = tree.locate(&config_path, &referrer)?;
    verify_blob(
        &config_file,
        &config_path,
        &config_digest,
        manifest.config().size(),
        &referrer,
    )?;
    let (_, diff_ids) = parse_config(&read_document(&config_file, &config_path)?, &config_path)?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(bad_archive(format!(
            "{referrer} has {} layers, but its config `{config_path}` lists {} diff IDs",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    // Each layer not verified yet is a decompress and two hashes: they run in parallel, and
    // the first failure in the manifest's order is the one reported.
    let mut layers = Vec::with_capacity(diff_ids.len());
    let mut pending: Vec<(Digest, String, Compression, PathBuf)> = Vec::new();
    for layer in manifest.layers() {
        let digest = descriptor_digest(layer)
            .map_err(|e| bad_archive(format!("{referrer} has a layer whose {e}")))?;
        let path = layout_blob_path(&digest);
        layers.push((digest, path.clone()));
        if plan.layers.contains_key(&digest) || pending.iter().any(|(d, ..)| *d == digest) {
            continue;
        }
        let declared = declared_compression(layer.media_type(), &path)?;
        let physical = tree.locate(&path, &referrer)?;
        let on_disk = std::fs::metadata(&physical).map(|m| m.len()).unwrap_or(0);
        if on_disk != layer.size() {
            return Err(size_mismatch(&path, on_disk, layer.size(), &referrer));
        }
        let actual = sniff_compression(&physical, &path)?;
        if declared == Compression::Gzip && actual != Compression::Gzip {
            return Err(bad_archive(format!(
                "layer `{path}` has media type `{}`, but is not gzip-compressed",
                layer.media_type()
            )));
        }
        if let Some(known) = plan.known.get(&digest).copied() {
            plan.layers.insert(digest, known);
            plan.add_file(digest, physical);
            continue;
        }
        pending.push((digest, path, declared, physical));
    }
    let hashed: Vec<Result<VerifiedLayer, OciError>> = {
        use rayon::prelude::*;
        pending
            .par_iter()
            .map(|(digest, path, declared, physical)| {
                hash_layer(physical, path, *declared, Some((digest, &referrer)))
            })
            .collect()
    };
    for ((digest, _, _, physical), verified) in pending.into_iter().zip(hashed) {
        plan.layers.insert(digest, verified?);
        plan.add_file(digest, physical);
    }
    for ((digest, path), diff_id) in layers.iter().zip(&diff_ids) {
        check_diff_id(&plan.layers[digest], diff_id, path, &config_path)?;
    }
    plan.add_file(config_digest, config_file);
    Ok(config_digest)
}
