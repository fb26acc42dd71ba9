//! Writing images of the store as one deterministic tar.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Read, Write};

use bld_core::Digest;
use bld_store::{Store, StoreError};
use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, ImageIndexBuilder, MediaType, OciLayoutBuilder,
};
use serde_json::json;

use super::{ArchiveFormat, CONTAINERD_NAME, SavedImage, descriptor_digest, layout_blob_path};
use crate::image::oci_digest;
use crate::{OciError, canonical_json, read_image};

/// An image to save, as read from the store.
struct ImageToSave<'a> {
    manifest: Descriptor,
    config: Digest,
    layers: Vec<Digest>,
    names: &'a [String],
}

pub(super) fn save_archive(
    store: &Store,
    images: &[SavedImage],
    format: ArchiveFormat,
    out: &mut dyn Write,
) -> Result<(), OciError> {
    // Every blob once, by digest (the tar's order), with the size its descriptors give.
    let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
    let mut to_save = Vec::with_capacity(images.len());
    for image in images {
        let (parsed, _) = read_image(store, &image.manifest)?;
        let bad = |reason: String| OciError::BadImage {
            digest: image.manifest,
            reason,
        };
        let manifest_size = std::fs::metadata(store.blob_path(&image.manifest))
            .map_err(|_| StoreError::MissingBlob(image.manifest))?
            .len();
        let media_type = parsed
            .media_type()
            .clone()
            .unwrap_or(MediaType::ImageManifest);
        blobs.insert(image.manifest, manifest_size);
        let config = descriptor_digest(parsed.config()).map_err(bad)?;
        blobs.insert(config, parsed.config().size());
        let mut layers = Vec::with_capacity(parsed.layers().len());
        for layer in parsed.layers() {
            let digest = descriptor_digest(layer).map_err(bad)?;
            blobs.insert(digest, layer.size());
            layers.push(digest);
        }
        to_save.push(ImageToSave {
            manifest: Descriptor::new(media_type, manifest_size, oci_digest(&image.manifest)),
            config,
            layers,
            names: &image.names,
        });
    }

    let mut tar = tar::Builder::new(BufWriter::with_capacity(256 * 1024, out));
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()
        .expect("invariant: every oci-layout field is set");
    append_bytes(&mut tar, "oci-layout", &canonical_json(&layout))?;
    append_bytes(&mut tar, "index.json", &index_json(&to_save))?;
    if format == ArchiveFormat::Docker {
        append_bytes(&mut tar, "manifest.json", &manifest_json(&to_save))?;
        append_bytes(&mut tar, "repositories", &repositories_json(&to_save))?;
    }
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    for (digest, size) in &blobs {
        append_blob(&mut tar, store, digest, *size)?;
    }
    let mut buffered = tar.into_inner().map_err(write_error)?;
    buffered.flush().map_err(write_error)
}

/// One descriptor per (image, name), annotated with the name; one without a name for an
/// image that has none.
fn index_json(images: &[ImageToSave<'_>]) -> Vec<u8> {
    let mut manifests = Vec::new();
    for image in images {
        if image.names.is_empty() {
            manifests.push(image.manifest.clone());
        }
        for name in image.names {
            let mut descriptor = image.manifest.clone();
            descriptor.set_annotations(Some(HashMap::from([
                (ANNOTATION_REF_NAME.to_owned(), name.clone()),
                (CONTAINERD_NAME.to_owned(), name.clone()),
            ])));
            manifests.push(descriptor);
        }
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("invariant: every index field is set");
    canonical_json(&index)
}

/// Docker's `manifest.json`: one entry per image.
fn manifest_json(images: &[ImageToSave<'_>]) -> Vec<u8> {
    let entries: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            json!({
                "Config": layout_blob_path(&image.config),
                "RepoTags": image.names,
                "Layers": image.layers.iter().map(layout_blob_path).collect::<Vec<_>>(),
            })
        })
        .collect();
    canonical_json(&entries)
}

/// Docker's `repositories`: repository → tag → the top layer's blob digest (hex), for each
/// name with a tag, of images with layers.
fn repositories_json(images: &[ImageToSave<'_>]) -> Vec<u8> {
    let mut repositories: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
    for image in images {
        let Some(top) = image.layers.last() else {
            continue;
        };
        for name in image.names {
            if let Some((repository, tag)) = split_tag(name) {
                repositories
                    .entry(repository)
                    .or_default()
                    .insert(tag, top.hex());
            }
        }
    }
    canonical_json(&repositories)
}

/// `repo:tag` split at the last `:` after the last `/`; `None` without a tag or with a digest.
fn split_tag(name: &str) -> Option<(&str, &str)> {
    if name.contains('@') {
        return None;
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let colon = last_slash + name[last_slash..].rfind(':')?;
    Some((&name[..colon], &name[colon + 1..]))
}

fn write_error(source: io::Error) -> OciError {
    OciError::WriteArchive { source }
}

/// A header with bld's fixed metadata: mtime 0, owner 0:0, no owner names.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<(), OciError> {
    let mut header = header(tar::EntryType::Directory, 0o755, 0);
    tar.append_data(&mut header, path, io::empty())
        .map_err(write_error)
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> Result<(), OciError> {
    let mut header = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
    tar.append_data(&mut header, path, bytes)
        .map_err(write_error)
}

/// Streams the blob `digest` from the store into the tar, checking its size and content.
fn append_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    store: &Store,
    digest: &Digest,
    size: u64,
) -> Result<(), OciError> {
    let file = store.open_blob(digest)?;
    let path = store.blob_path(digest);
    let on_disk = file
        .metadata()
        .map_err(|source| StoreError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?
        .len();
    if on_disk != size {
        return Err(OciError::BadImage {
            digest: *digest,
            reason: format!("the blob is {on_disk} bytes but its descriptor says {size}"),
        });
    }
    let mut reader = bld_core::Sha256Reader::new(file.take(size));
    let mut header = header(tar::EntryType::Regular, 0o644, size);
    tar.append_data(&mut header, layout_blob_path(digest), &mut reader)
        .map_err(write_error)?;
    let (_, actual, read) = reader.finish();
    if actual != *digest || read != size {
        return Err(StoreError::CorruptBlob {
            expected: *digest,
            actual,
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_tag_colon() {
        assert_eq!(split_tag("app:1"), Some(("app", "1")));
        assert_eq!(
            split_tag("localhost:5000/team/app:v2"),
            Some(("localhost:5000/team/app", "v2"))
        );
        assert_eq!(split_tag("localhost:5000/app"), None);
        assert_eq!(split_tag("app"), None);
        assert_eq!(split_tag(&format!("app@sha256:{}", "a".repeat(64))), None);
    }
}
