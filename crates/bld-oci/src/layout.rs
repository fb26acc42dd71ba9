//! OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/sha256/…`).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bld_core::Digest;
use bld_store::{FileDigests, Store};
use oci_spec::image::{Descriptor, ImageIndexBuilder, MediaType};

use crate::image::oci_digest;
use crate::{OciError, canonical_json, read_image};

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// The annotation that names an image in a layout (`skopeo inspect oci:DIR:NAME`).
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Writes the image `manifest` (with everything it references) as an OCI layout at `dir`, its
/// `index.json` naming it `ref_name`. Returns `false` when `dir` already held exactly that.
///
/// The layout is built beside `dir` and renamed into place, so `dir` is never half-written.
/// Blobs are hard-linked from the store where possible, each checked against its digest first
/// (through `file_digests`: one `stat` for a blob known intact), so a damaged blob is
/// reported, never written out.
pub fn write_layout(
    store: &Store,
    file_digests: &FileDigests,
    manifest: &Digest,
    dir: &Path,
    ref_name: &str,
) -> Result<bool, OciError> {
    let index_bytes = layout_index(store, manifest, ref_name)?;
    let blobs = image_blobs(store, manifest)?;
    for digest in &blobs {
        if !file_digests.blob_is_intact(&store.blob_path(digest), digest) {
            return Err(OciError::Store(bld_store::StoreError::CorruptBlob {
                expected: *digest,
                actual: bld_store::digest_file(&store.blob_path(digest))
                    .map(|(d, _)| d)
                    .unwrap_or(*digest),
            }));
        }
    }
    if is_up_to_date(store, dir, &index_bytes, &blobs) {
        return Ok(false);
    }

    let parent = dir.parent().unwrap_or(Path::new("."));
    // Whatever fails below is at the destination: the error names it, not the staging path.
    let at_destination = |error: OciError| match error {
        OciError::Write { source, .. } => OciError::Destination {
            path: dir.to_owned(),
            source,
        },
        other => other,
    };
    let made = match fs::metadata(parent) {
        Ok(meta) if !meta.is_dir() => Err(io::ErrorKind::NotADirectory.into()),
        _ => fs::create_dir_all(parent),
    };
    made.map_err(write_error(parent)).map_err(at_destination)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{name}.new-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = write_staging(store, file_digests, &staging, &index_bytes, &blobs)
        .and_then(|()| replace_dir(&staging, dir));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result.map(|()| true).map_err(at_destination)
}

/// The layout's `index.json`: the one manifest, named `ref_name`.
fn layout_index(store: &Store, manifest: &Digest, ref_name: &str) -> Result<Vec<u8>, OciError> {
    let manifest_size = fs::metadata(store.blob_path(manifest))
        .map_err(|_| bld_store::StoreError::MissingBlob(*manifest))?
        .len();
    let mut descriptor = Descriptor::new(
        MediaType::ImageManifest,
        manifest_size,
        oci_digest(manifest),
    );
    descriptor.set_annotations(Some(HashMap::from([(
        REF_NAME.to_owned(),
        ref_name.to_owned(),
    )])));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![descriptor])
        .build()
        .expect("invariant: every index field is set");
    Ok(canonical_json(&index))
}

/// The manifest, its config and its layers, sorted, each once.
fn image_blobs(store: &Store, manifest: &Digest) -> Result<Vec<Digest>, OciError> {
    let (parsed, _) = read_image(store, manifest)?;
    let mut blobs: Vec<Digest> = vec![*manifest];
    for descriptor in std::iter::once(parsed.config()).chain(parsed.layers()) {
        let digest: Digest =
            descriptor
                .digest()
                .to_string()
                .parse()
                .map_err(|e| OciError::BadImage {
                    digest: *manifest,
                    reason: format!("{e}"),
                })?;
        blobs.push(digest);
    }
    blobs.sort();
    blobs.dedup();
    Ok(blobs)
}

/// Whether `dir` already holds this layout. A layout is written whole and renamed into place
/// with its index.json, so a matching index.json whose blobs are the store's (the same inodes,
/// just checked) is complete.
fn is_up_to_date(store: &Store, dir: &Path, index_bytes: &[u8], blobs: &[Digest]) -> bool {
    let same_file = |a: &Path, b: &Path| match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => {
            use std::os::unix::fs::MetadataExt;
            (a.dev(), a.ino()) == (b.dev(), b.ino())
        }
        _ => false,
    };
    fs::read(dir.join("index.json")).is_ok_and(|old| old == index_bytes)
        && blobs.iter().all(|digest| {
            same_file(
                &dir.join("blobs/sha256").join(digest.hex()),
                &store.blob_path(digest),
            )
        })
}

/// Writes the layout in `staging`: its blobs hard-linked from the store where possible (each
/// once, though an image may use one twice, as two identical layers), `oci-layout` and
/// `index.json`.
fn write_staging(
    store: &Store,
    file_digests: &FileDigests,
    staging: &Path,
    index_bytes: &[u8],
    blobs: &[Digest],
) -> Result<(), OciError> {
    let blob_dir = staging.join("blobs/sha256");
    fs::create_dir_all(&blob_dir).map_err(write_error(&blob_dir))?;
    for digest in blobs {
        let target = blob_dir.join(digest.hex());
        let source = store.blob_path(digest);
        let before =
            fs::metadata(&source).map_err(|_| bld_store::StoreError::MissingBlob(*digest))?;
        match fs::hard_link(&source, &target) {
            Ok(()) => file_digests.relinked(&source, digest, &before),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => {
                fs::copy(&source, &target).map_err(write_error(&target))?;
            }
        }
    }
    fs::write(staging.join("oci-layout"), OCI_LAYOUT).map_err(write_error(staging))?;
    fs::write(staging.join("index.json"), index_bytes).map_err(write_error(staging))
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> OciError {
    let path: PathBuf = path.to_owned();
    move |source| OciError::Write { path, source }
}

/// Moves `staging` to `dir`, replacing whatever `dir` was.
fn replace_dir(staging: &Path, dir: &Path) -> Result<(), OciError> {
    if fs::symlink_metadata(dir).is_ok() {
        let old = dir.with_file_name(format!(
            ".{}.old-{}",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&old);
        fs::rename(dir, &old).map_err(write_error(dir))?;
        fs::rename(staging, dir).map_err(write_error(dir))?;
        let _ = fs::remove_dir_all(&old).or_else(|_| fs::remove_file(&old));
        Ok(())
    } else {
        fs::rename(staging, dir).map_err(write_error(dir))
    }
}
