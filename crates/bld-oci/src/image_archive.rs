//! `docker save` / `docker load` archives: images of the store written to one tar stream, and
//! tar streams from bld, Docker, podman, skopeo or buildah read back into the store.
//!
//! A saved archive is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`); the
//! Docker format adds `manifest.json` and `repositories` as Docker 25+ does, so the same file
//! is a docker-archive and an oci-archive. Loading accepts those and the older docker-archive
//! (`manifest.json` naming config and layer files anywhere in the tar).
//!
//! Loading treats the archive as hostile: it is extracted into a private directory without
//! creating a single symlink (links are resolved by name, never by the filesystem), every
//! blob is checked against its digest and every layer against its diff ID, and only then is
//! anything added to the store.

mod extract;
mod load;
mod load_docker;
mod load_layout;
mod save;

use std::io;
use std::path::Path;

use bld_core::Digest;
use bld_store::{Store, StoreError};
use oci_spec::image::Descriptor;

use crate::OciError;
/// Layers `load_archive` compresses get `pack_layer`'s gzip level.
use crate::layer::GZIP_LEVEL;

/// Which archive [`save_archive`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `docker save` as Docker 25+ writes it: an OCI image layout (oci-layout, index.json,
    /// blobs/sha256/...) plus `manifest.json` and `repositories`, so docker load, podman load
    /// and skopeo's docker-archive: transport accept it, and so do OCI tools.
    Docker,
    /// An OCI image-layout archive only (what `buildah push ... oci-archive:` writes).
    Oci,
}

/// One image to save: the manifest digest of an image in the store and the names to record
/// for it (familiar references such as `app:1`, `localhost:5000/team/app:v2`; may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedImage {
    /// The image's manifest, in the store.
    pub manifest: Digest,
    /// Names recorded for it, as given (`RepoTags`, `index.json` annotations).
    pub names: Vec<String>,
}

/// An image [`load_archive`] added to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// Its manifest digest: the archive's own manifest when it has one (an OCI layout), else
    /// the OCI manifest bld wrote for it.
    pub manifest: Digest,
    /// Its config digest (the first 12 hex digits are Docker's IMAGE ID).
    pub config: Digest,
    /// The names the archive records for it, raw (`app:1`, `docker.io/library/app:1`, or a
    /// bare tag as some OCI layouts have), each known to parse as a tagged reference: the
    /// caller normalizes them.
    pub names: Vec<String>,
}

/// Writes `images` (with everything they reference) to `out` as one tar archive.
///
/// The archive depends only on the images and names: entries come in a fixed order with
/// fixed metadata, and each blob is written once, streamed from the store and checked
/// against its digest on the way.
pub fn save_archive(
    store: &Store,
    images: &[SavedImage],
    format: ArchiveFormat,
    out: &mut dyn io::Write,
) -> Result<(), OciError> {
    save::save_archive(store, images, format, out)
}

/// Reads an image archive (tar or gzip-compressed tar) from `input` and adds its images to the
/// store, returning them in the archive's order.
///
/// The whole archive is checked first (paths, links, digests, sizes, diff IDs); a refused
/// archive leaves the store as it was. See [`OciError::BadArchive`].
pub fn load_archive(store: &Store, input: &mut dyn io::Read) -> Result<Vec<LoadedImage>, OciError> {
    load::load_archive(store, input)
}

/// Adds the images of an OCI image layout directory that bld wrote itself (blobs fetched from
/// a registry) to the store, every blob, layer and diff ID checked as [`load_archive`] checks
/// an archive's; a refused layout leaves the store as it was. The layers in `known` the
/// caller checked against their digests as it wrote them: they are not read again, and their
/// diff IDs are the ones given (a layer's is checked whenever it is unpacked).
pub fn load_layout_dir(
    store: &Store,
    dir: &Path,
    known: &[crate::LayerBlob],
) -> Result<Vec<LoadedImage>, OciError> {
    load::load_layout_dir(store, dir, known)
}

/// containerd's (and Docker's) annotation naming an image in an index.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Where a blob lives in an OCI layout.
fn layout_blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Compressions recognized by their magic bytes, and refused.
const UNSUPPORTED_COMPRESSIONS: [(&[u8], &str); 3] = [
    (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0], "xz"),
    (b"BZh", "bzip2"),
];

/// The name of the unsupported compression `head` (a file's first bytes) starts with.
fn unsupported_compression(head: &[u8]) -> Option<&'static str> {
    UNSUPPORTED_COMPRESSIONS
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, name)| *name)
}

/// A failure to read a file of the load's work directory (in the store's `tmp/`).
fn work_read_error(path: &Path) -> impl FnOnce(io::Error) -> OciError {
    let path = path.to_owned();
    move |source| {
        OciError::Store(StoreError::Io {
            action: "read",
            path,
            source,
        })
    }
}

fn bad_archive(reason: impl Into<String>) -> OciError {
    OciError::BadArchive {
        reason: reason.into(),
    }
}

/// A descriptor's digest as bld's (sha256 only).
fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest, String> {
    let text = descriptor.digest().to_string();
    text.parse()
        .map_err(|_| format!("digest `{text}` is not `sha256:` and 64 lowercase hex digits"))
}
